"""The devices page: every action through its form, with the session's CSRF token; the
token shown once with the agent's command line; names escaped; the live views follow."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from app.telemetry import History
from tests.conftest import AppFactory
from tests.factories import add_device, bearer
from tests.web.accounts_helpers import sign_in, without_csrf

# Device names hold no '/': no closing tag, but as much markup as they can.
MARKUP = ["<script>alert(1)<", "<img src=x onerror=alert(1)>", '"onmouseover=alert(1) x="']


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app(token_cache_seconds=60)) as test_client:
        yield test_client


@pytest.fixture
def csrf(client: TestClient) -> str:
    token = sign_in(client, "root")
    without_csrf(client)  # forms carry the token themselves
    return token


def code_of(html: str, element_id: str) -> str:
    found = re.search(rf'<code[^>]* id="{element_id}">([^<]*)</code>', html)
    assert found, f"no #{element_id}"
    return found.group(1)


def hub_names(client: TestClient) -> list[str]:
    return sorted(v.name for v in client.app.state.services.hub.views.values())  # type: ignore[attr-defined]


def test_the_page_lists_the_devices(client: TestClient, csrf: str) -> None:
    add_device(client.app, "greenhouse")  # type: ignore[arg-type]
    page = client.get("/admin/devices")
    assert page.status_code == 200
    assert "greenhouse" in page.text and 'href="/static/css/admin.css"' in page.text
    assert f'name="csrf_token" value="{csrf}"' in page.text


def test_adding_shows_the_token_once_with_the_agent_command_for_this_server(
    client: TestClient, csrf: str
) -> None:
    answer = client.post("/admin/devices", data={"name": "greenhouse", "csrf_token": csrf})
    assert answer.status_code == 201
    assert answer.headers["cache-control"] == "no-store"
    token = code_of(answer.text, "device-token")
    assert code_of(answer.text, "agent-command") == (
        "telemetry-agent run --server http://testserver --token-file /etc/telemetry-agent/token"
    )
    assert 'data-copy="device-token"' in answer.text and "/static/js/admin.js" in answer.text
    assert hub_names(client) == ["greenhouse"]
    reading = client.post(
        "/api/v1/measurements", json={"values": {"temperature": 20.0}}, headers=bearer(token)
    )
    assert reading.status_code == 201
    assert token not in client.get("/admin/devices").text


def test_the_agent_command_names_the_root_path_the_server_is_served_under(
    make_app: AppFactory,
) -> None:
    with TestClient(make_app(), root_path="/telemetry") as client:
        csrf = sign_in(client, "root")
        answer = client.post("/admin/devices", data={"name": "shed", "csrf_token": csrf})
    assert "--server http://testserver/telemetry " in code_of(answer.text, "agent-command")


def test_a_refused_name_shows_the_form_again_with_why(client: TestClient, csrf: str) -> None:
    add_device(client.app, "Shed")  # type: ignore[arg-type]
    taken = client.post("/admin/devices", data={"name": "shed", "csrf_token": csrf})
    assert taken.status_code == 409
    assert "already exists" in taken.text and 'value="shed"' in taken.text
    bad = client.post("/admin/devices", data={"name": "a/b", "csrf_token": csrf})
    assert bad.status_code == 422 and "cannot contain &#39;/&#39;" in bad.text


def test_rename_revoke_and_rotate_through_their_forms(client: TestClient, csrf: str) -> None:
    token = add_device(client.app, "shed")  # type: ignore[arg-type]
    renamed = client.post(
        "/admin/devices/rename", data={"name": "shed", "new_name": "barn", "csrf_token": csrf}
    )
    assert renamed.status_code == 200 and "Renamed" in renamed.text
    assert hub_names(client) == ["barn"]
    missing = client.post(
        "/admin/devices/rename", data={"name": "shed", "new_name": "x", "csrf_token": csrf}
    )
    assert missing.status_code == 404 and "no device is named" in missing.text
    revoked = client.post("/admin/devices/revoke", data={"name": "barn", "csrf_token": csrf})
    assert revoked.status_code == 200 and "revoked" in revoked.text
    reading = {"values": {"temperature": 20.0}}
    assert (
        client.post("/api/v1/measurements", json=reading, headers=bearer(token)).status_code == 401
    )
    rotated = client.post("/admin/devices/rotate", data={"name": "barn", "csrf_token": csrf})
    assert rotated.status_code == 200
    new = code_of(rotated.text, "device-token")
    assert client.post("/api/v1/measurements", json=reading, headers=bearer(new)).status_code == 201


def test_deleting_asks_first_then_deletes_the_device_and_its_readings(
    client: TestClient, csrf: str
) -> None:
    token = add_device(client.app, "shed")  # type: ignore[arg-type]
    add_device(client.app, "barn")  # type: ignore[arg-type]
    for value in (20.0, 21.0):
        client.post(
            "/api/v1/measurements",
            json={"values": {"temperature": value, "humidity": 40.0}},
            headers=bearer(token),
        )
    confirm = client.get("/admin/devices/delete", params={"name": "shed"})
    assert confirm.status_code == 200
    assert "<strong>2 readings</strong>" in confirm.text and "Delete shed?" in confirm.text
    client.get("/")  # the overview shows every device
    assert hub_names(client) == ["barn", "shed"]  # asking deleted nothing
    done = client.post("/admin/devices/delete", data={"name": "shed", "csrf_token": csrf})
    assert done.status_code == 200 and "Deleted &#39;shed&#39; and its 2 readings" in done.text
    assert hub_names(client) == ["barn"]
    history: History = client.app.state.services.history  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no device"):
        history.quantities("shed")
    assert client.get("/admin/devices/delete", params={"name": "shed"}).status_code == 404


def test_every_form_needs_the_csrf_token(client: TestClient, csrf: str) -> None:
    add_device(client.app, "shed")  # type: ignore[arg-type]
    for path, data in (
        ("/admin/devices", {"name": "barn"}),
        ("/admin/devices/rename", {"name": "shed", "new_name": "barn"}),
        ("/admin/devices/revoke", {"name": "shed"}),
        ("/admin/devices/rotate", {"name": "shed"}),
        ("/admin/devices/delete", {"name": "shed"}),
    ):
        missing = client.post(path, data=data)
        assert missing.status_code == 403 and "CSRF token is missing" in missing.text, path
        wrong = client.post(path, data={**data, "csrf_token": "0" * 64})
        assert wrong.status_code == 403 and "CSRF token is wrong" in wrong.text, path
    assert [d["name"] for d in client.get("/api/v1/devices").json()["devices"]] == ["shed"]
    assert not client.get("/api/v1/devices/shed").json()["revoked"]


def test_a_form_from_another_site_is_refused(client: TestClient, csrf: str) -> None:
    answer = client.post(
        "/admin/devices",
        data={"name": "shed", "csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403 and "another origin" in answer.text


@pytest.mark.parametrize("name", MARKUP)
def test_markup_in_a_device_name_is_shown_as_text(client: TestClient, csrf: str, name: str) -> None:
    added = client.post("/admin/devices", data={"name": name, "csrf_token": csrf})
    assert added.status_code == 201
    pages = [
        added.text,
        client.get("/admin/devices").text,
        client.get("/admin/devices/delete", params={"name": name}).text,
        client.get("/admin/audit").text,
    ]
    for html in pages:
        assert name not in html
        assert str(escape(name)) in html
