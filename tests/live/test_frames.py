"""SSE frames and the replay log."""

from __future__ import annotations

from app.live.frames import FrameLog
from app.web.sse_encoding import encode_event


def test_replay_gives_what_a_topic_missed_and_nothing_of_other_topics() -> None:
    log = FrameLog(encode_event, size=10, max_bytes=1 << 20)
    log.append("overview", [("tile-1", "a")])
    seen = log.last_id
    log.append("device:1", [("tile-1", "b")])
    log.append("overview", [("tile-1", "c"), ("tile-2", "d")])
    missed = log.since("overview", seen)
    assert missed is not None
    expected = (
        f"id: {log.run}-3\nevent: tile-1\ndata: c\n\nid: {log.run}-4\nevent: tile-2\ndata: d\n\n"
    )
    assert b"".join(missed) == expected.encode()
    assert log.since("overview", log.last_id) == []


def test_without_an_id_or_with_one_of_another_run_a_snapshot_is_needed() -> None:
    log = FrameLog(encode_event, size=10, max_bytes=1 << 20)
    log.append("overview", [("tile-1", "a")])
    assert log.since("overview", None) is None
    assert log.since("overview", "deadbeef-1") is None
    assert log.since("overview", "garbage") is None
    assert log.since("overview", f"{log.run}-99") is None  # from the future


def test_an_id_older_than_the_log_needs_a_snapshot() -> None:
    log = FrameLog(encode_event, size=3, max_bytes=1 << 20)
    log.append("overview", [("tile-1", "a")])
    old = log.last_id
    for value in "bcde":
        log.append("overview", [("tile-1", value)])
    assert log.since("overview", old) is None, "2 fell out, and the viewer missed it"
    newer = f"{log.run}-2"
    assert log.since("overview", newer) == [
        f"id: {log.run}-{n}\nevent: tile-1\ndata: {v}\n\n".encode()
        for n, v in zip((3, 4, 5), "cde", strict=True)
    ]


def test_a_gap_in_a_topic_refuses_replays_across_it() -> None:
    log = FrameLog(encode_event, size=10, max_bytes=1 << 20)
    log.append("device:1", [("tile-1", "a")])
    before = log.last_id
    log.gap("device:1")
    log.append("device:1", [("tile-1", "b")])
    after = log.last_id
    assert log.since("device:1", before) is None
    assert log.since("device:1", after) == []


def test_the_log_is_bounded_by_bytes_too() -> None:
    log = FrameLog(encode_event, size=100, max_bytes=200)
    first = log.last_id
    log.append("overview", [("tile-1", "x" * 60)])
    after_first = log.last_id
    log.append("overview", [("tile-1", "y" * 60)])
    assert log.since("overview", first) is not None, "two entries fit in 200 bytes"
    log.append("overview", [("tile-1", "z" * 60)])
    assert log.size_bytes <= 200
    assert log.since("overview", first) is None, "the oldest fell out: a snapshot is needed"
    missed = log.since("overview", after_first)
    assert missed is not None and len(missed) == 2


def test_an_id_that_is_not_one_of_ours_needs_a_snapshot() -> None:
    log = FrameLog(encode_event, size=10, max_bytes=1 << 20)
    log.append("overview", [("tile-1", "a")])
    for number in ("9" * 5000, "²", "-1", "", "1-2"):
        assert log.since("overview", f"{log.run}-{number}") is None, number
