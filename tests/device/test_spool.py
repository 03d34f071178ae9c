"""The spool: durable, oldest first, capped, with dead letters and held readings."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device.clock import format_time
from device.spool import Held, Spool
from device.spool_file import SpoolError
from tests.device.fakes import START


def _spool(tmp_path: Path, **caps: int) -> Spool:
    return Spool.open(tmp_path / "spool.db", **caps)


def _fill(spool: Spool, count: int, start: datetime = START) -> list[str]:
    stamps = []
    for i in range(count):
        moment = start + timedelta(seconds=i)
        spool.add({"temperature": 20.0 + i}, measured_at=moment)
        stamps.append(format_time(moment))
    return stamps


def _adds_up(spool: Spool) -> None:
    status = spool.status()
    c = status.counters
    assert c["taken"] + c["requeued"] == (
        c["sent"]
        + status.pending
        + status.held
        + c["dropped"]
        + c["undatable"]
        + c["dead_lettered"]
    )
    raw = sqlite3.connect(spool.path)
    assert raw.execute("SELECT count(*) FROM readings").fetchone()[0] == c["rows"]
    raw.close()


def test_spool_is_durable_wal_with_synchronous_full(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    assert spool._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_measured_at_is_kept_exactly_as_taken(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    moment = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
    spool.add({"temperature": 21.5, "humidity": 40}, measured_at=moment)
    (reading,) = spool.next_batch(10)
    assert reading.measured_at == "2026-11-21T10:00:00.123456Z"
    assert reading.payload == '{"temperature":21.5,"humidity":40.0}'


def test_readings_survive_closing_and_reopening(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    stamps = _fill(spool, 3)
    spool.close()
    again = _spool(tmp_path)
    assert [r.measured_at for r in again.next_batch(10)] == stamps
    assert again.status().counters["taken"] == 3


def test_batches_come_oldest_first_and_skip_held_readings(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.add({"temperature": 1.0}, held=Held("boot-1", 5.0))
    stamps = _fill(spool, 5)
    assert [r.measured_at for r in spool.next_batch(3)] == stamps[:3]


def test_acknowledged_readings_leave_and_are_counted_as_sent(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    _fill(spool, 5)
    batch = spool.next_batch(3)
    assert spool.acknowledge([r.id for r in batch], duplicates=2, at=START) == 3
    status = spool.status()
    assert (status.pending, status.counters["sent"], status.counters["duplicates"]) == (2, 3, 2)
    assert status.notes["last_success_at"] == format_time(START)
    _adds_up(spool)


def test_full_spool_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_rows=3)
    stamps = _fill(spool, 3)
    dropped = spool.add({"temperature": 9.0}, measured_at=START + timedelta(hours=1))
    assert dropped == 1
    remaining = [r.measured_at for r in spool.next_batch(10)]
    assert remaining == [*stamps[1:], format_time(START + timedelta(hours=1))]
    assert spool.status().counters["dropped"] == 1
    _adds_up(spool)


def test_acknowledging_a_dropped_reading_never_deletes_a_newer_one(tmp_path: Path) -> None:
    # The sender read a batch; the cap dropped it meanwhile; a new reading must not take its id.
    spool = _spool(tmp_path, max_rows=1)
    _fill(spool, 1)
    in_flight = spool.next_batch(1)
    spool.add({"temperature": 5.0}, measured_at=START + timedelta(hours=1))
    assert spool.acknowledge([r.id for r in in_flight], duplicates=0, at=START) == 0
    assert spool.status().pending == 1
    _adds_up(spool)


def test_held_readings_are_dated_from_the_boot_clock(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.add({"temperature": 1.0}, held=Held("boot-1", 10.0))
    spool.add({"temperature": 2.0}, held=Held("boot-1", 25.5))
    now = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
    assert spool.date_held("boot-1", boottime_now=40.0, now=now) == (2, 0)
    assert [r.measured_at for r in spool.next_batch(10)] == [
        "2026-11-21T09:59:30.000000Z",
        "2026-11-21T09:59:45.500000Z",
    ]
    assert spool.held_count() == 0


def test_held_readings_of_an_earlier_boot_are_dropped_as_undatable(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.add({"temperature": 1.0}, held=Held("boot-0", 10.0))
    spool.add({"temperature": 2.0}, held=Held("boot-1", 20.0))
    assert spool.date_held("boot-1", boottime_now=30.0, now=START) == (1, 1)
    assert spool.status().counters["undatable"] == 1
    _adds_up(spool)


def test_dead_letters_keep_the_reading_and_the_servers_message(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    stamps = _fill(spool, 3)
    bad = spool.next_batch(3)[1]
    moved = spool.dead_letter([(bad, "values.temperature: out of range")], status=422, at=START)
    assert moved == (1, 0)
    (letter,) = spool.dead_letters()
    assert (letter.measured_at, letter.values, letter.status) == (
        stamps[1],
        {"temperature": 21.0},
        422,
    )
    assert letter.reason == "values.temperature: out of range"
    assert [r.measured_at for r in spool.next_batch(3)] == [stamps[0], stamps[2]]
    assert spool.status().dead_letter == 1
    _adds_up(spool)


def test_dead_letter_table_is_bounded_dropping_the_oldest(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_dead_letters=2)
    _fill(spool, 3)
    outcomes = [spool.dead_letter([(r, "no")], status=422, at=START) for r in spool.next_batch(3)]
    assert outcomes == [(1, 0), (1, 0), (1, 1)], "the third one drops the oldest"
    assert [d.measured_at for d in spool.dead_letters()] == [
        format_time(START + timedelta(seconds=1)),
        format_time(START + timedelta(seconds=2)),
    ]
    assert spool.status().counters["dead_letter_dropped"] == 1


def test_requeued_dead_letters_are_sent_again_unchanged(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    stamps = _fill(spool, 2)
    spool.dead_letter([(r, "no") for r in spool.next_batch(2)], status=422, at=START)
    assert spool.requeue_dead_letters() == (2, 0)
    assert [r.measured_at for r in spool.next_batch(5)] == stamps
    assert spool.dead_letters() == []
    _adds_up(spool)


def test_requeued_dead_letters_only_take_the_room_there_is(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_rows=3)
    stamps = _fill(spool, 3)
    spool.dead_letter([(r, "no") for r in spool.next_batch(2)], status=422, at=START)
    waiting = _fill(spool, 1, start=START + timedelta(seconds=10))  # 2 waiting, room for 1
    assert spool.requeue_dead_letters() == (1, 1)
    status = spool.status()
    assert status.pending == 3 and status.dead_letter == 1
    assert status.counters["dropped"] == 0, "nothing waiting was dropped to make room"
    assert [r.measured_at for r in spool.next_batch(5)] == [stamps[2], *waiting, stamps[0]]
    _adds_up(spool)


def test_a_reading_is_either_timestamped_or_held(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    with pytest.raises(ValueError, match="either"):
        spool.add({"temperature": 1.0})


def test_status_of_a_missing_spool_says_which_path_to_give(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match=r"no spool at .*--spool"):
        Spool.open_readonly(tmp_path / "nope.db")


def test_readonly_spool_shows_status_without_writing(tmp_path: Path) -> None:
    writer = _spool(tmp_path)
    _fill(writer, 2)
    writer.close()
    reader = Spool.open_readonly(tmp_path / "spool.db")
    assert reader.status().pending == 2
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.note("x", "y")


def test_a_spool_from_a_newer_agent_is_refused(tmp_path: Path) -> None:
    _spool(tmp_path).close()
    raw = sqlite3.connect(tmp_path / "spool.db")
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(SpoolError, match="newer telemetry-agent"):
        _spool(tmp_path)


def test_an_unwritable_spool_location_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(SpoolError, match="writable by the agent's user"):
        Spool.open(tmp_path / "file" / "spool.db")
