"""The API documentation's page, /docs: Swagger UI served by this server, not by a CDN.

FastAPI's own /docs loads Swagger UI from jsdelivr, so without internet access it is a
blank page; here it comes from static/vendor (`python3 dev.py assets`), and the page asks
nothing of any other host: the validator badge (an image from validator.swagger.io) is
off, and the favicon is the dashboard's.

ReDoc (/redoc) is not offered: it shows the same document as Swagger UI, read-only,
and serving it would mean another megabyte of vendored script; its FastAPI page also
loads fonts from Google. /openapi.json is there for any other viewer.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

OPENAPI_PATH = "/openapi.json"
BACK = "← Telemetry dashboard"
SWAGGER_UI_PARAMETERS = {
    # null turns the badge off; by default the page fetches it from validator.swagger.io.
    "validatorUrl": None,
}


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
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
    return HTMLResponse(html)
