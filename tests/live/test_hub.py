"""The hub: throttling, rendering once, snapshots, replays, bounded viewers.

Driven tick by tick with a clock the test moves, and with the real templates.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from app.live.hub import OVERVIEW, device_topic
from app.live.state import DeviceView
from app.live.streams import LINGER, TooManyStreams
from app.live.tiles import QUIET_TICKS
from app.live.viewers import Viewer
from tests.factories import T0, FakeClock, make_hub
from tests.factories import inserted as event


def drain(viewer: Viewer) -> bytes:
    chunks = []
    while viewer.pending():
        chunks.append(viewer._frames.pop(0))
    return b"".join(chunks)


# Not the page's own: which topic frames are for, the stream's id, who is watching
# (tests/live/test_presence.py).
ROUTING = {"topic", "stream", "presence", "watchers", "presence-diff", "watchers-diff"}


def events_in(data: bytes) -> list[str]:
    """The page's events in `data`, in order."""
    events = [line[7:] for line in data.decode().splitlines() if line.startswith("event: ")]
    return [event for event in events if event not in ROUTING]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def test_a_burst_for_one_device_becomes_one_update_per_tick(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1")])
    viewer = hub.open(OVERVIEW, "c1", None)
    drain(viewer)
    renders_before = hub.stats.renders
    for i in range(999):
        hub.apply(event(1, i / 1000, temperature=20 + i / 1000))
    hub.apply(event(1, 0.9995, temperature=37.4))  # the newest reading, unlike any other
    hub.tick()
    data = drain(viewer)
    assert events_in(data) == ["tile-1"]
    assert hub.stats.renders - renders_before == 1
    assert b">37.4<" in data and b">20.9<" not in data  # the latest state, not a backlog


def test_rendering_costs_the_same_for_one_viewer_or_a_thousand(clock: FakeClock) -> None:
    hub = make_hub(clock, streams_per_client=2000)
    hub.load([DeviceView(d, f"pi-{d}") for d in range(1, 11)])
    viewers = [hub.open(OVERVIEW, "c", None) for _ in range(1000)]
    for viewer in viewers:
        drain(viewer)
    before = hub.stats.renders
    for d in range(1, 11):
        hub.apply(event(d, 0, temperature=20.0))
    hub.tick()
    assert hub.stats.renders - before == 10
    blobs = {id(viewer._frames[0]) for viewer in viewers}
    assert len(blobs) == 1, "every viewer gets the very same bytes object"


def test_a_silent_device_turns_late_then_offline_without_an_event(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([])
    for s in (0, 10, 20):
        clock.now = T0 + timedelta(seconds=s)
        hub.apply(event(1, s, temperature=20.0))
    hub.tick()
    viewer = hub.open(OVERVIEW, "c1", None)
    drain(viewer)
    clock.now = T0 + timedelta(seconds=55)
    hub.tick()
    assert b'data-status="late"' in drain(viewer)
    clock.now = T0 + timedelta(seconds=125)
    hub.tick()
    assert b'data-status="offline"' in drain(viewer)
    hub.tick()
    assert drain(viewer) == b"", "no change, no update"


def test_a_new_stream_starts_with_retry_and_a_snapshot_of_the_page(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "b-device"), DeviceView(2, "a-device")])
    hub.apply(event(1, 0, temperature=21.5))
    hub.tick()
    data = drain(hub.open(OVERVIEW, "c1", None))
    text = data.decode()
    assert text.startswith("retry: ")
    assert 1000 <= int(text.split("\n")[0][7:]) <= 4000
    assert events_in(data) == ["grid"]
    assert text.index("a-device") < text.index("b-device")
    assert "21.5" in text
    page = drain(hub.open(device_topic(1), "c1", None))
    assert events_in(page) == ["tile-1", "points", "resync"]
    t0 = int(T0.timestamp() * 1000)
    window = t0 - 59 * 60_000  # the hour of minutes the view holds, up to now's
    minutes = f'{{"temperature":[[{t0},21.5,21.5,21.5,1]]}}'
    assert f'data: {{"window":{window},"quantities":{minutes}}}\n'.encode() in page


def test_a_reconnect_with_a_known_id_gets_only_what_it_missed(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1"), DeviceView(2, "pi-2")])
    first = hub.open(OVERVIEW, "c1", None)
    drain(first)
    hub.apply(event(1, 0, temperature=20.0))
    hub.tick()
    drain(first)
    last_seen = hub.log.last_id
    hub.close(first)  # the connection drops
    hub.apply(event(2, 1, temperature=30.0))
    hub.tick()
    again = drain(hub.open(OVERVIEW, "c1", last_seen))
    assert events_in(again) == ["tile-2"]
    assert b"retry: " in again


def test_a_reconnect_with_an_unknown_or_too_old_id_gets_a_snapshot(clock: FakeClock) -> None:
    hub = make_hub(clock, replay_frames=2)
    hub.load([DeviceView(1, "pi-1")])
    old = hub.log.last_id
    for s in range(5):
        hub.apply(event(1, s, temperature=20.0 + s))
        hub.tick()
    assert events_in(drain(hub.open(OVERVIEW, "c", old))) == ["grid"]
    assert events_in(drain(hub.open(OVERVIEW, "c", "otherrun-3"))) == ["grid"]


def test_tiles_nobody_watches_are_rendered_ahead_once_they_stop_changing(
    clock: FakeClock,
) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1"), DeviceView(2, "pi-2")])
    before = hub.stats.renders
    for s in range(5):
        for reading in range(3):
            hub.apply(event(1, s + reading / 10, temperature=20.0 + s))
        hub.tick()
    # The quiet tile after QUIET_TICKS; the one changing at every tick, not yet.
    assert hub.stats.renders - before == 1
    for _ in range(QUIET_TICKS + 2):  # ticks without readings: now it is rendered, once
        hub.tick()
    assert hub.stats.renders - before == 2
    rendered = hub.stats.renders
    data = drain(hub.open(OVERVIEW, "c", None)).decode()
    assert "24.0" in data, "the snapshot shows the latest state"
    assert hub.stats.renders == rendered, "the page found every tile ready"


def test_without_time_to_render_ahead_tiles_wait_until_someone_looks(clock: FakeClock) -> None:
    hub = make_hub(clock, refresh_interval=1e-9)  # a share of no time at all
    hub.load([DeviceView(1, "pi-1"), DeviceView(2, "pi-2")])
    before = hub.stats.renders
    for s in range(5):
        hub.apply(event(1, s, temperature=20.0 + s))
        hub.tick()
    assert hub.stats.renders == before, "no stream, no page, no time: nothing rendered"
    data = drain(hub.open(OVERVIEW, "c", None)).decode()
    assert "24.0" in data, "the snapshot shows the latest state"
    assert hub.stats.renders - before == 2, "each stale tile rendered once, for the snapshot"


def test_a_device_page_alone_renders_only_its_own_tile(clock: FakeClock) -> None:
    hub = make_hub(clock, refresh_interval=1e-9)  # nothing rendered ahead
    hub.load([DeviceView(1, "pi-1"), DeviceView(2, "pi-2")])
    page = hub.open(device_topic(1), "c", None)
    drain(page)
    before = hub.stats.renders
    hub.apply(event(1, 0, temperature=20.0))
    hub.apply(event(2, 0, temperature=5.0))
    hub.tick()
    assert hub.stats.renders - before == 1
    assert events_in(drain(page)) == ["tile-1", "points"]


def test_a_topic_stays_replayable_for_a_while_after_its_last_stream(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1")])
    viewer = hub.open(OVERVIEW, "c", None)
    drain(viewer)
    last_seen = hub.log.last_id
    hub.close(viewer)
    clock.now = T0 + LINGER - timedelta(seconds=1)
    hub.apply(event(1, 0, temperature=20.0))
    hub.tick()
    assert events_in(drain(hub.open(OVERVIEW, "c", last_seen))) == ["tile-1"]


def test_a_reconnect_after_the_topic_went_unwatched_gets_a_snapshot(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1")])
    viewer = hub.open(OVERVIEW, "c", None)
    drain(viewer)
    last_seen = hub.log.last_id
    hub.close(viewer)
    clock.now = T0 + LINGER
    hub.tick()  # the linger ends: from now on the overview is not rendered
    hub.apply(event(1, 0, temperature=20.0))
    hub.tick()
    other = hub.open(OVERVIEW, "c2", None)  # watched again, but with a hole in its log
    drain(other)
    data = drain(hub.open(OVERVIEW, "c", last_seen))
    assert events_in(data) == ["grid"] and b"20.0" in data


def test_a_replay_that_would_not_fit_the_queue_is_a_snapshot_instead(clock: FakeClock) -> None:
    hub = make_hub(clock, queue_frames=4)
    hub.load([DeviceView(1, "pi-1")])
    keeper = hub.open(OVERVIEW, "keeper", None)  # keeps the overview watched

    def missed_ticks(count: int) -> list[str]:
        viewer = hub.open(OVERVIEW, "c", None)
        hub.tick()  # its arrival in the presence lists
        drain(viewer)
        drain(keeper)
        last_seen = hub.log.last_id
        hub.close(viewer)  # within the grace: the lists do not change
        for s in range(count):
            hub.apply(event(1, s, temperature=20.0 + s))
            hub.tick()
            drain(keeper)
        again = hub.open(OVERVIEW, "c", last_seen)
        assert not again.closed
        names = events_in(drain(again))
        hub.close(again)
        return names

    assert missed_ticks(3) == ["tile-1"] * 3, "three ticks fit in a queue of four"
    assert missed_ticks(4) == ["grid"]


def test_a_viewer_that_falls_behind_is_dropped_and_the_others_carry_on(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "app.live")
    hub = make_hub(clock, queue_frames=4)
    hub.load([DeviceView(1, "pi-1")])
    frozen, healthy = hub.open(OVERVIEW, "c1", None), hub.open(OVERVIEW, "c2", None)
    for s in range(10):
        drain(healthy)
        hub.apply(event(1, s, temperature=20.0 + s))
        hub.tick()
    assert frozen.closed and frozen.overflowed
    assert not healthy.closed
    assert hub.stats.viewers_dropped == 1
    assert [r.getMessage() for r in caplog.records] == [
        "ended the live stream of c1 on overview: it fell too far behind; "
        "it gets a snapshot when it reconnects"
    ]
    assert hub.viewer_count() == 2, "registered until its response has ended"
    hub.close(frozen)
    assert hub.viewer_count() == 1


def test_one_client_may_hold_only_so_many_streams(clock: FakeClock) -> None:
    hub = make_hub(clock, streams_per_client=2)
    hub.load([])
    first = hub.open(OVERVIEW, "10.0.0.1", None)
    hub.open(OVERVIEW, "10.0.0.1", None)
    with pytest.raises(TooManyStreams, match="2 live streams"):
        hub.open(OVERVIEW, "10.0.0.1", None)
    hub.open(OVERVIEW, "10.0.0.2", None)  # another client is not affected
    hub.close(first)
    hub.open(OVERVIEW, "10.0.0.1", None)


def test_a_device_that_appears_redraws_the_grid(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1")])
    viewer = hub.open(OVERVIEW, "c", None)
    drain(viewer)
    hub.apply(event(7, 0, temperature=20.0))
    hub.tick()
    data = drain(viewer)
    assert events_in(data) == ["grid"]
    assert b"pi-7" in data and b"pi-1" in data


def test_a_device_page_gets_its_tile_and_new_points(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1"), DeviceView(2, "pi-2")])
    page = hub.open(device_topic(1), "c", None)
    drain(page)
    hub.apply(event(1, 0, temperature=20.0))
    hub.apply(event(1, 1, temperature=22.0))
    hub.apply(event(2, 1, temperature=5.0))  # another device: not on this page
    hub.tick()
    data = drain(page)
    assert events_in(data) == ["tile-1", "points"]
    t0 = int(T0.timestamp() * 1000)
    assert f'"quantities":{{"temperature":[[{t0},20.0,22.0,42.0,2]]}}}}'.encode() in data


def test_points_carry_whole_minutes_and_only_the_minutes_that_changed(clock: FakeClock) -> None:
    # A frame replaces the minutes it names: a chart computes its buckets from them as
    # the history does from the rollups, whatever frames it saw twice or missed.
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1")])
    page = hub.open(device_topic(1), "c", None)
    drain(page)
    hub.apply(event(1, 59.5, temperature=20.0))
    hub.apply(event(1, 60.5, temperature=22.0))
    hub.tick()
    drain(page)
    hub.apply(event(1, 58.0, temperature=18.0))  # the first minute again, the second not
    hub.tick()
    t0 = int(T0.timestamp() * 1000)
    minutes = f'{{"temperature":[[{t0},18.0,20.0,38.0,2]]}}'
    assert f'"quantities":{minutes}}}'.encode() in drain(page)


def test_pings_reach_every_stream(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1")])
    viewers = [hub.open(OVERVIEW, "a", None), hub.open(device_topic(1), "b", None)]
    for viewer in viewers:
        drain(viewer)
    hub.ping()
    assert [drain(v) for v in viewers] == [b": ping\n\n", b": ping\n\n"]


def test_streams_stuck_in_a_write_past_the_send_timeout_are_ended_once(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "app.live")
    hub = make_hub(clock, send_timeout=5.0)
    hub.load([])
    stuck, writing, idle = (hub.open(OVERVIEW, f"c{i}", None) for i in range(3))
    stuck.sending_since = 100.0
    writing.sending_since = 109.5
    assert hub.drop_stalled(now=110.0) == 1
    assert stuck.closed and stuck.stalled
    assert not writing.closed and not idle.closed
    assert hub.stats.viewers_dropped == 1
    assert hub.drop_stalled(now=111.0) == 0, "ended once, though still registered"
    assert [r.getMessage() for r in caplog.records] == [
        "ended the live stream of c0 on overview: it accepted nothing for 5 s "
        "(TELEMETRY_SSE_SEND_TIMEOUT); it gets a snapshot when it reconnects"
    ]
    hub.close(stuck)  # its response ends
    assert hub.viewer_count() == 2


def test_a_stream_ended_by_the_hub_is_still_timed_while_it_sends_its_last_bytes(
    clock: FakeClock,
) -> None:
    hub = make_hub(clock, send_timeout=5.0)
    hub.load([])
    viewer = hub.open(OVERVIEW, "c0", None)
    hub.end_streams()  # shutdown: closed, its response sends the end chunk...
    assert viewer.closed
    viewer.sending_since = 100.0  # ...which the client does not take
    assert hub.drop_stalled(now=106.0) == 1
    assert viewer.stalled


def test_many_streams_ended_at_once_are_summed_up_in_the_log(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "app.live")
    hub = make_hub(clock, send_timeout=5.0, streams_per_client=100)
    hub.load([])
    for viewer in [hub.open(OVERVIEW, "c", None) for _ in range(25)]:
        viewer.sending_since = 100.0
    assert hub.drop_stalled(now=106.0) == 25
    assert len(caplog.records) == 11
    assert caplog.records[-1].getMessage() == "ended 15 more live streams that stopped reading"


def test_devices_registered_later_get_a_tile_and_the_grid_is_sent_again(
    clock: FakeClock,
) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1")])
    viewer = hub.open(OVERVIEW, "c1", None)
    drain(viewer)
    hub.add_devices([(1, "pi-1"), (2, "cellar")])  # the known one is left as it is
    hub.tick()
    sent = drain(viewer)
    assert events_in(sent) == ["grid"]
    assert b"cellar" in sent and b"pi-1" in sent
    assert hub.device_id("cellar") == 2


def test_a_page_opened_before_the_tick_starts_from_the_minutes_that_changed_unwatched(
    clock: FakeClock,
) -> None:
    # A cached snapshot would predate the reading, whose minute nobody noted.
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1")])
    hub.apply(event(1, 0, temperature=20.0))
    hub.tick()
    hub.close(hub.open(device_topic(1), "c", None))  # cached the snapshot, then left
    clock.advance(31)  # past the linger: nobody watches the page any more
    hub.tick()
    hub.apply(event(1, 1, temperature=30.0))  # unwatched
    page = hub.open(device_topic(1), "c", None)
    t0 = int(T0.timestamp() * 1000)
    assert f'"temperature":[[{t0},20.0,30.0,50.0,2]]'.encode() in drain(page)


def test_a_minute_whose_sum_overflows_is_left_out_of_the_points(clock: FakeClock) -> None:
    hub = make_hub(clock)
    hub.load([DeviceView(1, "pi-1")])
    page = hub.open(device_topic(1), "c", None)
    drain(page)
    hub.apply(event(1, 0, flux=1.5e308))
    hub.apply(event(1, 1, flux=1.5e308))  # the sum is infinite: JSON has no word for it
    hub.apply(event(1, 2, temperature=20.0))
    hub.tick()
    frame = drain(page).split(b"event: points\ndata: ")[1].split(b"\n")[0]
    assert json.loads(frame)["quantities"]["flux"] == []
    assert len(json.loads(frame)["quantities"]["temperature"]) == 1
