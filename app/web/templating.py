"""The one place templates are rendered: pages, and the fragments the live hub sends.

Autoescaping is on for every template, so a device named `<img src=x onerror=...>`
is text wherever it appears, in pages and in fragments pushed over SSE alike.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from app.live.state import DeviceView, QuantityView, Status
from app.resources import resource_path
from app.telemetry import KNOWN_QUANTITIES

SPARK_WIDTH = 120
SPARK_HEIGHT = 28
SPARK_MIN_STEPS = 10  # of the quantity's precision: the least span the height shows
SPARK_DOTS_BELOW = 13  # with this few minutes of data, every one is marked with a dot

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
    """The latest value with the quantity's precision (the browser reformats it in the
    viewer's language and preferred unit from `data-value`)."""
    if view.value is None:
        return "–"
    return f"{view.value:.{view.precision}f}"


def iso(moment: datetime | None) -> str:
    """A UTC timestamp for `datetime` attributes and the API."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# Addresses in a notification's plain text that become links: http(s) URLs, and paths
# inside the dashboard ("/devices/shed"), but not "//host" or "/\host", which browsers
# read as another host, nor "javascript:" or any other scheme. An address starts a word
# (not "and/or", not "</b>"); quotes and angle brackets end it; punctuation that ends a
# sentence is left out of the link.
LINKABLE = re.compile(
    r"(?<![^\s(\[\"'])(?:https?://[A-Za-z0-9.-]+(?::\d+)?|/(?![/\\]))"
    r"[A-Za-z0-9\-._~/?#\[\]@!$&()*+,;=%:]*"
)
TRAILING = ".,;:!?)]"
# Line breaks and other control characters, which a one-line text (a title, a name)
# shows as a space.
BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def linkify(text: str) -> Markup:
    """Plain text, escaped, with its web addresses and dashboard paths made links."""
    parts: list[str] = []
    last = 0
    for match in LINKABLE.finditer(text):
        address = match.group()
        while address and address[-1] in TRAILING:
            if address[-1] == ")" and address.count("(") >= address.count(")"):
                break  # a parenthesis of the address (a Wikipedia page, say)
            address = address[:-1]
        if address in ("/", "http://", "https://") or address.endswith("://"):
            continue
        start = match.start()
        parts.append(escape(text[last:start]))
        parts.append(Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(address))
        last = start + len(address)
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def one_line(text: str) -> str:
    """Text on one line: every run of line breaks and control characters is one space."""
    return BREAKS.sub(" ", text).strip()


class ToastContent(Protocol):
    """What a toast shows of a notification (app.accounts' NotificationInfo)."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def link(self) -> str | None: ...
    @property
    def sender(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Sparkline:
    """An SVG drawing of a quantity's last hour: the line, and dots where a point would
    otherwise be too small to see (a lone minute, or every point when there are few)."""

    line: str
    dots: str
    points: int  # minutes with readings


def sparkline(points: list[float | None], precision: int) -> Sparkline:
    """Draw the points, with a gap wherever a point is missing.

    The vertical scale spans at least SPARK_MIN_STEPS steps of the quantity's precision,
    so two readings a tenth of a degree apart draw a gentle slope, not a wall.
    """
    present = [p for p in points if p is not None]
    if not present:
        return Sparkline("", "", 0)
    low, high = min(present), max(present)
    least = SPARK_MIN_STEPS * 10.0**-precision
    if high - low < least:
        middle = (high + low) / 2
        low, high = middle - least / 2, middle + least / 2
    span = high - low
    if not 0 < span < math.inf:  # magnitudes past what a float's steps or range can span
        low, span = 0.0, math.inf  # drawn flat, along the bottom
    base, scale = SPARK_HEIGHT - 3, (SPARK_HEIGHT - 6) / span
    every_point = len(present) <= SPARK_DOTS_BELOW
    count = len(points)
    line: list[str] = []
    dots: list[str] = []
    start = 0
    while start < count:
        if points[start] is None:
            start += 1
            continue
        end = start + 1
        while end < count and points[end] is not None:
            end += 1
        ys = tuple(base - (p - low) * scale for p in points[start:end] if p is not None)
        line.append(_run_path(count, start, end - start) % ys)
        if every_point or end - start == 1:
            dots.append(_run_dots(count, start, end - start) % ys)
        start = end
    return Sparkline(" ".join(line), " ".join(dots), len(present))


# A cold overview of 500 devices draws 1,500 sparklines, and formatting numbers one by
# one was most of their cost: a run of points is a %-format of its ys, the xs formatted
# once per (width, start, length).


@functools.lru_cache(maxsize=4096)
def _run_path(count: int, start: int, length: int) -> str:
    """ "M0.0 %.1f L2.0 %.1f ...": one unbroken run of points, as a format of their ys."""
    step = SPARK_WIDTH / max(count - 1, 1)
    return " ".join(
        f"{'L' if index > start else 'M'}{index * step:.1f} %.1f"
        for index in range(start, start + length)
    )


@functools.lru_cache(maxsize=4096)
def _run_dots(count: int, start: int, length: int) -> str:
    """A dot at each point of a run: round caps draw a zero-length line as a dot."""
    step = SPARK_WIDTH / max(count - 1, 1)
    return " ".join(f"M{index * step:.1f} %.1fh0" for index in range(start, start + length))


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
        self.env.filters.update(linkify=linkify, one_line=one_line)

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
                "raw": "" if q.value is None else repr(q.value),
                "precision": q.precision,
                "unit": q.unit or "",
                "spark": sparkline(q.sparkline(now), q.precision),
                "measured_at": q.measured_at,
                "stale": q.measured_at is not None and view.is_stale(q.measured_at, now),
            }
            for q in sorted(view.quantities.values(), key=lambda q: q.name)
        ]
        heard_at, newest_at = view.heard_at, view.last_at
        return self.env.get_template("_device_tile.html").render(
            view=view,
            quantities=quantities,
            status=view.status,
            newest_at=newest_at,
            # A backlog arrived after a silence: say both, so "offline" is not a riddle.
            heard_later=heard_at
            if heard_at and newest_at and view.is_stale(newest_at, heard_at)
            else None,
        )

    def grid(self, views: Iterable[DeviceView], tiles: Mapping[int, str]) -> str:
        """Every tile, in the given order, from the already rendered fragments."""
        return self.env.get_template("_grid.html").render(
            # Tiles come from _device_tile.html, autoescaped when they were rendered.
            tiles=[Markup(tiles[view.id]) for view in views if view.id in tiles]  # noqa: S704
        )

    def unread(self, count: int) -> str:
        """A user's unread-notifications badge."""
        return self.env.get_template("_unread.html").render(unread=count)

    def toast(self, notification: ToastContent) -> str:
        """One notification's toast: the same fragment in every tab of every recipient."""
        return self.env.get_template("_toast.html").render(notification=notification)
