"""/docs is Swagger UI from this server's own static files, under any root path."""

from __future__ import annotations

import re

import httpx2 as httpx
from fastapi.testclient import TestClient

from tests.factories import make_settings
from tests.servers import run_live_server

# Every address the page's HTML names: its links, its scripts and the document's URL.
REFERENCE = re.compile(r"""(?:href|src)="([^"]*)"|url: '([^']*)'""")


def referenced(html: str) -> list[str]:
    return [href or url for href, url in REFERENCE.findall(html)]


def test_the_docs_page_names_only_this_servers_static_files_and_document(
    client: TestClient,
) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    urls = referenced(response.text)
    assert sorted(urls) == [
        "/",  # the way back to the dashboard
        "/openapi.json",
        "/static/css/docs.css",
        "/static/favicon.svg",
        "/static/vendor/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui.css",
    ]
    assert "http" not in response.text  # no absolute address anywhere, scripts included
    for url in urls:
        assert client.get(url).status_code == 200, url
    # Off, Swagger UI would fetch a badge from validator.swagger.io for every document.
    assert '"validatorUrl": null' in response.text


def test_under_a_root_path_the_docs_page_names_its_files_under_it(sqlite_url: str) -> None:
    # A proxy serves the app at /dash and strips the prefix (`telemetry serve` behind it,
    # uvicorn's --root-path /dash): the browser must ask for /dash/..., which the proxy
    # hands to the server as /....
    with run_live_server(make_settings(sqlite_url), root_path="/dash") as server:
        response = httpx.get(server.url + "/docs")
        assert response.status_code == 200
        urls = referenced(response.text)
        assert len(urls) == 6
        for url in urls:
            assert url.startswith("/dash/"), url
            forwarded = httpx.get(server.url + url.removeprefix("/dash"))
            assert forwarded.status_code == 200, url
        document = httpx.get(server.url + "/openapi.json").json()
        assert document["servers"] == [{"url": "/dash"}]  # "Try it out" asks under /dash


def test_redoc_is_not_offered(client: TestClient) -> None:
    # FastAPI's ReDoc page loads its script from a CDN and fonts from Google.
    assert client.get("/redoc").status_code == 404
