"""The minutes behind a device page's charts, as frames that replace rather than add.

    apply():  each stored value marks its (quantity, minute) as changed
    tick:     one "points" frame per watched device page, with the whole aggregate of
              each changed minute as the device's view holds it (state.py)
    snapshot: every minute the view holds, and `window`, the first minute it holds
              completely

A chart computes each bucket of at most an hour that starts at or after `window` from
these minutes alone, the way the history computes it from the minute rollups
(static/js/charts.js), so the live chart and a fresh fetch agree; and since a frame
replaces minutes instead of adding to them, a replayed frame or one that crosses a fetch
changes nothing. A thousand readings a second still cost one small frame a second.

    {"window": ms, "quantities": {"temperature": [[minute ms, min, max, sum, count], ...]}}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime

from app.live.state import MINUTE, DeviceView, first_minute
from app.telemetry import MeasurementInserted, floor_time


class ChangedMinutes:
    """Per device and quantity, the minutes that received values since the last tick."""

    __slots__ = ("_changed",)

    def __init__(self) -> None:
        self._changed: dict[int, dict[str, set[datetime]]] = {}

    def add(self, event: MeasurementInserted) -> None:
        """Note the minute of a stored measurement, for each of its quantities."""
        quantities = self._changed.setdefault(event.device_id, {})
        minute = floor_time(event.measured_at, MINUTE)
        for name in event.values:
            quantities.setdefault(name, set()).add(minute)

    def forget(self, device_id: int) -> None:
        """Drop what changed of a device that is no longer shown."""
        self._changed.pop(device_id, None)

    def take(self) -> dict[int, dict[str, set[datetime]]]:
        """The changed minutes since the last take, by device; starts afresh."""
        changed, self._changed = self._changed, {}
        return changed


def points_json(
    view: DeviceView, now: datetime, changed: Mapping[str, Iterable[datetime]] | None = None
) -> str:
    """The device's "points" frame: the `changed` minutes, or (None) every minute held."""
    window = first_minute(now)
    parts = []
    for name in sorted(changed if changed is not None else view.quantities):
        quantity = view.quantities.get(name)
        if quantity is None:
            continue
        minutes = sorted(
            m
            for m in (changed[name] if changed is not None else quantity.minutes)
            if m >= window and m in quantity.minutes and _finite(quantity.minutes[m])
        )
        rows = ",".join(_minute_json(m, quantity.minutes[m]) for m in minutes)
        parts.append(f'"{name}":[{rows}]')
    window_ms = int(window.timestamp()) * 1000
    return f'{{"window":{window_ms},"quantities":{{{",".join(parts)}}}}}'


def _finite(aggregate: list[float]) -> bool:
    # Two readings of 1e308 sum to infinity, which JSON cannot carry: such a minute is
    # left out, and the chart keeps the history's value for its bucket.
    return all(math.isfinite(x) for x in aggregate)


def _minute_json(minute: datetime, aggregate: list[float]) -> str:
    total, count, low, high = aggregate
    return f"[{int(minute.timestamp()) * 1000},{low!r},{high!r},{total!r},{int(count)}]"
