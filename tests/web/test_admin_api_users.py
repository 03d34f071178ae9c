"""The management API's users and sessions: the documented shapes, the last admin kept,
nothing half-changed, and a viewer's or a missing token refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.accounts import Accounts
from tests.web.accounts_helpers import PASSWORD, add_user, bearer, personal_token


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return bearer(personal_token(client.app, "root"))  # type: ignore[arg-type]


def accounts(client: TestClient) -> Accounts:
    found: Accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    return found


def test_users_are_added_listed_and_read(client: TestClient, admin: dict[str, str]) -> None:
    body = {"name": "alice", "password": PASSWORD, "role": "viewer", "display_name": "Alice"}
    added = client.post("/api/v1/users", json=body, headers=admin)
    assert added.status_code == 201
    assert added.json()["name"] == "alice" and added.json()["display_name"] == "Alice"
    assert "password" not in added.json()
    assert [u["name"] for u in client.get("/api/v1/users", headers=admin).json()] == [
        "alice",
        "root",
    ]
    assert client.get("/api/v1/users/alice", headers=admin).json()["role"] == "viewer"
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 409
    weak = client.post(
        "/api/v1/users", json={**body, "name": "bob", "password": "x"}, headers=admin
    )
    assert weak.status_code == 422 and weak.json()["detail"][0]["loc"] == ["body", "password"]
    bad = client.post("/api/v1/users", json={**body, "name": "Bob!"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "name"]
    extra = client.post("/api/v1/users", json={**body, "admin": True}, headers=admin)
    assert extra.status_code == 422
    assert client.get("/api/v1/users/nobody", headers=admin).status_code == 404
    assert client.get("/api/v1/users/Nobody!", headers=admin).status_code == 404


def test_a_patch_changes_everything_asked_or_nothing(
    client: TestClient, admin: dict[str, str]
) -> None:
    add_user(client.app, "alice")  # type: ignore[arg-type]
    weak = client.patch(
        "/api/v1/users/alice", json={"role": "admin", "password": "short"}, headers=admin
    )
    assert weak.status_code == 422
    assert accounts(client).users.get("alice").role == "viewer"  # nothing half-stored
    changed = client.patch(
        "/api/v1/users/alice",
        json={"role": "admin", "display_name": "Al", "password": "a new long password"},
        headers=admin,
    )
    assert changed.status_code == 200
    assert (changed.json()["role"], changed.json()["display_name"]) == ("admin", "Al")
    assert accounts(client).users.authenticate("alice", "a new long password") is not None
    assert client.patch("/api/v1/users/alice", json={"disabled": True}, headers=admin).json()[
        "disabled"
    ]
    assert client.patch("/api/v1/users/ghost", json={}, headers=admin).status_code == 404


def test_the_last_admin_stays_an_admin(client: TestClient, admin: dict[str, str]) -> None:
    demoted = client.patch("/api/v1/users/root", json={"role": "viewer"}, headers=admin)
    assert demoted.status_code == 409 and "only active admin" in demoted.json()["detail"]
    disabled = client.patch("/api/v1/users/root", json={"disabled": True}, headers=admin)
    assert disabled.status_code == 409
    assert client.delete("/api/v1/users/root", headers=admin).status_code == 409
    add_user(client.app, "alice")  # type: ignore[arg-type]
    removed = client.delete("/api/v1/users/alice", headers=admin)
    assert removed.status_code == 200 and removed.json()["name"] == "alice"
    assert client.delete("/api/v1/users/alice", headers=admin).status_code == 404


def test_sessions_are_listed_and_ended(client: TestClient, admin: dict[str, str]) -> None:
    alice = add_user(client.app, "alice")  # type: ignore[arg-type]
    for agent in ("first", "second"):
        accounts(client).sessions.create(alice, persistent=True, client="c", user_agent=agent)
    listed = client.get("/api/v1/users/alice/sessions", headers=admin)
    assert listed.status_code == 200 and len(listed.json()) == 2
    first = listed.json()[0]["id"]
    ended = client.delete(f"/api/v1/sessions/{first}", headers=admin)
    assert ended.status_code == 200 and ended.json()["id"] == first
    assert client.delete(f"/api/v1/sessions/{first}", headers=admin).status_code == 404
    everywhere = client.delete("/api/v1/users/alice/sessions", headers=admin)
    assert everywhere.status_code == 200 and everywhere.json() == {"ended": 1}
    assert client.get("/api/v1/users/alice/sessions", headers=admin).json() == []
    assert client.delete("/api/v1/users/ghost/sessions", headers=admin).status_code == 404
    actions = [e.action for e in accounts(client).audit.page(limit=10)]
    assert actions[:2] == ["signed out everywhere", "session ended"]


def test_a_viewer_or_nobody_is_refused(client: TestClient) -> None:
    viewer = bearer(personal_token(client.app, "watcher", role="viewer"))  # type: ignore[arg-type]
    for method, path in (
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/users/watcher"),
        ("DELETE", "/api/v1/users/watcher/sessions"),
        ("DELETE", "/api/v1/sessions/1"),
    ):
        refused = client.request(method, path, headers=viewer)
        assert refused.status_code == 403 and refused.json()["detail"], path
        anonymous = client.request(method, path)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="telemetry"'
