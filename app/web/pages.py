"""The HTML pages: the overview of every device, and one device's page with its charts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from app.telemetry import (
    DeviceError,
    StorageUnavailable,
    normalize_device_name,
    precision_of,
    unit_of,
)
from app.web.deps import live_device_id, services_of, show_new_devices

router = APIRouter(include_in_schema=False)

RANGES = {
    "1h": ("1 hour", timedelta(hours=1)),
    "6h": ("6 hours", timedelta(hours=6)),
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
}

DEFAULT_RANGE = "24h"  # the widest range a page opens on by itself


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> HTMLResponse:
    """Every device's tile, kept current over SSE."""
    services = services_of(request)
    await show_new_devices(services)
    html = services.templates.render("overview.html", grid=Markup(services.hub.grid_html()))  # noqa: S704
    return HTMLResponse(html)


async def _fitting_range(request: Request, device_id: int, now: datetime) -> str:
    """The smallest preset that shows all of the device's data of the last day, so ten
    minutes of data fill the chart instead of a sliver at its right edge."""
    day = RANGES[DEFAULT_RANGE][1]
    history = services_of(request).history
    try:
        first = await run_in_threadpool(history.first_since, device_id, now - day)
    except StorageUnavailable:
        return DEFAULT_RANGE
    if first is None:
        return DEFAULT_RANGE
    return next(key for key, (_, span) in RANGES.items() if span >= min(now - first, day))


def _not_found(request: Request, message: str) -> HTMLResponse:
    templates = services_of(request).templates
    return HTMLResponse(templates.render("not_found.html", message=message), status_code=404)


@router.get("/devices/{name}", response_class=HTMLResponse)
async def device_page(
    request: Request,
    name: str,
    range_: Annotated[str | None, Query(alias="range")] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> HTMLResponse:
    """A device's tile and a chart per quantity over the chosen range."""
    services = services_of(request)
    try:
        device_id = await live_device_id(services, normalize_device_name(name))
    except DeviceError:
        device_id = None
    if device_id is None:
        return _not_found(request, f"No device is named {name!r}.")
    now = services.clock()
    live = start is None and end is None
    if live:
        if range_ not in RANGES:
            range_ = await _fitting_range(request, device_id, now)
        end, start = now, now - RANGES[range_][1]
    else:
        end = end or now
        start = start or end - timedelta(hours=24)
        range_ = ""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        return _not_found(request, "The range needs `from` before `to`, both with a time zone.")
    quantities = services.hub.quantities(device_id)
    html = services.templates.render(
        "device.html",
        name=services.hub.views[device_id].name,
        tile=Markup(services.hub.tile_html(device_id)),  # noqa: S704  (autoescaped template)
        quantities=quantities,
        units={q: unit_of(q) for q in quantities},
        precisions={q: precision_of(q) for q in quantities},
        ranges=[(key, label) for key, (label, _) in RANGES.items()],
        range=range_,
        start=start,
        end=end,
        live=live,
    )
    return HTMLResponse(html)
