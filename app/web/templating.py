"""The one place templates are rendered: pages, and the fragments the live hub sends.

Autoescaping is on for every template, so a device named `<img src=x onerror=...>`
is text wherever it appears, in pages and in fragments pushed over SSE alike.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from app.live.state import DeviceView, QuantityView, Status
from app.resources import resource_path
from app.telemetry import KNOWN_QUANTITIES

SPARK_WIDTH = 120
SPARK_HEIGHT = 28

STATUS_LABELS = {
    Status.LIVE: "Live",
    Status.LATE: "Late",
    Status.OFFLINE: "Offline",
    Status.NEVER: "No data yet",
}


def quantity_label(name: str) -> str:
    """A quantity's display name."""
    known = KNOWN_QUANTITIES.get(name)
    return known.label if known else name.replace("_", " ").capitalize()


def format_value(view: QuantityView) -> str:
    """The latest value with the quantity's precision."""
    if view.value is None:
        return "–"
    return f"{view.value:.{view.precision}f}"


def iso(moment: datetime | None) -> str:
    """A UTC timestamp for `datetime` attributes and the API."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sparkline_path(points: list[float | None]) -> str:
    """An SVG path of the points, with a gap wherever a point is missing."""
    present = [p for p in points if p is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    count = len(points)
    runs: list[str] = []
    start = 0
    while start < count:
        if points[start] is None:
            start += 1
            continue
        end = start + 1
        while end < count and points[end] is not None:
            end += 1
        ys = tuple(
            SPARK_HEIGHT - 2 - (p - low) / span * (SPARK_HEIGHT - 4)
            for p in points[start:end]
            if p is not None
        )
        runs.append(_run_path(count, start, end - start) % ys)
        start = end
    return " ".join(runs)


@functools.lru_cache(maxsize=4096)
def _run_path(count: int, start: int, length: int) -> str:
    # "M0.0 %.1f L2.0 %.1f ...": one unbroken run of points as a %-format of their ys,
    # the xs formatted once. A cold overview of 500 devices draws 1,500 sparklines, and
    # formatting numbers one by one was most of their cost.
    step = SPARK_WIDTH / max(count - 1, 1)
    path = " ".join(
        f"{'L' if index > start else 'M'}{index * step:.1f} %.1f"
        for index in range(start, start + length)
    )
    return path if length > 1 else path + " h0.1"  # a lone minute: a dot (round caps)


class Templates:
    """The Jinja environment of one app, and the renderer the live hub uses."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(resource_path("templates")),
            autoescape=select_autoescape(["html"], default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            quantity_label=quantity_label,
            status_label=STATUS_LABELS.__getitem__,
            iso=iso,
        )

    def render(self, template: str, /, **context: Any) -> str:
        """A whole page."""
        return self.env.get_template(template).render(**context)

    # The live hub's Renderer protocol.

    def tile(self, view: DeviceView, now: datetime) -> str:
        """One device's tile, the same fragment on the overview and on its own page."""
        quantities = [
            {
                "name": q.name,
                "label": quantity_label(q.name),
                "value": format_value(q),
                "unit": q.unit or "",
                "spark": sparkline_path(q.sparkline(now)),
            }
            for q in sorted(view.quantities.values(), key=lambda q: q.name)
        ]
        return self.env.get_template("_device_tile.html").render(
            view=view, quantities=quantities, status=view.status
        )

    def grid(self, views: Iterable[DeviceView], tiles: Mapping[int, str]) -> str:
        """Every tile, in the given order, from the already rendered fragments."""
        return self.env.get_template("_grid.html").render(
            # Tiles come from _device_tile.html, autoescaped when they were rendered.
            tiles=[Markup(tiles[view.id]) for view in views if view.id in tiles]  # noqa: S704
        )
