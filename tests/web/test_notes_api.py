"""The chart notes API: who may write what, each refusal naming its field, and mentions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.factories import FakeClock, add_device
from tests.signing_in import Account, make_account

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
KEEP_DAYS = 30  # TELEMETRY_ROLLUP_RETENTION_DAYS of these tests
NOTES = "/api/v1/devices/greenhouse/notes"


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    app = make_app(clock=FakeClock(NOW), public_dashboard=False, rollup_retention_days=KEEP_DAYS)
    with TestClient(app) as test_client:
        add_device(app, "greenhouse")
        add_device(app, "cellar")
        yield test_client


@pytest.fixture
def maria(client: TestClient) -> Account:
    return make_account(client.app, "maria", display_name="Maria")


@pytest.fixture
def jonas(client: TestClient) -> Account:
    return make_account(client.app, "jonas")


def at(minutes: float) -> str:
    """NOW plus `minutes`, as ISO 8601 with a zone."""
    return (NOW + timedelta(minutes=minutes)).isoformat()


def add(client: TestClient, who: Account, path: str = NOTES, **body: Any) -> Any:
    body.setdefault("text", "heater off for repair")
    body.setdefault("at", at(-30))
    return client.post(path, json=body, headers=who.bearer)


def only_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert set(error) == {"loc", "msg", "type"}
    return dict(error)


def test_a_note_is_added_and_listed_in_the_shape_of_the_live_event(
    client: TestClient, maria: Account
) -> None:
    added = add(client, maria, text="  vent @jonas  ", at=at(-30), until=at(-10))
    assert added.status_code == 201, added.text
    note = added.json()
    assert note == {
        "id": note["id"],
        "device": "greenhouse",
        "at": "2026-11-21T09:30:00Z",
        "until": "2026-11-21T09:50:00Z",
        "text": "vent @jonas",
        "author": "Maria",
        "author_name": "maria",
        "mentions": [],  # no user jonas yet: left as text
        "created_at": "2026-11-21T10:00:00Z",
        "updated_at": "2026-11-21T10:00:00Z",
    }
    listed = client.get(NOTES, headers=maria.bearer)
    assert listed.status_code == 200
    assert listed.json() == {"notes": [note]}


def test_the_list_covers_the_last_day_by_default_and_the_range_asked_for(
    client: TestClient, maria: Account
) -> None:
    old = add(client, maria, at=at(-25 * 60)).json()
    new = add(client, maria, at=at(-60)).json()
    add(client, maria, path="/api/v1/devices/cellar/notes", at=at(-60))
    ids = [n["id"] for n in client.get(NOTES, headers=maria.bearer).json()["notes"]]
    assert ids == [new["id"]]
    wide = {"from": at(-26 * 60), "to": at(0)}
    ids = [n["id"] for n in client.get(NOTES, params=wide, headers=maria.bearer).json()["notes"]]
    assert ids == [old["id"], new["id"]]


def test_listing_follows_the_history_rules(client: TestClient, maria: Account) -> None:
    backwards = {"from": at(0), "to": at(-60)}
    error = only_error(client.get(NOTES, params=backwards, headers=maria.bearer))
    assert error["loc"] == ["query", "to"]
    unknown = client.get("/api/v1/devices/attic/notes", headers=maria.bearer)
    assert unknown.status_code == 404
    assert "attic" in unknown.json()["detail"]
    assert client.get(NOTES).status_code == 401


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"text": ""}, "text", "needs some text"),
        ({"text": " \n\t "}, "text", "needs some text"),
        ({"text": "x" * 1001}, "text", "at most 1000"),
        ({"text": "bell \x07"}, "text", "control characters"),
        ({"at": at(5.5)}, "at", "later than"),
        ({"at": at(-KEEP_DAYS * 24 * 60 - 1)}, "at", "earlier than"),
        ({"at": at(-30), "until": at(-30)}, "until", "end after it starts"),
        ({"at": at(-30), "until": at(-40)}, "until", "end after it starts"),
        ({"at": "yesterday noon"}, "at", "datetime"),
        ({"at": "2026-11-21T09:00:00"}, "at", "timezone"),
        ({"until": "2026-13-01T00:00:00Z"}, "until", "datetime"),
    ],
)
def test_a_bad_note_is_refused_naming_its_field(
    client: TestClient, maria: Account, body: dict[str, Any], field: str, words: str
) -> None:
    error = only_error(add(client, maria, **body))
    assert error["loc"] == ["body", field]
    assert words in error["msg"].lower()
    assert client.get(NOTES, headers=maria.bearer).json() == {"notes": []}


def test_a_note_at_the_limits_is_taken(client: TestClient, maria: Account) -> None:
    assert add(client, maria, text="x" * 1000, at=at(5)).status_code == 201
    assert add(client, maria, at=at(-KEEP_DAYS * 24 * 60 + 1)).status_code == 201


def test_extra_fields_are_refused(client: TestClient, maria: Account) -> None:
    error = only_error(add(client, maria, author="someone else"))
    assert error["loc"] == ["body", "author"]


def test_a_note_on_an_unknown_device_is_a_422_naming_the_device(
    client: TestClient, maria: Account
) -> None:
    error = only_error(add(client, maria, path="/api/v1/devices/attic/notes"))
    assert error["loc"] == ["path", "name"]
    assert "'attic'" in error["msg"]


def test_a_session_writes_with_its_csrf_token_only(client: TestClient, maria: Account) -> None:
    body = {"text": "from the page", "at": at(-1)}
    client.cookies.update(maria.cookies)
    try:
        refused = client.post(NOTES, json=body)
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["detail"]
        taken = client.post(NOTES, json=body, headers={"X-CSRF-Token": maria.csrf})
        assert taken.status_code == 201
    finally:
        client.cookies.clear()


def test_a_guest_of_a_public_dashboard_reads_notes_but_cannot_write(
    make_app: AppFactory,
) -> None:
    app = make_app(clock=FakeClock(NOW), public_dashboard=True)
    with TestClient(app) as client:
        add_device(app, "greenhouse")
        assert client.get(NOTES).status_code == 200
        refused = client.post(NOTES, json={"text": "hi", "at": at(-1)})
        assert refused.status_code == 401
        assert "sign in" in refused.json()["detail"]


def test_only_the_author_or_an_admin_changes_or_deletes_a_note(
    client: TestClient, maria: Account, jonas: Account
) -> None:
    boss = make_account(client.app, "boss", role="admin")
    note = add(client, maria).json()
    path = f"{NOTES}/{note['id']}"
    for refused in (
        client.patch(path, json={"text": "mine now"}, headers=jonas.bearer),
        client.delete(path, headers=jonas.bearer),
    ):
        assert refused.status_code == 403
        assert "author or an admin" in refused.json()["detail"]
    mine = client.patch(path, json={"text": "vent checked"}, headers=maria.bearer)
    assert mine.status_code == 200 and mine.json()["text"] == "vent checked"
    ranged = client.patch(path, json={"until": at(-5)}, headers=boss.bearer)
    assert ranged.status_code == 200
    assert ranged.json()["until"] == "2026-11-21T09:55:00Z"
    assert ranged.json()["author"] == "Maria"  # the admin edited; the author stays
    moment = client.patch(path, json={"until": None}, headers=boss.bearer)
    assert moment.json()["until"] is None
    bad = only_error(client.patch(path, json={"until": at(-40)}, headers=maria.bearer))
    assert bad["loc"] == ["body", "until"]
    assert client.delete(path, headers=boss.bearer).status_code == 204
    assert client.get(NOTES, headers=maria.bearer).json() == {"notes": []}


def test_an_unknown_note_or_one_of_another_device_is_a_404(
    client: TestClient, maria: Account
) -> None:
    note = add(client, maria, path="/api/v1/devices/cellar/notes").json()
    for path in (f"{NOTES}/{note['id']}", f"{NOTES}/999999"):
        assert client.patch(path, json={"text": "x"}, headers=maria.bearer).status_code == 404
        assert client.delete(path, headers=maria.bearer).status_code == 404
    assert client.get("/api/v1/devices/cellar/notes", headers=maria.bearer).json()["notes"]


def test_mentioning_two_viewers_notifies_each_once(client: TestClient, jonas: Account) -> None:
    ana = make_account(client.app, "ana")
    eva = make_account(client.app, "eva")
    text = "@ana and @eva, please check the vent (@ana again, @nobody)"
    note = add(client, jonas, text=text).json()
    assert note["mentions"] == ["ana", "eva"]
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    for account in (ana, eva):
        user = accounts.users.get(account.name)
        inbox = accounts.notifications.inbox(user.id)
        assert inbox.total == 1 and inbox.unread == 1
        (item,) = inbox.items
        assert item.notification.title == "jonas mentioned you on greenhouse"
        assert item.notification.link.endswith(f"#note-{note['id']}")
    again = client.patch(
        f"{NOTES}/{note['id']}", json={"text": text + " thanks @eva"}, headers=jonas.bearer
    )
    assert again.status_code == 200
    for account in (ana, eva):  # an edit notifies only the newly mentioned
        user = accounts.users.get(account.name)
        assert accounts.notifications.inbox(user.id).total == 1


def test_markup_and_line_breaks_are_stored_as_text(client: TestClient, maria: Account) -> None:
    text = "<script>alert(1)</script>\n\ndata: x\revent: grid"
    note = add(client, maria, text=text).json()
    assert note["text"] == "<script>alert(1)</script>\n\ndata: x\nevent: grid"
    listed = client.get(NOTES, headers=maria.bearer).json()["notes"]
    assert listed[0]["text"] == note["text"]
