"""The management API's devices: admin tokens only, every refusal in the documented shape,
tokens that work (and stop working) at once, the live views and the audit log following."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.accounts import CLI
from tests.conftest import AppFactory
from tests.web.accounts_helpers import bearer, personal_token, sign_in, without_csrf


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    # Tokens cached for a minute, as in production: changes must not wait for the cache.
    with TestClient(make_app(token_cache_seconds=60)) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return bearer(personal_token(client.app, "root"))  # type: ignore[arg-type]


def post_reading(client: TestClient, token: str) -> int:
    answer = client.post(
        "/api/v1/measurements", json={"values": {"temperature": 21.5}}, headers=bearer(token)
    )
    return answer.status_code


def audit_actions(client: TestClient) -> list[tuple[str, str | None, str, str]]:
    entries = client.app.state.services.accounts.audit.page(limit=100)  # type: ignore[attr-defined]
    return [
        (e.action, e.actor, e.subject, e.detail) for e in entries if e.action.startswith("device")
    ]


def test_a_device_added_through_the_api_posts_with_its_token_at_once(
    client: TestClient, admin: dict[str, str]
) -> None:
    answer = client.post("/api/v1/devices", json={"name": " greenhouse "}, headers=admin)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["name"] == "greenhouse" and body["token"].startswith("tlm_")
    assert post_reading(client, body["token"]) == 201
    hub = client.app.state.services.hub  # type: ignore[attr-defined]
    assert "greenhouse" in [view.name for view in hub.views.values()]
    assert audit_actions(client) == [("device added", "root", "greenhouse", "")]


def test_a_rotated_away_token_is_refused_at_once_despite_the_cache(
    client: TestClient, admin: dict[str, str]
) -> None:
    old = client.post("/api/v1/devices", json={"name": "shed"}, headers=admin).json()["token"]
    assert post_reading(client, old) == 201  # now in the token cache
    answer = client.post("/api/v1/devices/shed/rotate", headers=admin)
    assert answer.status_code == 200
    new = answer.json()["token"]
    assert answer.json()["name"] == "shed" and new != old
    assert post_reading(client, old) == 401
    assert post_reading(client, new) == 201
    assert ("device changed", "root", "shed", "new token") in audit_actions(client)


def test_a_revoked_device_is_refused_at_once(client: TestClient, admin: dict[str, str]) -> None:
    token = client.post("/api/v1/devices", json={"name": "shed"}, headers=admin).json()["token"]
    assert post_reading(client, token) == 201
    answer = client.post("/api/v1/devices/shed/revoke", headers=admin)
    assert answer.status_code == 200 and answer.json()["revoked"] is True
    assert post_reading(client, token) == 401


def test_names_taken_bad_and_unknown_are_refused_in_their_shapes(
    client: TestClient, admin: dict[str, str]
) -> None:
    client.post("/api/v1/devices", json={"name": "Shed"}, headers=admin)
    taken = client.post("/api/v1/devices", json={"name": "SHED"}, headers=admin)
    assert taken.status_code == 409 and "'Shed' already exists" in taken.json()["detail"]
    bad = client.post("/api/v1/devices", json={"name": "a/b"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "name"]
    extra = client.post("/api/v1/devices", json={"name": "x", "colour": "red"}, headers=admin)
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "colour"]
    for method, path in (
        ("POST", "/api/v1/devices/ghost/rotate"),
        ("POST", "/api/v1/devices/ghost/revoke"),
        ("DELETE", "/api/v1/devices/ghost"),
    ):
        answer = client.request(method, path, headers=admin)
        assert answer.status_code == 404 and "'ghost'" in answer.json()["detail"], path
    gone = client.patch("/api/v1/devices/ghost", json={"name": "x"}, headers=admin)
    assert gone.status_code == 404


def test_a_rename_shows_at_once_in_the_live_views(
    client: TestClient, admin: dict[str, str]
) -> None:
    token = client.post("/api/v1/devices", json={"name": "shed"}, headers=admin).json()["token"]
    answer = client.patch("/api/v1/devices/shed", json={"name": "barn"}, headers=admin)
    assert answer.status_code == 200 and answer.json()["name"] == "barn"
    hub = client.app.state.services.hub  # type: ignore[attr-defined]
    assert [view.name for view in hub.views.values()] == ["barn"]
    assert hub.device_id("shed") is None
    assert post_reading(client, token) == 201  # its token still works
    assert client.get("/api/v1/devices/barn").json()["latest"]["temperature"]["value"] == 21.5
    assert ("device changed", "root", "barn", "renamed from 'shed'") in audit_actions(client)
    taken = client.post("/api/v1/devices", json={"name": "other"}, headers=admin)
    assert taken.status_code == 201
    clash = client.patch("/api/v1/devices/other", json={"name": "BARN"}, headers=admin)
    assert clash.status_code == 409


def test_deleting_a_device_deletes_its_readings_and_its_tile(
    client: TestClient, admin: dict[str, str]
) -> None:
    token = client.post("/api/v1/devices", json={"name": "shed"}, headers=admin).json()["token"]
    assert post_reading(client, token) == 201
    answer = client.delete("/api/v1/devices/shed", headers=admin)
    assert answer.status_code == 200
    assert answer.json() == {"name": "shed", "readings_deleted": 1, "values_deleted": 1}
    services = client.app.state.services  # type: ignore[attr-defined]
    assert services.hub.views == {}
    assert client.get("/api/v1/devices/shed").status_code == 404
    assert post_reading(client, token) == 401
    assert ("device removed", "root", "shed", "1 readings (1 values) deleted") in audit_actions(
        client
    )
    # Added again (SQLite may reuse the id), it is shown again and stores readings.
    token = client.post("/api/v1/devices", json={"name": "shed"}, headers=admin).json()["token"]
    assert [view.name for view in services.hub.views.values()] == ["shed"]
    assert post_reading(client, token) == 201


def test_without_an_admin_the_api_refuses(client: TestClient) -> None:
    viewer = bearer(personal_token(client.app, "watcher", role="viewer"))  # type: ignore[arg-type]
    refused = client.post("/api/v1/devices", json={"name": "shed"}, headers=viewer)
    assert refused.status_code == 403 and "only admins" in refused.json()["detail"]
    anonymous = client.post("/api/v1/devices", json={"name": "shed"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    unknown = client.post("/api/v1/devices", json={"name": "shed"}, headers=bearer("tlp_nope"))
    assert unknown.status_code == 401
    admin_token = personal_token(client.app, "root")  # type: ignore[arg-type]
    prefix = admin_token[:12]
    client.app.state.services.accounts.tokens.revoke("root", prefix, actor=CLI)  # type: ignore[attr-defined]
    revoked = client.post("/api/v1/devices", json={"name": "shed"}, headers=bearer(admin_token))
    assert (
        revoked.status_code == 401
        and 'error="invalid_token"' in revoked.headers["www-authenticate"]
    )
    assert client.get("/api/v1/devices").json()["devices"] == []


def test_an_admins_session_needs_its_csrf_token(client: TestClient) -> None:
    sign_in(client, "root")
    assert client.post("/api/v1/devices", json={"name": "shed"}).status_code == 201
    without_csrf(client)
    refused = client.post("/api/v1/devices", json={"name": "barn"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    client.headers["X-CSRF-Token"] = "0" * 64
    assert client.delete("/api/v1/devices/shed").status_code == 403
    assert client.get("/api/v1/devices/shed").status_code == 200
