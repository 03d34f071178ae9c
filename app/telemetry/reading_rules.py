"""The rules every reading follows, however it arrives: the ingest API or `telemetry import`.

One place decides what a storable reading is (its time, its values, how many), so that
the API and the importer cannot drift apart; each caller only says where a problem is
(a JSON location, a CSV line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.config import Settings
from app.telemetry.quantities import KNOWN_QUANTITIES, QuantityError, check_value
from app.telemetry.readings import EARLIEST_MEASURED_AT, MeasuredAtError, check_measured_at

_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class ReadingProblem:
    """One rule a reading breaks.

    `field` is where, inside the reading: ("measured_at",), ("values",) or ("values",
    quantity); `kind` is the API's error type; `reason` names the rule in a few words,
    for counting refusals by rule.
    """

    field: tuple[str, ...]
    message: str
    kind: str
    reason: str


_NO_PROBLEMS: tuple[ReadingProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadingRules:
    """The limits readings are checked against: from the settings and one moment, `now`."""

    now: datetime
    future_tolerance: timedelta
    oldest: datetime  # no reading older than this: see check_measured_at
    max_values: int
    # The bounds of a plausible time, computed once: `check` runs for every reading.
    _earliest: datetime = field(init=False, repr=False, compare=False)
    _latest: datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_earliest", max(self.oldest, EARLIEST_MEASURED_AT))
        object.__setattr__(self, "_latest", self.now + self.future_tolerance)

    @classmethod
    def from_settings(cls, settings: Settings, now: datetime) -> ReadingRules:
        """The rules the server applies at `now`."""
        return cls(
            now=now,
            future_tolerance=timedelta(seconds=settings.future_tolerance_seconds),
            oldest=now - timedelta(days=settings.raw_retention_days),
            max_values=settings.max_values_per_measurement,
        )

    def check(
        self, measured_at: datetime, values: Mapping[str, float]
    ) -> tuple[datetime, tuple[ReadingProblem, ...]]:
        """`measured_at` in UTC, and every rule the reading breaks (none: it may be stored)."""
        # The common case, checked inline and without allocating: this runs for every
        # reading of every batch, 60,000 a second at full ingest.
        if (
            measured_at.utcoffset() == _ZERO
            and self._plausible(measured_at)
            and len(values) <= self.max_values
        ):
            for name, value in values.items():
                known = KNOWN_QUANTITIES.get(name)
                if known is None or not known.minimum <= value <= known.maximum:
                    break
            else:
                return measured_at, _NO_PROBLEMS
        return self._problems(measured_at, values)

    def _problems(
        self, measured_at: datetime, values: Mapping[str, float]
    ) -> tuple[datetime, tuple[ReadingProblem, ...]]:
        """What `check` returns, for a reading the common case did not cover."""
        problems: list[ReadingProblem] = []
        # The common case is checked inline; the detailed checks only run to say what is wrong.
        if measured_at.utcoffset() != _ZERO or not self._plausible(measured_at):
            try:
                measured_at = check_measured_at(
                    measured_at, self.now, self.future_tolerance, self.oldest
                )
            except MeasuredAtError as exc:
                problems.append(
                    ReadingProblem(("measured_at",), str(exc), "measured_at_invalid", exc.reason)
                )
        if len(values) > self.max_values:
            problems.append(
                ReadingProblem(
                    ("values",),
                    f"at most {self.max_values} values per measurement, got {len(values)}",
                    "too_many_values",
                    "too many values",
                )
            )
        for name, value in values.items():
            known = KNOWN_QUANTITIES.get(name)
            if known is None or not known.minimum <= value <= known.maximum:
                try:
                    check_value(name, value)
                except QuantityError as exc:
                    problems.append(
                        ReadingProblem(("values", name), str(exc), "value_invalid", exc.reason)
                    )
        return measured_at, tuple(problems) if problems else _NO_PROBLEMS

    def _plausible(self, measured_at: datetime) -> bool:
        try:
            return self._earliest <= measured_at <= self._latest
        except OverflowError:
            return False
