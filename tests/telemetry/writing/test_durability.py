"""Durable answers: the WAL is synced before anyone hears back, failures are handled.

os.fsync and os.open are the edge of the process (the kernel), so these tests wrap
them to watch, delay or fail the sync; everything else is the real writer on a real
SQLite file.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
from sqlalchemy import Engine

from app import schema_migrations
from app.bus import InProcessBus
from app.db import StorageUnavailable, create_db_engine
from app.telemetry import Measurements, Reading
from app.telemetry.writing import wal
from tests.factories import make_settings, register

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def reading(seconds: int) -> Reading:
    return Reading(T0 + timedelta(seconds=seconds), {"temperature": 20.0})


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[Engine]:
    engine = create_db_engine(make_settings(sqlite_url, sqlite_busy_timeout_ms=2000))
    yield engine
    engine.dispose()


@pytest.fixture
async def measurements(engine: Engine) -> AsyncIterator[Measurements]:
    # A clock that never moves: no rollup flush or timed checkpoint runs unasked, so
    # what the writer and the fsync thread do is only what each test makes them do.
    context = Measurements(
        engine,
        InProcessBus(),
        queue_limit=100,
        batch_rows=5000,
        max_quantities_per_device=8,
        monotonic=lambda: 0.0,
    )
    await context.start()
    yield context
    await context.stop()


class FsyncSpy:
    """Records which files are fsynced; can hold a sync, or fail it once."""

    def __init__(self, real: Callable[[int], None]) -> None:
        self.real = real
        self.paths: list[str] = []
        self.entered = threading.Event()  # a sync has begun
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next: int | None = None

    def __call__(self, fd: int) -> None:
        self.paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        self.entered.set()
        self.gate.wait(timeout=10)
        if self.fail_next is not None:
            code, self.fail_next = self.fail_next, None
            raise OSError(code, os.strerror(code))
        self.real(fd)


@pytest.fixture
def fsync(monkeypatch: pytest.MonkeyPatch) -> FsyncSpy:
    spy = FsyncSpy(os.fsync)
    monkeypatch.setattr(os, "fsync", spy)
    return spy


async def test_an_answer_waits_for_the_fsync_of_the_wal(
    engine: Engine, measurements: Measurements, fsync: FsyncSpy, sqlite_url: str
) -> None:
    (device,) = register(engine, "greenhouse")
    fsync.gate.clear()  # the disk is slow
    answered = anyio.Event()

    async def post() -> None:
        await measurements.record(device, [reading(0)], received_at=T0)
        answered.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(post)
        assert await anyio.to_thread.run_sync(fsync.entered.wait, 5), "no fsync began"
        await anyio.wait_all_tasks_blocked()  # whatever could answer it has run
        assert not answered.is_set(), "answered before the data reached the disk"
        fsync.gate.set()
        with anyio.fail_after(5):
            await answered.wait()
    database = os.path.realpath(sqlite_url.removeprefix("sqlite:///"))
    assert f"{database}-wal" in fsync.paths


async def test_one_fsync_serves_many_transactions(
    engine: Engine, measurements: Measurements, fsync: FsyncSpy
) -> None:
    (device,) = register(engine, "greenhouse")
    fsync.gate.clear()

    async def post(i: int) -> None:
        await measurements.record(device, [reading(i)], received_at=T0)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(post, 0)
        assert await anyio.to_thread.run_sync(fsync.entered.wait, 5), "no fsync began"
        for i in range(1, 50):  # arriving one after another, during the slow sync
            tasks.start_soon(post, i)
            await anyio.lowlevel.checkpoint()
        # All committed (counted by the writer's thread, which signals no event), all
        # waiting for the disk.
        with anyio.fail_after(10):
            while measurements.stats.rows < 50:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        fsync.gate.set()
    assert measurements.stats.requests == 50
    assert measurements.stats.commits > 2, "the requests should have come in several groups"
    assert len(fsync.paths) == 2  # the slow one, then one for everything committed during it


async def test_a_failed_fsync_stops_all_writes_until_restart(
    engine: Engine, measurements: Measurements, fsync: FsyncSpy
) -> None:
    (device,) = register(engine, "greenhouse")
    fsync.fail_next = errno.EIO
    with pytest.raises(StorageUnavailable, match=r"fsync .* failed"):
        await measurements.record(device, [reading(0)], received_at=T0)
    refusal = measurements.write_refusal()
    assert refusal is not None and "restarted" in refusal.reason
    # The disk works again, but what it dropped cannot be known: still refused.
    with pytest.raises(StorageUnavailable, match="restarted"):
        await measurements.record(device, [reading(1)], received_at=T0)


async def test_a_wal_that_cannot_be_opened_is_a_503_and_nothing_more(
    engine: Engine, measurements: Measurements, monkeypatch: pytest.MonkeyPatch
) -> None:
    (device,) = register(engine, "greenhouse")
    real_open = os.open
    calls = {"n": 0}

    def open_failing_once(path: Any, flags: int, *args: Any) -> int:
        if str(path).endswith("-wal") and calls["n"] == 0:
            calls["n"] += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", open_failing_once)
    with pytest.raises(StorageUnavailable, match="Too many open files"):
        await measurements.record(device, [reading(0)], received_at=T0)
    refusal = measurements.write_refusal()
    assert refusal is not None and "restarted" not in refusal.reason  # it may pass
    # The fsync thread lives on; the resend is a duplicate answered after a good fsync.
    result = await measurements.record(device, [reading(0)], received_at=T0)
    assert (result.stored, result.duplicates) == (0, 1)
    assert measurements.write_refusal() is None


async def test_a_database_reached_through_a_symlink_is_synced_where_it_lives(
    tmp_path: Path, fsync: FsyncSpy
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    url = f"sqlite:///{tmp_path / 'link' / 'telemetry.db'}"
    schema_migrations.upgrade(url)
    engine = create_db_engine(make_settings(url))
    context = Measurements(
        engine, InProcessBus(), queue_limit=10, batch_rows=100, max_quantities_per_device=8
    )
    await context.start()
    try:
        (device,) = register(engine, "greenhouse")
        await context.record(device, [reading(0)], received_at=T0)
    finally:
        await context.stop()
        engine.dispose()
    assert str(real / "telemetry.db-wal") in fsync.paths


async def test_the_wal_stays_bounded_under_steady_writes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.setattr(wal, "WAL_LIMIT_BYTES", 256 * 1024)
    context = Measurements(
        engine, InProcessBus(), queue_limit=100, batch_rows=5000, max_quantities_per_device=8
    )
    await context.start()
    wal_file = Path(sqlite_url.removeprefix("sqlite:///") + "-wal")
    sizes = []
    try:
        (device,) = register(engine, "greenhouse")
        for batch in range(60):  # about 3 MB of pages written, never a pause
            readings = [
                Reading(T0 + timedelta(seconds=batch * 1000 + i), {"a": 1.0, "b": 2.0, "c": 3.0})
                for i in range(500)
            ]
            await context.record(device, readings, received_at=T0)
            sizes.append(os.path.getsize(wal_file))
    finally:
        await context.stop()
    assert max(sizes) > 256 * 1024, "the test wrote too little to exercise the limit"
    assert sizes[-1] < 3 * 256 * 1024, sizes


async def test_the_writer_waits_for_a_lock_held_briefly_elsewhere(
    engine: Engine, measurements: Measurements, sqlite_url: str
) -> None:
    (device,) = register(engine, "greenhouse")
    blocker = sqlite3.connect(
        sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    blocker.execute("BEGIN IMMEDIATE")  # as `telemetry device add` would, for a moment

    def release() -> None:
        blocker.execute("COMMIT")

    timer = threading.Timer(0.3, release)
    timer.start()
    try:
        result = await measurements.record(device, [reading(0)], received_at=T0)
    finally:
        timer.join()
        blocker.close()
    assert result.stored == 1


async def test_the_writers_connection_never_returns_to_the_pool(
    engine: Engine, sqlite_url: str
) -> None:
    (device,) = register(engine, "greenhouse")
    context = Measurements(
        engine, InProcessBus(), queue_limit=10, batch_rows=100, max_quantities_per_device=8
    )
    await context.start()
    await context.record(device, [reading(0)], received_at=T0)
    await context.stop()
    with engine.connect() as conn:  # whatever the pool hands out has the server's pragmas
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2000
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
