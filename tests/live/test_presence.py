"""Presence, tabs sharing a stream, and each user's private topic, tick by tick."""

from __future__ import annotations

import json
import time

import pytest

from app.live.hub import (
    GUEST,
    OVERVIEW,
    PAGE,
    LiveHub,
    NotYourStream,
    UnknownStream,
    Watcher,
    device_topic,
)
from app.live.lobby import LIST_MAX, List
from app.live.presence import NAVIGATION_GRACE, RECONNECT_GRACE
from app.live.state import DeviceView
from app.live.viewers import Viewer
from tests.factories import T0, FakeClock, inserted, make_hub
from tests.raw_streams import Lists, frames

ANNA = Watcher(1, 11, "Anna", True, 0)
BORIS = Watcher(2, 22, "Boris", True, 3)
CLARA_VIEWER = Watcher(3, 33, "Clara", False, 0)  # presence kept from her (admins only)


def drain(viewer: Viewer) -> str:
    chunks = []
    while viewer.pending():
        chunks.append(viewer._frames.pop(0))
    return b"".join(chunks).decode()


def of(text: str, event: str) -> list[str]:
    return [data for _, name, data in frames(text) if name == event]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def hub(clock: FakeClock) -> LiveHub:
    hub = make_hub(clock, streams_per_client=50)
    hub.load([DeviceView(1, "pi-1"), DeviceView(2, "pi-2")])
    return hub


def stream_id(text: str) -> str:
    return str(json.loads(of(text, "stream")[0])["stream"])


def test_the_header_lists_each_user_once_with_their_tab_count(hub: LiveHub) -> None:
    seen = Lists()
    anna = hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v1")
    seen.read(drain(anna))
    assert seen.shown() == [], "the list as it stood when the stream opened"
    hub.open(device_topic(1), "a", None, ANNA, tab="t2", view="v2")
    hub.open(OVERVIEW, "b", None, BORIS, tab="t3", view="v3")
    hub.tick()
    seen.read(drain(anna))
    assert seen.updates == ["presence", "presence:overview"], "one difference a list a tick"
    assert seen.shown() == [("Anna", 2), ("Boris", 1)]
    assert seen.shown("presence:overview") == [("Anna", 1), ("Boris", 1)]


def test_after_the_whole_list_only_what_changed_is_sent(hub: LiveHub) -> None:
    hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v1")
    boris = hub.open(OVERVIEW, "b", None, BORIS, tab="t3", view="v3")
    hub.tick()
    drain(boris)
    hub.open(device_topic(1), "a", None, ANNA, tab="t2", view="v2")
    hub.tick()
    [diff] = of(drain(boris), "presence-diff")
    assert json.loads(diff) == {"set": [[1, "Anna", 2]], "gone": [], "guests": 0, "total": 2}


def test_a_new_stream_gets_the_full_list_and_its_unread_count(hub: LiveHub) -> None:
    hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v1")
    hub.tick()
    boris = drain(hub.open(device_topic(2), "b", None, BORIS, tab="t3", view="v3"))
    routes = {(route.split(" ")[0], event) for route, event, _ in frames(boris)}
    assert ("view:v3", "tile-2") in routes
    assert ("presence", "presence") in routes and ("presence:device:2", "watchers") in routes
    seen = Lists()
    seen.read(boris)
    assert seen.shown() == [("Anna", 1)], "whole, as last sent (Boris arrives at the tick)"
    [badge] = of(boris, "unread")
    assert 'data-unread="3"' in badge


def watching(hub: LiveHub, who: Watcher = BORIS) -> tuple[Viewer, Lists]:
    """A stream of `who` on the overview, and what its lists show, after a tick."""
    viewer = hub.open(OVERVIEW, f"c{who.user_id}", None, who, tab="tw", view="vw")
    seen = Lists()
    seen.read(drain(viewer))
    hub.tick()
    seen.read(drain(viewer))
    seen.updates.clear()
    return viewer, seen


def test_a_navigation_within_the_grace_is_no_leave(hub: LiveHub, clock: FakeClock) -> None:
    anna = hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v1")
    boris, seen = watching(hub)
    hub.leave(ANNA, "v1", anna.stream_id)  # the page said it was going
    hub.close(anna)
    clock.advance(0.3)
    hub.open(device_topic(1), "a", None, ANNA, tab="t1", view="v9")  # the same tab's next page
    hub.tick()
    clock.advance(NAVIGATION_GRACE.total_seconds() + 1)
    hub.tick()
    seen.read(drain(boris))
    assert "presence" not in seen.updates, "the header never changed: one tab before and after"
    assert seen.shown() == [("Anna", 1), ("Boris", 1)]
    assert seen.shown("presence:overview") == [("Boris", 1)]  # she looks at another page now


def test_a_closed_tab_leaves_after_the_short_grace(hub: LiveHub, clock: FakeClock) -> None:
    anna = hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v1")
    boris, seen = watching(hub)
    hub.leave(ANNA, "v1", anna.stream_id)
    hub.close(anna)
    hub.tick()
    seen.read(drain(boris))
    assert seen.updates == []
    clock.advance(NAVIGATION_GRACE.total_seconds())
    hub.tick()
    seen.read(drain(boris))
    assert seen.shown() == [("Boris", 1)]


def test_a_dropped_stream_waits_for_a_reconnect_and_a_cut_one_does_not(
    hub: LiveHub, clock: FakeClock
) -> None:
    anna = hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v1")
    boris, seen = watching(hub)
    hub.close(anna)  # the connection dropped: the browser may be reconnecting
    clock.advance(RECONNECT_GRACE.total_seconds() - 1)
    hub.tick()
    seen.read(drain(boris))
    assert seen.updates == []
    clock.advance(1)
    hub.tick()
    seen.read(drain(boris))
    assert seen.shown() == [("Boris", 1)]
    again = hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v2")
    hub.tick()
    seen.read(drain(boris))
    assert seen.shown() == [("Anna", 1), ("Boris", 1)]
    again.stall()  # it took nothing for the send timeout: gone at once
    hub.close(again)
    hub.tick()
    seen.read(drain(boris))
    assert seen.shown() == [("Boris", 1)]


def test_tabs_joining_a_stream_count_as_tabs_and_get_their_own_snapshot(hub: LiveHub) -> None:
    leader = hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v1")
    seen = Lists()
    sid = stream_id(seen.read(drain(leader)))
    hub.join(sid, ANNA, device_topic(2), tab="t2", view="v2")
    joined = seen.read(drain(leader))
    assert ("view:v2 device:2", "tile-2") in {(r, e) for r, e, _ in frames(joined)}
    assert not any(event == "grid" for _, event, _ in frames(joined)), "only the new tab's page"
    hub.tick()
    seen.read(drain(leader))
    assert seen.shown() == [("Anna", 2)]
    assert hub.viewer_count() == 1
    # Frames of the joined page now ride on the leader's stream, under its topic.
    hub.apply(inserted(2, 1, temperature=5.0))
    hub.tick()
    routed = {(r, e) for r, e, _ in frames(drain(leader))}
    assert ("device:2", "tile-2") in routed and ("overview", "tile-2") in routed


def test_a_stream_is_joined_only_by_its_own_session(hub: LiveHub) -> None:
    leader = hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v1")
    seen = Lists()
    sid = stream_id(seen.read(drain(leader)))
    with pytest.raises(NotYourStream):
        hub.join(sid, BORIS, OVERVIEW, tab="t9", view="v9")
    with pytest.raises(UnknownStream):
        hub.join("no-such-stream", ANNA, OVERVIEW, tab="t9", view="v9")
    hub.leave(BORIS, "v1", sid)  # another session cannot make Anna's tab leave either
    hub.tick()
    seen.read(drain(leader))
    assert seen.shown() == [("Anna", 1)]
    assert "v1" in leader.views


def test_a_guest_cannot_take_another_guests_tab_off_its_stream(hub: LiveHub) -> None:
    victim = hub.open(OVERVIEW, "a", None, GUEST, tab="t1", view="v1")
    sid = stream_id(drain(victim))
    hub.leave(GUEST, "v1", "a-guessed-stream")  # the same identity, not its stream
    assert "v1" in victim.views
    hub.leave(GUEST, "v1", sid)  # the tab itself, which knows its stream
    assert "v1" not in victim.views


def test_a_notification_reaches_only_its_recipients_streams(hub: LiveHub) -> None:
    anna = [hub.open(PAGE, "a", None, ANNA, tab=f"t{i}", view=f"v{i}") for i in range(2)]
    boris = hub.open(PAGE, "b", None, BORIS, tab="t3", view="v3")
    for viewer in (*anna, boris):
        drain(viewer)
    assert hub.notify('<div id="toast-7">secret for anna</div>', [(1, 4)]) == 1
    assert hub.stats.badges == 1, "one badge for Anna, whatever her number of tabs"
    for viewer in anna:
        sent = drain(viewer)
        assert of(sent, "toast") == ['<div id="toast-7">secret for anna</div>']
        assert 'data-unread="4"' in of(sent, "unread")[0]
        assert {route for route, _, _ in frames(sent)} == {"user:1"}
    assert drain(boris) == "", "not a toast, a count or a frame of any kind"
    assert hub.unread(1) == 4


def test_reading_in_one_tab_clears_the_badge_in_all_of_them(hub: LiveHub) -> None:
    tabs = [hub.open(PAGE, "a", None, ANNA, tab=f"t{i}", view=f"v{i}") for i in range(2)]
    boris = hub.open(PAGE, "b", None, BORIS, tab="t3", view="v3")
    for viewer in (*tabs, boris):
        drain(viewer)
    hub.read(1, 0, [7])
    for viewer in tabs:
        sent = drain(viewer)
        assert 'data-unread="0"' in of(sent, "unread")[0]
        assert json.loads(of(sent, "read")[0]) == {"ids": [7]}
    assert drain(boris) == ""


def test_presence_hidden_from_a_viewer_is_never_sent_to_them(hub: LiveHub) -> None:
    clara = hub.open(OVERVIEW, "c", None, CLARA_VIEWER, tab="t1", view="v1")
    hub.open(OVERVIEW, "a", None, ANNA, tab="t2", view="v2")
    hub.tick()
    sent = drain(clara)
    assert not [e for _, e, _ in frames(sent) if e.startswith(("presence", "watchers"))]
    assert sorted(tab.name for tab in hub.presence()) == ["Anna", "Clara"], "still counted"


def test_a_thousand_tabs_joining_make_one_frame_per_list_per_tick(hub: LiveHub) -> None:
    hub = make_hub(FakeClock(T0), streams_per_client=2000, queue_frames=64)
    hub.load([DeviceView(1, "pi-1")])
    first = hub.open(OVERVIEW, "c", None, ANNA, tab="t0", view="v0")
    first_frames = drain(first)
    renders: list[str] = []
    original = hub._lobby._rows

    def counting(topic: str) -> List:
        renders.append(topic)
        return original(topic)

    hub._lobby._rows = counting  # type: ignore[method-assign]
    for i in range(1, 1000):
        who = Watcher(100 + i, 1000 + i, f"user {i:04}", True, 0)
        hub.open(OVERVIEW if i % 2 else device_topic(1), "c", None, who, tab=f"t{i}", view=f"v{i}")
    assert renders == ["presence:device:1"], "the opens share the lists they found"
    renders.clear()
    hub.tick()
    sent = drain(first)
    assert len(of(sent, "presence-diff")) == 1 and len(of(sent, "watchers-diff")) == 1
    assert sorted(renders) == ["presence", "presence:device:1", "presence:overview"]
    seen = Lists()
    seen.read(first_frames + sent)
    # The first LIST_MAX users by name are named, and all of them counted.
    assert seen.totals["presence"] == 1000
    assert seen.shown() == [("Anna", 1)] + [(f"user {i:04}", 1) for i in range(1, LIST_MAX)]


def test_a_tab_that_joined_a_new_leaders_stream_stays_when_the_old_one_ends_late(
    hub: LiveHub, clock: FakeClock
) -> None:
    old = hub.open(OVERVIEW, "a", None, ANNA, tab="t1", view="v1")
    sid = stream_id(drain(old))
    hub.join(sid, ANNA, device_topic(1), tab="t2", view="v2")
    new = hub.open(OVERVIEW, "a", None, ANNA, tab="t3", view="v3")  # the next leader
    seen = Lists()
    hub.join(stream_id(seen.read(drain(new))), ANNA, device_topic(1), tab="t2", view="v2")
    hub.close(old)  # the server hears of the old leader's end only now
    clock.advance(RECONNECT_GRACE.total_seconds() + 1)
    hub.tick()
    seen.read(drain(new))
    assert seen.shown() == [("Anna", 2)], "t2 is on the new stream; only t1 went"


def test_a_tab_joining_later_gets_the_badge_and_the_header(hub: LiveHub) -> None:
    leader = hub.open(PAGE, "b", None, BORIS, tab="t1", view="v1")
    sid = stream_id(drain(leader))
    hub.tick()
    drain(leader)
    hub.join(sid, BORIS, OVERVIEW, tab="t2", view="v2")
    joined = frames(drain(leader))
    assert any(e == "unread" and 'data-unread="3"' in d for _, e, d in joined)
    assert any(e == "presence" for _, e, _ in joined)


def test_a_stream_opens_with_a_count_announced_after_the_database_gave_its_own(
    hub: LiveHub,
) -> None:
    asked = time.monotonic()  # the count is read: 3
    hub.notify('<div id="toast-9">news</div>', [(2, 4)])  # Boris watches nothing yet
    boris = hub.open(PAGE, "b", None, Watcher(2, 22, "Boris", True, 3, asked), view="v1")
    [badge] = of(drain(boris), "unread")
    assert 'data-unread="4"' in badge
    stale = time.monotonic()  # a later read of the database knows better than the event
    hub.close(boris)
    hub.open(PAGE, "b", None, Watcher(2, 22, "Boris", True, 5, stale), view="v2")
    assert hub.unread(2) == 5
