"""The back office is an admin's: a viewer gets the 403 page, nobody the sign-in page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.web.accounts_helpers import sign_in

PAGES = [
    "/admin",
    "/admin/devices",
    "/admin/devices/delete?name=x",
    "/admin/users",
    "/admin/users/root",
    "/admin/users/root/sessions",
    "/admin/audit",
]


@pytest.mark.parametrize("path", PAGES)
def test_a_viewer_gets_the_not_allowed_page(client: TestClient, path: str) -> None:
    sign_in(client, "watcher", role="viewer")
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 403
    assert "Not allowed" in answer.text and "only admins" in answer.text


def test_a_viewers_form_is_refused_too(client: TestClient) -> None:
    csrf = sign_in(client, "watcher", role="viewer")
    answer = client.post("/admin/devices", data={"name": "shed", "csrf_token": csrf})
    assert answer.status_code == 403
    assert client.get("/api/v1/devices").json()["devices"] == []


@pytest.mark.parametrize("path", PAGES)
def test_nobody_is_sent_to_sign_in_even_on_a_public_dashboard(
    client: TestClient, path: str
) -> None:
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_an_admin_starts_with_the_devices(client: TestClient) -> None:
    sign_in(client, "root")
    answer = client.get("/admin", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/devices"
