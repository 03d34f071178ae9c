"""The API documentation's page, /docs: Swagger UI served by this server, not by a CDN.

FastAPI's own /docs loads Swagger UI from jsdelivr, so without internet access it is a
blank page; here it comes from static/vendor (`python3 dev.py assets`), and the page asks
nothing of any other host: the validator badge (an image from validator.swagger.io) is
off, and the favicon is the dashboard's. Its one inline script (Swagger UI's start-up)
is allowed by its hash in this page's Content-Security-Policy, nothing else inline.

Both the page and /openapi.json need a signed-in user (or, for the document, a personal
token), like the API they describe, unless the dashboard is public.

ReDoc (/redoc) is not offered: it shows the same document as Swagger UI, read-only,
and serving it would mean another megabyte of vendored script; its FastAPI page also
loads fonts from Google. /openapi.json is there for any other viewer.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from app.web.auth import ApiReader, PageReader
from app.web.security_headers import policy_with_scripts

router = APIRouter(include_in_schema=False)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

OPENAPI_PATH = "/openapi.json"
BACK = "← Telemetry dashboard"
SWAGGER_UI_PARAMETERS = {
    # null turns the badge off; by default the page fetches it from validator.swagger.io.
    "validatorUrl": None,
}


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request, _: PageReader) -> HTMLResponse:
    """Swagger UI on this server's OpenAPI document, with every asset from /static."""
    # Behind a proxy that serves the app under a prefix (`--root-path /dash`), the
    # browser must ask for /dash/static/...: paths are built from the request's root.
    root = str(request.scope.get("root_path", "")).rstrip("/")
    page = get_swagger_ui_html(
        openapi_url=root + OPENAPI_PATH,
        title="Telemetry API",
        swagger_js_url=f"{root}/static/vendor/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/vendor/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/favicon.svg",
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    # A way back to the dashboard above Swagger UI's own page, styled by a stylesheet
    # (no inline style: the pages are headed for a Content-Security-Policy).
    html = bytes(page.body).decode()
    html = html.replace(
        "</head>", f'<link rel="stylesheet" href="{root}/static/css/docs.css">\n</head>', 1
    ).replace("<body>", f'<body>\n<nav class="docs-nav"><a href="{root}/">{BACK}</a></nav>', 1)
    hashes = [
        "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        for script in _INLINE_SCRIPT.findall(html)
    ]
    return HTMLResponse(html, headers={"Content-Security-Policy": policy_with_scripts(*hashes)})


@router.get(OPENAPI_PATH)
async def openapi_document(request: Request, _: ApiReader) -> JSONResponse:
    """The OpenAPI document of this server's API."""
    document: dict[str, Any] = request.app.openapi()
    root = str(request.scope.get("root_path", "")).rstrip("/")
    if root:  # as FastAPI's own route does: the paths are relative to the prefix
        document = {**document, "servers": [{"url": root}]}
    return JSONResponse(document)
