"""Who may reach what: every route of the app, tried without signing in.

The public routes are the documented list (PUBLIC_ROUTES in app/web/auth.py, and the
README's "Accounts and access"); every other route must refuse a stranger: a page by
sending the browser to /login, anything else with 401. A new route that answers
without authentication fails here until it is protected or listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from fastapi.routing import iter_route_contexts

from app.web.auth import PUBLIC_ROUTES
from tests.factories import add_device, make_settings
from tests.servers import LiveServer, run_live_server
from tests.signing_in import make_account


@pytest.fixture
def private_server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server with the dashboard closed to strangers (the default)."""
    settings = make_settings(sqlite_url, public_dashboard=False, metrics_public=False)
    with run_live_server(settings) as server:
        add_device(server.app, "greenhouse")
        yield server


def _routes(server: LiveServer) -> list[tuple[str, str]]:
    """Every (method, path) the app routes, path parameters filled in."""
    routes: list[tuple[str, str]] = []
    for route in iter_route_contexts(server.app.routes):  # included routers too
        if route.path is None or route.methods is None:
            continue  # the /static mount
        path = re.sub(r"\{(\w+)(:\w+)?\}", _example, route.path)
        routes.extend((method, path) for method in sorted(route.methods))
    return routes


def _example(parameter: re.Match[str]) -> str:
    return "1" if parameter[1].endswith("id") else "greenhouse"


def _answered_without_authentication(server: LiveServer) -> list[str]:
    answered = []
    for method, path in _routes(server):
        if (method, path.split("?")[0]) in PUBLIC_ROUTES or path.startswith("/api/v1/measurements"):
            continue
        url = server.url + path + ("?topic=overview" if path == "/events" else "")
        response = httpx.request(method, url, timeout=5, follow_redirects=False)
        to_login = response.status_code == 303 and "/login" in response.headers["location"]
        if not (response.status_code == 401 or to_login):
            answered.append(f"{method} {path}: {response.status_code}")
    return answered


def test_every_route_but_the_public_ones_refuses_a_stranger(private_server: LiveServer) -> None:
    answered = _answered_without_authentication(private_server)
    assert not answered, "answered without authentication:\n" + "\n".join(answered)


def test_the_enumeration_catches_a_route_left_open(private_server: LiveServer) -> None:
    def leak() -> dict[str, str]:
        return {"secret": "yes"}

    private_server.app.add_api_route("/api/v1/leak", leak)
    assert _answered_without_authentication(private_server) == ["GET /api/v1/leak: 200"]


def test_the_enumeration_sees_the_routes_that_matter(private_server: LiveServer) -> None:
    routes = set(_routes(private_server))
    for expected in [
        ("GET", "/"),
        ("GET", "/events"),
        ("GET", "/api/v1/devices"),
        ("GET", "/metrics"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
    ]:
        assert expected in routes


def test_public_routes_answer_a_stranger(private_server: LiveServer) -> None:
    for path in ("/login", "/healthz", "/readyz", "/static/css/app.css"):
        assert httpx.get(private_server.url + path).status_code == 200, path


def test_ingest_takes_device_tokens_and_ignores_session_cookies(
    private_server: LiveServer,
) -> None:
    viewer = make_account(private_server.app, "maria")
    url = private_server.url + "/api/v1/measurements"
    refused = httpx.post(url, json={"values": {"t": 1.0}}, cookies=viewer.cookies)
    assert refused.status_code == 401
    refused = httpx.post(url, json={"values": {"t": 1.0}}, headers=viewer.bearer)
    assert refused.status_code == 401


def test_pages_redirect_to_login_and_come_back(private_server: LiveServer) -> None:
    response = httpx.get(private_server.url + "/devices/greenhouse?range=7d")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/devices/greenhouse%3Frange%3D7d"


def test_htmx_requests_get_hx_redirect_to_login(private_server: LiveServer) -> None:
    response = httpx.get(
        private_server.url + "/devices/greenhouse",
        headers={
            "HX-Request": "true",
            "HX-Current-URL": private_server.url + "/devices/greenhouse",
        },
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/devices/greenhouse"


def test_api_refusals_are_401_json_with_a_challenge(private_server: LiveServer) -> None:
    response = httpx.get(private_server.url + "/api/v1/devices")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="telemetry"'
    assert "personal token" in response.json()["detail"]
    bad = httpx.get(
        private_server.url + "/api/v1/devices", headers={"Authorization": "Bearer tlp_" + "x" * 43}
    )
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]


def test_a_personal_token_reads_the_api_but_never_opens_a_page(private_server: LiveServer) -> None:
    viewer = make_account(private_server.app, "maria")
    assert (
        httpx.get(private_server.url + "/api/v1/devices", headers=viewer.bearer).status_code == 200
    )
    page = httpx.get(private_server.url + "/", headers=viewer.bearer)
    assert page.status_code == 303


def test_a_revoked_token_is_refused_at_once(private_server: LiveServer) -> None:
    viewer = make_account(private_server.app, "maria")
    accounts = private_server.app.state.services.accounts
    from app.accounts import CLI

    accounts.tokens.revoke("maria", viewer.token[:12], actor=CLI)
    response = httpx.get(private_server.url + "/api/v1/devices", headers=viewer.bearer)
    assert response.status_code == 401


def test_a_session_reads_pages_api_and_csv(private_server: LiveServer) -> None:
    viewer = make_account(private_server.app, "maria")
    for path in ("/", "/devices/greenhouse", "/api/v1/devices", "/docs", "/openapi.json"):
        response = httpx.get(private_server.url + path, cookies=viewer.cookies)
        assert response.status_code == 200, path


def test_metrics_need_an_admin(private_server: LiveServer) -> None:
    viewer = make_account(private_server.app, "maria")
    admin = make_account(private_server.app, "boss", role="admin")
    url = private_server.url + "/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=viewer.bearer).status_code == 403
    assert httpx.get(url, headers=admin.bearer).status_code == 200


def test_a_public_dashboard_opens_reading_but_not_managing(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, public_dashboard=True, metrics_public=False)
    with run_live_server(settings) as server:
        add_device(server.app, "greenhouse")
        for path in ("/", "/devices/greenhouse", "/api/v1/devices"):
            assert httpx.get(server.url + path).status_code == 200, path
        assert httpx.get(server.url + "/metrics").status_code == 401
        assert httpx.get(server.url + "/admin/users").status_code == 303
