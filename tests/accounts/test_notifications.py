"""Notifications: checked fields, chosen recipients, read state per user, announced once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import pytest
from sqlalchemy import Engine

from app.accounts import (
    CLI,
    LINK_MAX,
    MESSAGE_MAX,
    NOTIFICATION_SENT,
    TITLE_MAX,
    Accounts,
    Actor,
    NotificationError,
    NotificationSent,
    NotificationsRead,
    UnknownUsers,
    UserInfo,
)
from app.bus import Event, InProcessBus, Subscription
from tests.accounts.conftest import LIFETIME, PASSWORD
from tests.factories import FakeClock

BOSS = Actor("boss", "10.0.0.1")
E = TypeVar("E", bound=Event)


def add_users(accounts: Accounts, *names: str) -> list[UserInfo]:
    """Users made through the context, each with a display name of its own."""
    return [
        accounts.users.add(name, PASSWORD, display_name=name.title(), actor=CLI) for name in names
    ]


def send(accounts: Accounts, users: list[str] | None, title: str = "Frost tonight") -> int:
    """Send a notification through the context; returns its id."""
    sent = accounts.notifications.send(
        title, "Cover the seedlings.", sender_id=None, users=users, actor=BOSS
    )
    return sent.notification.id


async def drain(subscription: Subscription[NotificationSent]) -> list[NotificationSent]:
    """The events queued on a subscription, without waiting for more."""
    return [await subscription.get() for _ in range(subscription.pending())]


@pytest.mark.parametrize(
    ("title", "message", "level", "link", "field"),
    [
        ("t" * (TITLE_MAX + 1), "m", "info", None, "title"),
        ("", "m", "info", None, "title"),
        ("   ", "m", "info", None, "title"),
        ("two\nlines", "m", "info", None, "title"),
        ("bell\x07", "m", "info", None, "title"),
        ("nul\x00", "m", "info", None, "title"),
        ("a\u2028b", "m", "info", None, "title"),
        ("t", "m" * (MESSAGE_MAX + 1), "info", None, "message"),
        ("t", "", "info", None, "message"),
        ("t", " \n\t ", "info", None, "message"),
        ("t", "tab\tinside", "info", None, "message"),
        ("t", "esc\x1b[31m", "info", None, "message"),
        ("t", "m", "urgent", None, "level"),
        ("t", "m", "INFO", None, "level"),
        ("t", "m", "info", "//evil.com", "link"),
        ("t", "m", "info", "/\\evil.com", "link"),
        ("t", "m", "info", "https://x", "link"),
        ("t", "m", "info", "javascript:alert(1)", "link"),
        ("t", "m", "info", "devices", "link"),
        ("t", "m", "info", "/a b", "link"),
        ("t", "m", "info", "/a\nb", "link"),
        ("t", "m", "info", "/" + "a" * LINK_MAX, "link"),
    ],
)
def test_a_field_breaking_its_rule_is_refused_by_name_and_nothing_is_stored(
    accounts: Accounts, title: str, message: str, level: str, link: str | None, field: str
) -> None:
    (maria,) = add_users(accounts, "maria")
    lines = accounts.audit.count()
    with pytest.raises(NotificationError) as refused:
        accounts.notifications.send(
            title, message, level=level, link=link, sender_id=None, users=None, actor=BOSS
        )
    assert refused.value.field == field
    assert accounts.notifications.inbox(maria.id).total == 0
    assert accounts.audit.count() == lines


def test_fields_at_their_limits_are_stored_as_checked(accounts: Accounts) -> None:
    (maria,) = add_users(accounts, "maria")
    link = "/devices/shed?from=2026-11-21T09:00:00Z#note-1"
    long_link = "/" + "a" * (LINK_MAX - 1)
    assert accounts.notifications.check("t" * TITLE_MAX, "m", "info", long_link)[3] == long_link
    accounts.notifications.send(
        f"  {'t' * TITLE_MAX}  ",
        "m" * (MESSAGE_MAX - 4) + "\r\nend",
        level="critical",
        link=link,
        sender_id=None,
        users=["maria"],
        actor=BOSS,
    )
    stored = accounts.notifications.inbox(maria.id).items[0].notification
    assert stored.title == "t" * TITLE_MAX
    assert stored.message == "m" * (MESSAGE_MAX - 4) + "\nend"
    assert (stored.level, stored.link, stored.sender, stored.everyone) == (
        "critical",
        link,
        None,
        False,
    )
    assert accounts.notifications.check("t", "m", "warning", "") == ("t", "m", "warning", None)
    assert accounts.notifications.check("t", "m", "info", "/ok")[3] == "/ok"


def test_unknown_users_are_all_named_at_once_and_nothing_is_stored(accounts: Accounts) -> None:
    (maria,) = add_users(accounts, "maria")
    with pytest.raises(UnknownUsers) as refused:
        send(accounts, ["maria", "ghost", "Not A Name", "ghost", "x\x00", "phantom"])
    assert refused.value.field == "users"
    assert refused.value.names == ("ghost", "Not A Name", "x\x00", "phantom")
    assert "'ghost'" in str(refused.value)
    assert "'phantom'" in str(refused.value)
    assert accounts.notifications.unread_count(maria.id) == 0


def test_no_recipients_chosen_is_refused(accounts: Accounts) -> None:
    add_users(accounts, "maria")
    with pytest.raises(NotificationError) as refused:
        send(accounts, [])
    assert refused.value.field == "users"


def test_a_disabled_user_named_is_refused_and_everyone_leaves_them_out(
    accounts: Accounts,
) -> None:
    maria, jonas = add_users(accounts, "maria", "jonas")
    accounts.users.update("jonas", actor=CLI, disabled=True)
    with pytest.raises(NotificationError, match="'jonas' is disabled") as refused:
        send(accounts, ["maria", "jonas"])
    assert refused.value.field == "users"
    assert not isinstance(refused.value, UnknownUsers)
    send(accounts, None)
    assert accounts.notifications.unread_counts([maria.id, jonas.id]) == {maria.id: 1, jonas.id: 0}


def test_everyone_reaches_every_enabled_user_and_chosen_users_only_them(
    accounts: Accounts,
) -> None:
    maria, jonas, ines = add_users(accounts, "maria", "jonas", "ines")
    everyone = accounts.notifications.send(
        "All", "hands", sender_id=maria.id, users=None, actor=BOSS
    )
    assert everyone.notification.everyone
    assert everyone.notification.sender == "Maria"
    assert everyone.unread == tuple(sorted([(maria.id, 1), (jonas.id, 1), (ines.id, 1)]))
    chosen = accounts.notifications.send(
        "Few", "of you", sender_id=None, users=["jonas", " JONAS ", "ines", "jonas"], actor=BOSS
    )
    assert not chosen.notification.everyone
    assert chosen.unread == tuple(sorted([(jonas.id, 2), (ines.id, 2)]))
    assert accounts.notifications.unread_counts([maria.id, jonas.id, ines.id]) == {
        maria.id: 1,
        jonas.id: 2,
        ines.id: 2,
    }
    assert accounts.notifications.inbox(jonas.id).total == 2  # one delivery, not three
    audit = accounts.audit.page(limit=2)
    assert [(a.action, a.subject, a.detail, a.actor) for a in audit] == [
        (NOTIFICATION_SENT, "Few", "to jonas, ines", "boss"),
        (NOTIFICATION_SENT, "All", "everyone (3 users)", "boss"),
    ]


def test_a_users_reads_never_change_another_users_unread(accounts: Accounts) -> None:
    maria, jonas = add_users(accounts, "maria", "jonas")
    first = send(accounts, ["maria", "jonas"])
    second = send(accounts, ["maria", "jonas"])
    mine_only = send(accounts, ["maria"])
    read = accounts.notifications.mark_read(jonas.id, [first, mine_only, 99_999, first])
    assert read == NotificationsRead(jonas.id, 1, (first,))  # not theirs: ignored
    assert accounts.notifications.unread_count(maria.id) == 3
    assert accounts.notifications.unread_count(jonas.id) == 1
    flags = {i.notification.id: i.read for i in accounts.notifications.inbox(jonas.id).items}
    assert flags == {first: True, second: False}
    assert not any(i.read for i in accounts.notifications.inbox(maria.id).items)
    again = accounts.notifications.mark_read(jonas.id, [first])  # read already: still theirs
    assert again == NotificationsRead(jonas.id, 1, (first,))


def test_mark_all_read_reads_every_one_of_that_user(accounts: Accounts) -> None:
    maria, jonas = add_users(accounts, "maria", "jonas")
    for _ in range(3):
        send(accounts, None)
    assert accounts.notifications.mark_all_read(maria.id) == NotificationsRead(maria.id, 0, None)
    assert accounts.notifications.inbox(maria.id).unread == 0
    assert accounts.notifications.inbox(jonas.id).unread == 3


def test_the_inbox_pages_newest_first_and_past_the_end_is_empty(
    accounts: Accounts, clock: FakeClock
) -> None:
    (maria,) = add_users(accounts, "maria")
    ids = []
    for n in range(25):
        ids.append(send(accounts, ["maria"], title=f"n{n}"))
        clock.advance(1)
    accounts.notifications.mark_read(maria.id, ids[:5])
    first = accounts.notifications.inbox(maria.id, page=1, per_page=20)
    assert [i.notification.id for i in first.items] == ids[::-1][:20]
    assert (first.total, first.unread, first.page, first.pages) == (25, 20, 1, 2)
    second = accounts.notifications.inbox(maria.id, page=2, per_page=20)
    assert [i.notification.id for i in second.items] == ids[4::-1]
    assert all(i.read for i in second.items)
    past = accounts.notifications.inbox(maria.id, page=3, per_page=20)
    assert (past.items, past.total, past.pages) == ((), 25, 2)
    assert len(accounts.notifications.inbox(maria.id, per_page=10_000).items) == 25


def test_recent_returns_what_another_process_stored_with_unread_counts_now(
    accounts: Accounts, engine: Engine, clock: FakeClock
) -> None:
    maria, jonas = add_users(accounts, "maria", "jonas")
    other = Accounts(engine, InProcessBus(), clock, LIFETIME)  # as `telemetry notify` would
    old = send(other, ["maria"], title="old")
    clock.advance(10)
    since = clock()
    first = send(other, ["maria", "jonas"], title="first")
    clock.advance(1)
    second = send(other, ["maria"], title="second")
    accounts.notifications.mark_read(jonas.id, [first])
    recent = accounts.notifications.recent(since)
    assert [r.notification.id for r in recent] == [first, second]
    assert old not in [r.notification.id for r in recent]
    assert recent[0].unread == tuple(sorted([(maria.id, 3), (jonas.id, 0)]))
    assert recent[1].unread == ((maria.id, 3),)
    assert recent[1].notification.title == "second"


@pytest.mark.anyio
async def test_announce_recent_publishes_only_what_this_process_did_not(
    accounts: Accounts, bus: InProcessBus, engine: Engine, clock: FakeClock
) -> None:
    (maria,) = add_users(accounts, "maria")
    heard = accounts.subscribe_notifications(maxsize=100)
    since = clock()
    mine = await accounts.send_notification(
        "Mine", "sent here", level="info", link=None, sender=maria, users=None, actor=BOSS
    )
    other = Accounts(engine, InProcessBus(), clock, LIFETIME)
    theirs = send(other, ["maria"], title="Theirs")
    announced = await accounts.announce_recent(since)
    assert [a.notification.id for a in announced] == [theirs]
    assert announced[0].unread == ((maria.id, 2),)
    assert await accounts.announce_recent(since) == []
    assert [e.notification.id for e in await drain(heard)] == [mine.id, theirs]


class Witness:
    """A bus that notes what another process would read when each event is published."""

    def __init__(self, look: Callable[[], int]) -> None:
        self.bus = InProcessBus()
        self.look = look
        self.seen: list[tuple[str, int]] = []

    async def publish(self, event: Event) -> None:
        self.seen.append((event.topic, self.look()))
        await self.bus.publish(event)

    def subscribe(self, event_type: type[E], *, maxsize: int | None = None) -> Subscription[E]:
        return self.bus.subscribe(event_type, maxsize=maxsize)

    async def aclose(self) -> None:
        await self.bus.aclose()


@pytest.mark.anyio
async def test_events_are_published_after_commit_and_never_for_a_refused_send(
    engine: Engine, clock: FakeClock
) -> None:
    reader = Accounts(engine, InProcessBus(), clock, LIFETIME)
    (maria,) = add_users(reader, "maria")
    witness = Witness(lambda: reader.notifications.unread_count(maria.id))
    accounts = Accounts(engine, witness, clock, LIFETIME)
    with pytest.raises(UnknownUsers):
        await accounts.send_notification(
            "t", "m", sender=None, users=["maria", "ghost"], actor=BOSS
        )
    assert witness.seen == []
    assert reader.notifications.inbox(maria.id).total == 0
    sent = await accounts.send_notification("t", "m", sender=None, users=["maria"], actor=BOSS)
    assert witness.seen == [("notification_sent", 1)]  # already visible to another process
    assert await accounts.mark_read(maria.id, [sent.id]) == 0
    assert witness.seen[-1] == ("notifications_read", 0)
    assert await accounts.mark_all_read(maria.id) == 0


def test_prune_deletes_old_notifications_with_their_deliveries(
    accounts: Accounts, clock: FakeClock
) -> None:
    (maria,) = add_users(accounts, "maria")
    send(accounts, None, title="old")
    clock.advance(timedelta(days=31).total_seconds())
    kept = send(accounts, None, title="new")
    assert accounts.prune(audit_days=365, notification_days=30)[2] == 1
    assert [i.notification.id for i in accounts.notifications.inbox(maria.id).items] == [kept]
    assert accounts.notifications.unread_count(maria.id) == 1
    assert accounts.prune(audit_days=365)[2] == 0


def test_a_removed_sender_is_still_named_and_a_removed_recipient_has_no_deliveries(
    accounts: Accounts,
) -> None:
    accounts.users.add("boss", PASSWORD, role="admin", actor=CLI)
    maria, jonas = add_users(accounts, "maria", "jonas")
    accounts.notifications.send("Hi", "there", sender_id=maria.id, users=None, actor=BOSS)
    accounts.users.remove("maria", actor=CLI)
    item = accounts.notifications.inbox(jonas.id).items[0]
    assert item.notification.sender == "Maria"
    assert accounts.notifications.unread_count(maria.id) == 0
