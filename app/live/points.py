"""New points for the charts of open device pages, folded between ticks.

    add():  each stored value widens the span of its quantity and minute since the tick
            [first ms, last ms, min, max, sum, count]
    tick:   the spans go out as one "points" frame per device page, then start afresh

A page's chart adds each span to the bucket it falls in (static/js/charts.js). Spans
never cross a minute, the unit every chart bucket is a multiple of, so a span belongs
to exactly one bucket, as its readings do in the history the chart was fetched from.
A thousand readings a second cost one small frame a second, and a replayed frame is
recognised by its id and folded once.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.telemetry.events import MeasurementInserted

Span = list[float]  # [first ms, last ms, min, max, sum, count]
MINUTE_MS = 60_000


class PointSpans:
    """Per device and quantity, what was stored since the last tick."""

    __slots__ = ("_spans",)

    def __init__(self) -> None:
        self._spans: dict[int, dict[str, dict[int, Span]]] = {}

    def add(self, event: MeasurementInserted) -> None:
        """Fold a stored measurement's values into its device's spans."""
        spans = self._spans.setdefault(event.device_id, {})
        at = event.measured_at.timestamp() * 1000
        minute = int(at // MINUTE_MS)
        for name, value in event.values.items():
            minutes = spans.get(name)
            if minutes is None:
                minutes = spans[name] = {}
            span = minutes.get(minute)
            if span is None:
                minutes[minute] = [at, at, value, value, value, 1]
            else:
                span[0], span[1] = min(span[0], at), max(span[1], at)
                span[2], span[3] = min(span[2], value), max(span[3], value)
                span[4] += value
                span[5] += 1

    def take(self) -> dict[int, dict[str, dict[int, Span]]]:
        """The spans since the last take, by device; starts afresh."""
        spans, self._spans = self._spans, {}
        return spans


def points_json(spans: Mapping[str, Mapping[int, Span]]) -> str:
    """A device's spans as the JSON of its "points" frame: quantity -> spans by time."""
    parts = [
        f'"{name}":[' + ",".join(_span_json(minutes[m]) for m in sorted(minutes)) + "]"
        for name, minutes in sorted(spans.items())
    ]
    return "{" + ",".join(parts) + "}"


def _span_json(span: Span) -> str:
    return f"[{span[0]:.0f},{span[1]:.0f},{span[2]!r},{span[3]!r},{span[4]!r},{int(span[5])}]"
