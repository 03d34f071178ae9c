"""The notifications API through a real server: admins send, each user reads their own
inbox; on SQLite and on PostgreSQL (when configured)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from app.accounts import TITLE_MAX
from tests.factories import make_settings
from tests.servers import LiveServer, run_live_server
from tests.signing_in import Account, make_account

URL = "/api/v1/notifications"


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers, on each database in turn."""
    with run_live_server(make_settings(database_url, public_dashboard=False)) as server:
        yield server


@pytest.fixture
def boss(server: LiveServer) -> Account:
    """An admin."""
    return make_account(server.app, "boss", role="admin", display_name="The Boss")


def send(server: LiveServer, admin: Account, **body: Any) -> httpx.Response:
    """POST a notification with the admin's personal token."""
    return httpx.post(server.url + URL, json=body, headers=admin.bearer)


def test_an_admin_sends_to_named_users_and_gets_the_notification_back(
    server: LiveServer, boss: Account
) -> None:
    make_account(server.app, "maria")
    make_account(server.app, "jonas")
    answer = send(
        server,
        boss,
        title="Heating off",
        message="From 22:00",
        level="warning",
        link="/devices/shed",
        users=["maria", " Jonas ", "maria"],
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["title"] == "Heating off" and body["message"] == "From 22:00"
    assert (body["level"], body["link"], body["sender"]) == ("warning", "/devices/shed", "The Boss")
    assert body["audience"] == ["maria", "jonas"] and body["recipients"] == 2
    assert isinstance(body["id"], int) and body["created_at"]


def test_no_users_means_everyone_not_disabled(server: LiveServer, boss: Account) -> None:
    make_account(server.app, "maria")
    make_account(server.app, "jonas")
    answer = send(server, boss, title="All", message="hello")
    assert answer.status_code == 201, answer.text
    assert (answer.json()["audience"], answer.json()["recipients"]) == ("everyone", 3)
    assert answer.json()["level"] == "info" and answer.json()["link"] is None


def test_unknown_users_are_one_422_naming_all_of_them(server: LiveServer, boss: Account) -> None:
    make_account(server.app, "maria")
    answer = send(server, boss, title="t", message="m", users=["maria", "ghost", "nobody"])
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "users"]
    assert "'ghost'" in error["msg"] and "'nobody'" in error["msg"] and "maria" not in error["msg"]
    assert inbox(server, make_account(server.app, "ann"))["total"] == 0  # nothing was stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "message": "m"}, "title"),
        ({"title": "x" * (TITLE_MAX + 1), "message": "m"}, "title"),
        ({"title": "two\nlines", "message": "m"}, "title"),
        ({"title": "t", "message": "   "}, "message"),
        ({"title": "t", "message": "bell\x07"}, "message"),
        ({"title": "t", "message": "m", "level": "loud"}, "level"),
        ({"title": "t", "message": "m", "link": "//evil.example"}, "link"),
        ({"title": "t", "message": "m", "link": "https://evil.example"}, "link"),
        ({"title": "t", "message": "m", "users": []}, "users"),
    ],
)
def test_a_field_breaking_its_rule_is_a_422_naming_it(
    server: LiveServer, boss: Account, body: dict[str, Any], field: str
) -> None:
    answer = send(server, boss, **body)
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["detail"]] == [["body", field]]


def test_an_unknown_field_is_refused(server: LiveServer, boss: Account) -> None:
    answer = send(server, boss, title="t", message="m", sender="someone else")
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "sender"]


def test_only_admins_send(server: LiveServer, boss: Account) -> None:
    viewer = make_account(server.app, "maria")
    body = {"title": "t", "message": "m"}
    assert httpx.post(server.url + URL, json=body).status_code == 401
    assert send(server, viewer, **body).status_code == 403
    with_session = httpx.post(
        server.url + URL, json=body, cookies=boss.cookies, headers={"Origin": server.url}
    )
    assert with_session.status_code == 403  # no CSRF token
    with_csrf = httpx.post(
        server.url + URL, json=body, cookies=boss.cookies, headers=boss.form_headers(server.url)
    )
    assert with_csrf.status_code == 201, with_csrf.text


def inbox(server: LiveServer, account: Account, page: int = 1) -> dict[str, Any]:
    """The account's inbox page through the API, with its personal token."""
    answer = httpx.get(server.url + URL, params={"page": page}, headers=account.bearer)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_user_reads_their_own_inbox_newest_first_in_pages_of_twenty(
    server: LiveServer, boss: Account
) -> None:
    maria = make_account(server.app, "maria")
    jonas = make_account(server.app, "jonas")
    for number in range(23):
        assert send(server, boss, title=f"n{number}", message="m", users=["maria"]).is_success
    send(server, boss, title="for jonas", message="m", users=["jonas"])
    first = inbox(server, maria)
    assert [n["title"] for n in first["notifications"]] == [f"n{k}" for k in range(22, 2, -1)]
    assert (first["unread"], first["total"], first["page"], first["pages"]) == (23, 23, 1, 2)
    assert first["notifications"][0]["sender"] == "The Boss"
    assert not first["notifications"][0]["read"] and not first["notifications"][0]["everyone"]
    second = inbox(server, maria, page=2)
    assert [n["title"] for n in second["notifications"]] == ["n2", "n1", "n0"]
    assert inbox(server, maria, page=9)["notifications"] == []
    assert [n["title"] for n in inbox(server, jonas)["notifications"]] == ["for jonas"]


def test_marking_read_one_and_then_all(server: LiveServer, boss: Account) -> None:
    maria = make_account(server.app, "maria")
    ids = [send(server, boss, title=f"n{k}", message="m").json()["id"] for k in range(3)]
    read = httpx.post(f"{server.url}{URL}/{ids[0]}/read", headers=maria.bearer)
    assert (read.status_code, read.json()) == (200, {"unread": 2})
    again = httpx.post(f"{server.url}{URL}/{ids[0]}/read", headers=maria.bearer)
    assert again.json() == {"unread": 2}
    flags = {n["id"]: n["read"] for n in inbox(server, maria)["notifications"]}
    assert flags == {ids[0]: True, ids[1]: False, ids[2]: False}
    everything = httpx.post(f"{server.url}{URL}/read-all", headers=maria.bearer)
    assert (everything.status_code, everything.json()) == (200, {"unread": 0})
    assert inbox(server, boss)["unread"] == 3  # the admin's own copies are still unread


def test_another_users_notification_is_a_404_and_stays_unread(
    server: LiveServer, boss: Account
) -> None:
    maria = make_account(server.app, "maria")
    jonas = make_account(server.app, "jonas")
    sent = send(server, boss, title="t", message="m", users=["jonas"]).json()
    answer = httpx.post(f"{server.url}{URL}/{sent['id']}/read", headers=maria.bearer)
    assert answer.status_code == 404
    assert httpx.post(f"{server.url}{URL}/999999/read", headers=maria.bearer).status_code == 404
    assert inbox(server, jonas)["unread"] == 1


def test_a_session_marks_read_only_with_its_csrf_token(server: LiveServer, boss: Account) -> None:
    maria = make_account(server.app, "maria")
    sent = send(server, boss, title="t", message="m").json()
    address = f"{server.url}{URL}/{sent['id']}/read"
    refused = httpx.post(address, cookies=maria.cookies, headers={"Origin": server.url})
    assert refused.status_code == 403
    done = httpx.post(address, cookies=maria.cookies, headers=maria.form_headers(server.url))
    assert (done.status_code, done.json()) == (200, {"unread": 0})
    listed = httpx.get(server.url + URL, cookies=maria.cookies)  # a read needs no token
    assert listed.status_code == 200 and listed.json()["unread"] == 0


def test_a_guest_of_a_public_dashboard_has_no_inbox(sqlite_url: str) -> None:
    with run_live_server(make_settings(sqlite_url, public_dashboard=True)) as server:
        assert httpx.get(server.url + "/api/v1/devices").status_code == 200  # public reads
        for method, path in [("GET", URL), ("POST", URL + "/read-all"), ("POST", URL + "/1/read")]:
            answer = httpx.request(method, server.url + path)
            assert answer.status_code == 401, (method, path)
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
