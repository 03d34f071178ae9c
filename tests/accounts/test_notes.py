"""Chart notes: times within limits, author-or-admin edits, mentions notified once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from app.accounts import (
    CLI,
    NOTE_MAX,
    NOTES_PER_QUERY,
    Accounts,
    NoteChanged,
    NoteError,
    NoteNotFound,
    NotePermission,
    NotificationSent,
    UserInfo,
)
from app.bus import InProcessBus
from app.db import StorageUnavailable, create_session_factory
from app.telemetry import Devices
from tests.accounts.conftest import PASSWORD
from tests.factories import FakeClock, register

EARLIEST = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def devices(engine: Engine) -> list[str]:
    """Two devices registered through the telemetry context."""
    return [ref.name for ref in register(engine, "Greenhouse", "shed")]


def user(accounts: Accounts, name: str, role: str = "viewer") -> UserInfo:
    """A user made through the context, displayed as its name capitalised."""
    return accounts.users.add(
        name,
        PASSWORD,
        role="admin" if role == "admin" else "viewer",
        display_name=name.title(),
        actor=CLI,
    )


def add(
    accounts: Accounts,
    author: UserInfo,
    note: str,
    at: datetime,
    until: datetime | None = None,
    device: str = "Greenhouse",
) -> tuple[int, NotificationSent | None]:
    """Add a note through the context; its id and the notification of its mentions."""
    info, sent = accounts.notes.add(
        device, author_id=author.id, text=note, starts_at=at, ends_at=until, earliest=EARLIEST
    )
    return info.id, sent


def test_a_note_is_added_listed_by_range_changed_and_deleted(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    maria = user(accounts, "maria")
    now = clock()
    point, _ = add(accounts, maria, "  door left open\r\nall night  ", now - 5 * HOUR)
    span, _ = add(accounts, maria, "heater off", now - 10 * HOUR, now - 8 * HOUR)
    add(accounts, maria, "elsewhere", now - 5 * HOUR, device="shed")
    stored = accounts.notes.get(point)
    assert stored.text == "door left open\nall night"
    assert (stored.device_name, stored.author, stored.author_name) == (
        "Greenhouse",
        "Maria",
        "maria",
    )
    assert (stored.starts_at, stored.ends_at, stored.created_at) == (now - 5 * HOUR, None, now)
    listed = accounts.notes.list(" Greenhouse ", now - 24 * HOUR, now)
    assert [n.id for n in listed] == [span, point]  # oldest first, this device only
    # A range overlapping the window is listed though it starts before it; a point
    # outside it is not.
    assert [n.id for n in accounts.notes.list("Greenhouse", now - 9 * HOUR, now - 7 * HOUR)] == [
        span
    ]
    assert accounts.notes.list("Greenhouse", now - 4 * HOUR, now) == []
    clock.advance(60)
    changed, _ = accounts.notes.update(
        point,
        editor_id=maria.id,
        editor_is_admin=False,
        text="door shut",
        starts_at=now - 6 * HOUR,
        ends_at=now - 5 * HOUR,
        earliest=EARLIEST,
    )
    assert (changed.text, changed.starts_at, changed.ends_at) == (
        "door shut",
        now - 6 * HOUR,
        now - 5 * HOUR,
    )
    assert (changed.created_at, changed.updated_at) == (now, clock())
    cleared, _ = accounts.notes.update(
        point, editor_id=maria.id, editor_is_admin=False, ends_at=None, earliest=EARLIEST
    )
    assert (cleared.ends_at, cleared.text) == (None, "door shut")
    gone = accounts.notes.delete(point, editor_id=maria.id, editor_is_admin=False)
    assert gone.id == point
    with pytest.raises(NoteNotFound):
        accounts.notes.get(point)
    with pytest.raises(NoteNotFound):
        accounts.notes.delete(point, editor_id=maria.id, editor_is_admin=False)


def test_only_the_author_or_an_admin_may_change_or_delete_a_note(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    maria, jonas, boss = (
        user(accounts, "maria"),
        user(accounts, "jonas"),
        user(accounts, "boss", "admin"),
    )
    note, _ = add(accounts, maria, "mine", clock())
    with pytest.raises(NotePermission):
        accounts.notes.update(
            note, editor_id=jonas.id, editor_is_admin=False, text="ours", earliest=EARLIEST
        )
    with pytest.raises(NotePermission):
        accounts.notes.delete(note, editor_id=jonas.id, editor_is_admin=False)
    assert accounts.notes.get(note).text == "mine"
    edited, _ = accounts.notes.update(
        note, editor_id=boss.id, editor_is_admin=True, text="tidied", earliest=EARLIEST
    )
    assert (edited.text, edited.author) == ("tidied", "Maria")
    accounts.notes.delete(note, editor_id=boss.id, editor_is_admin=True)
    with pytest.raises(NoteNotFound):
        accounts.notes.get(note)


@pytest.mark.parametrize(
    ("note", "field"),
    [
        ("", "text"),
        (" \n ", "text"),
        ("x" * (NOTE_MAX + 1), "text"),
        ("a\x00b", "text"),
        ("tab\there", "text"),
        ("esc\x1b", "text"),
    ],
)
def test_a_note_breaking_the_text_rule_is_refused(
    accounts: Accounts, clock: FakeClock, devices: list[str], note: str, field: str
) -> None:
    maria = user(accounts, "maria")
    with pytest.raises(NoteError) as refused:
        add(accounts, maria, note, clock())
    assert refused.value.field == field
    assert accounts.notes.list("Greenhouse", EARLIEST, clock() + HOUR) == []


def test_a_note_of_the_longest_text_is_kept_whole(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    maria = user(accounts, "maria")
    note, _ = add(accounts, maria, "x" * NOTE_MAX, clock())
    assert accounts.notes.get(note).text == "x" * NOTE_MAX


def test_note_times_are_bounded_by_now_and_the_earliest_kept(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    maria = user(accounts, "maria")
    now = clock()
    limit = now + timedelta(minutes=5)
    add(accounts, maria, "at the limit", limit, None)
    add(accounts, maria, "from the earliest", EARLIEST, limit)
    cases = [
        (limit + timedelta(microseconds=1), None, "at"),
        (EARLIEST - timedelta(microseconds=1), None, "at"),
        (now.replace(tzinfo=None), None, "at"),
        (now, now, "until"),
        (now, now - HOUR, "until"),
        (now, limit + timedelta(seconds=1), "until"),
        (now - HOUR, (now - timedelta(minutes=30)).replace(tzinfo=None), "until"),
    ]
    for at, until, field in cases:
        with pytest.raises(NoteError) as refused:
            add(accounts, maria, "refused", at, until)
        assert refused.value.field == field, (at, until)
    assert len(accounts.notes.list("Greenhouse", EARLIEST, limit)) == 2
    note, _ = add(accounts, maria, "ranged", now - 2 * HOUR, now - HOUR)
    with pytest.raises(NoteError) as refused:  # moved past its own end
        accounts.notes.update(
            note, editor_id=maria.id, editor_is_admin=False, starts_at=now, earliest=EARLIEST
        )
    assert refused.value.field == "until"


def test_an_unknown_device_is_refused_by_name(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    maria = user(accounts, "maria")
    for name, hint in [("cellar", None), ("GREENHOUSE", "did you mean 'Greenhouse'"), ("a/b", "/")]:
        with pytest.raises(NoteError) as refused:
            add(accounts, maria, "where?", clock(), device=name)
        assert refused.value.field == "name"
        if hint:
            assert hint in str(refused.value)
        with pytest.raises(NoteError) as listing:
            accounts.notes.list(name, EARLIEST, clock())
        assert listing.value.field == "name"


def test_ten_users_mentioned_twice_are_each_notified_once_with_a_link_to_the_note(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    maria = user(accounts, "maria")
    team = [user(accounts, f"u{n}") for n in range(10)]
    names = " ".join(f"@{u.name}" for u in team)
    note, sent = add(accounts, maria, f"look {names}, again {names.upper()}", clock() - HOUR)
    assert sent is not None
    assert sent.unread == tuple((u.id, 1) for u in team)
    assert accounts.notes.get(note).mentions == tuple(u.name for u in team)
    notification = sent.notification
    assert notification.title == "Maria mentioned you on Greenhouse"
    assert notification.sender == "Maria"
    assert notification.level == "info"
    assert notification.message == accounts.notes.get(note).text
    at = clock() - HOUR
    assert notification.link == (
        f"/devices/Greenhouse?from={(at - HOUR).isoformat().replace('+00:00', 'Z')}"
        f"&to={(at + HOUR).isoformat().replace('+00:00', 'Z')}#note-{note}"
    )
    assert accounts.notifications.inbox(team[0].id).items[0].notification == notification
    assert accounts.notifications.unread_count(maria.id) == 0


@pytest.mark.parametrize(
    ("note", "notified"),
    [
        ("thanks @maria.", True),
        ("see (@maria)", True),
        ("@maria- said so", True),
        ("@maria, @maria", True),
        ("write to email@maria", False),
        ("@@maria", False),
        ("@ghost and @nobody-here stay text", False),
        ("no mention at all", False),
    ],
)
def test_what_counts_as_a_mention(
    accounts: Accounts, clock: FakeClock, devices: list[str], note: str, notified: bool
) -> None:
    jonas, maria = user(accounts, "jonas"), user(accounts, "maria")
    note_id, sent = add(accounts, jonas, note, clock())
    assert (sent is not None) == notified
    assert accounts.notes.get(note_id).text == note
    assert accounts.notes.get(note_id).mentions == (("maria",) if notified else ())
    assert accounts.notifications.unread_count(maria.id) == int(notified)


def test_the_author_mentioning_themself_or_a_disabled_user_notifies_nobody(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    maria, jonas = user(accounts, "maria"), user(accounts, "jonas")
    accounts.users.update("jonas", actor=CLI, disabled=True)
    _, sent = add(accounts, maria, "note to @maria and @jonas", clock())
    assert sent is None
    assert accounts.notifications.unread_counts([maria.id, jonas.id]) == {maria.id: 0, jonas.id: 0}


def test_an_edit_notifies_only_the_users_newly_mentioned(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    maria, jonas, ines = user(accounts, "maria"), user(accounts, "jonas"), user(accounts, "ines")
    note, _ = add(accounts, maria, "@jonas look", clock())
    edited, sent = accounts.notes.update(
        note, editor_id=maria.id, editor_is_admin=False, text="@jonas @ines look", earliest=EARLIEST
    )
    assert sent is not None
    assert sent.unread == ((ines.id, 1),)
    assert edited.mentions == ("ines", "jonas")
    assert accounts.notifications.unread_count(jonas.id) == 1
    dropped, sent = accounts.notes.update(
        note, editor_id=maria.id, editor_is_admin=False, text="@ines only", earliest=EARLIEST
    )
    assert (sent, dropped.mentions) == (None, ("ines",))
    _, sent = accounts.notes.update(
        note, editor_id=maria.id, editor_is_admin=False, text="@ines @jonas back", earliest=EARLIEST
    )
    assert sent is not None  # mentioned again after being dropped: told again
    assert sent.unread == ((jonas.id, 2),)


def test_a_note_whose_notification_fails_is_not_stored(
    accounts: Accounts, engine: Engine, clock: FakeClock, devices: list[str]
) -> None:
    maria = user(accounts, "maria")
    user(accounts, "jonas")
    # The notifications' store breaks (as a full disk would): the note goes with it.
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE notification_deliveries"))
    # SQLite: an OperationalError (StorageUnavailable); PostgreSQL: a ProgrammingError.
    with pytest.raises((StorageUnavailable, DBAPIError)):
        add(accounts, maria, "hey @jonas", clock())
    assert accounts.notes.list("Greenhouse", EARLIEST, clock() + HOUR) == []
    add(accounts, maria, "no mention, no notification", clock())
    assert len(accounts.notes.list("Greenhouse", EARLIEST, clock() + HOUR)) == 1


def test_a_listing_holds_at_most_notes_per_query(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    maria = user(accounts, "maria")
    start = clock() - timedelta(days=1)
    for n in range(NOTES_PER_QUERY + 1):
        add(accounts, maria, f"n{n}", start + timedelta(seconds=n))
    listed = accounts.notes.list("Greenhouse", EARLIEST, clock())
    assert len(listed) == NOTES_PER_QUERY
    assert listed[0].text == "n0"


def test_deleting_a_device_deletes_its_notes(
    accounts: Accounts, engine: Engine, clock: FakeClock, devices: list[str]
) -> None:
    maria, jonas = user(accounts, "maria"), user(accounts, "jonas")
    doomed, _ = add(accounts, maria, "bye @jonas", clock())
    kept, _ = add(accounts, maria, "stays", clock(), device="shed")
    Devices(create_session_factory(engine), FakeClock(), token_cache_seconds=0).delete("Greenhouse")
    with pytest.raises(NoteNotFound):
        accounts.notes.get(doomed)
    assert accounts.notes.get(kept).text == "stays"
    assert accounts.notifications.unread_count(jonas.id) == 1  # what was sent stays sent


def test_deleting_a_user_keeps_their_notes_under_the_name_they_wrote_with(
    accounts: Accounts, clock: FakeClock, devices: list[str]
) -> None:
    user(accounts, "boss", "admin")
    maria, jonas = user(accounts, "maria"), user(accounts, "jonas")
    accounts.users.update("maria", actor=CLI, display_name="Maria S.")
    by_maria, _ = add(accounts, maria, "@jonas hello", clock())
    mentions_maria, _ = add(accounts, jonas, "@maria hi", clock())
    accounts.users.remove("maria", actor=CLI)
    note = accounts.notes.get(by_maria)
    assert (note.author, note.author_name, note.author_id) == ("Maria S.", None, None)
    assert note.mentions == ("jonas",)
    assert accounts.notes.get(mentions_maria).mentions == ()


@pytest.mark.anyio
async def test_the_facade_announces_notes_and_their_mentions_after_commit(
    accounts: Accounts, bus: InProcessBus, clock: FakeClock, devices: list[str]
) -> None:
    maria, jonas = user(accounts, "maria"), user(accounts, "jonas")
    notes = accounts.subscribe_notes(maxsize=10)
    sent = accounts.subscribe_notifications(maxsize=10)
    note = await accounts.add_note(
        "Greenhouse", author_id=maria.id, text="@jonas see", starts_at=clock(), earliest=EARLIEST
    )
    assert await notes.get() == NoteChanged(note.device_id, note, note.id)
    assert (await sent.get()).unread == ((jonas.id, 1),)
    listed = await accounts.list_notes("Greenhouse", EARLIEST, clock())
    assert listed == [note]
    changed = await accounts.update_note(
        note.id, editor_id=maria.id, editor_is_admin=False, text="@jonas seen", earliest=EARLIEST
    )
    assert await notes.get() == NoteChanged(note.device_id, changed, note.id)
    assert sent.pending() == 0  # jonas was mentioned already
    gone = await accounts.delete_note(note.id, editor_id=maria.id, editor_is_admin=False)
    assert gone == changed
    assert await notes.get() == NoteChanged(note.device_id, None, note.id)
    assert await accounts.announce_recent(clock() - HOUR) == []  # announced already
    with pytest.raises(NoteNotFound):
        await accounts.delete_note(note.id, editor_id=maria.id, editor_is_admin=False)
