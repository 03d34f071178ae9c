"""Headers every HTML answer carries: what the page may load, and who may frame it.

The Content-Security-Policy allows scripts from this server only: no inline script, no
eval (htmx is configured by its meta tag with allowEval and allowScriptTags off, and
its indicator styles off, in templates/base.html). A route with an inline script of its
own (Swagger UI's start-up, app/web/docs_page.py) sets its own policy naming the
script's hash; this middleware leaves such a policy alone.

A pure ASGI middleware, installed inside the ingest routes' (app/main.py): ingest answers
are JSON and pay nothing for it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def policy_with_scripts(*hashes: str) -> str:
    """The policy, also allowing the inline scripts with these 'sha256-...' hashes."""
    extra = " ".join(f"'{h}'" for h in hashes)
    return CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' {extra}")


HTML_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate CSP 2
)


class SecurityHeaders:
    """Adds the policy and its companions to every text/html answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    if b"content-security-policy" not in names:
                        headers.append(
                            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
                        )
                    headers.extend(h for h in HTML_HEADERS if h[0] not in names)
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
