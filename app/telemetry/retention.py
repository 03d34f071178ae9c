"""Deleting old data: raw readings after a month, rollups much later.

Deletes run in small transactions (a few thousand rows each) so that the ingest writer,
which shares SQLite's single write lock, never waits more than a moment. Raw rows are
keyed time first, so the oldest are at the start of the index and each chunk is one
short range; rollups are keyed series first, so they are pruned series by series.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, select

from app.db import translate_storage_errors, writer_engine
from app.telemetry.clock import Clock
from app.telemetry.models import Measurement, RollupHour, RollupMinute, Series

logger = logging.getLogger(__name__)

CHUNK = 5000
SERIES_PER_TRANSACTION = 100


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of data is kept."""

    raw: timedelta
    minutes: timedelta
    hours: timedelta


@dataclass(slots=True)
class Pruned:
    """What one pass deleted."""

    raw: int = 0
    minutes: int = 0
    hours: int = 0


class Retention:
    """Deletes what the policy no longer keeps (blocking: run it in a thread)."""

    def __init__(self, engine: Engine, clock: Clock, policy: RetentionPolicy) -> None:
        self._engine = writer_engine(engine)
        self._clock = clock
        self.policy = policy

    def prune(self) -> Pruned:
        """One pass over every table; returns the rows deleted."""
        now = self._clock()
        pruned = Pruned(raw=self._prune_raw(now - self.policy.raw))
        with translate_storage_errors(), self._engine.connect() as conn:
            series_ids = list(conn.execute(select(Series.id).order_by(Series.id)).scalars())
        for table, keep, field in (
            (RollupMinute, self.policy.minutes, "minutes"),
            (RollupHour, self.policy.hours, "hours"),
        ):
            cutoff = now - keep
            for start in range(0, len(series_ids), SERIES_PER_TRANSACTION):
                chunk = series_ids[start : start + SERIES_PER_TRANSACTION]
                with translate_storage_errors(), self._engine.begin() as conn:
                    result = conn.execute(
                        delete(table).where(table.series_id.in_(chunk), table.bucket < cutoff)
                    )
                setattr(pruned, field, getattr(pruned, field) + result.rowcount)
        if pruned.raw or pruned.minutes or pruned.hours:
            logger.info(
                "retention: deleted %d readings, %d minute and %d hour rollups",
                pruned.raw,
                pruned.minutes,
                pruned.hours,
            )
        return pruned

    def _prune_raw(self, cutoff: object) -> int:
        deleted = 0
        while True:
            with translate_storage_errors(), self._engine.begin() as conn:
                boundary = conn.execute(
                    select(Measurement.measured_at)
                    .where(Measurement.measured_at < cutoff)
                    .order_by(Measurement.measured_at)
                    .offset(CHUNK)
                    .limit(1)
                ).scalar()
                condition = [Measurement.measured_at < cutoff]
                if boundary is not None:
                    condition.append(Measurement.measured_at <= boundary)
                deleted += conn.execute(delete(Measurement).where(*condition)).rowcount
            if boundary is None:
                return deleted
