"""The HTML pages: the overview of every device, and one device's page with its charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from app.telemetry import (
    DeviceError,
    StorageUnavailable,
    device_name_key,
    normalize_device_name,
    precision_of,
    unit_of,
)
from app.web.auth import page_reader
from app.web.deps import Services, live_device_id, services_of, show_new_devices
from app.web.page_render import render_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_reader)])

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
    html = render_page(request, "overview.html", grid=Markup(services.hub.grid_html()))  # noqa: S704
    return HTMLResponse(html)


async def _fitting_range(request: Request, device_id: int, now: datetime) -> str:
    """The smallest preset that shows all of the device's data of the last day, so ten
    minutes of data fill the chart instead of a sliver at its right edge; for a device
    silent for longer, the smallest that shows its last readings."""
    day = RANGES[DEFAULT_RANGE][1]
    services = services_of(request)
    try:
        first = await run_in_threadpool(services.history.first_since, device_id, now - day)
    except StorageUnavailable:
        return DEFAULT_RANGE
    if first is None:
        newest = services.hub.views[device_id].last_at
        if newest is None:
            return DEFAULT_RANGE
        first = newest - timedelta(hours=1)  # an hour of it, not its last reading alone
    return next((key for key, (_, span) in RANGES.items() if span >= now - first), DEFAULT_RANGE)


def _named_alike(services: Services, name: str) -> str | None:
    """The name of the device named `name` without regard to case, if there is one."""
    try:
        key = device_name_key(normalize_device_name(name))
    except DeviceError:
        return None
    return next(
        (v.name for v in services.hub.views.values() if device_name_key(v.name) == key), None
    )


async def _quantities(services: Services, device_id: int) -> list[str]:
    """The quantities the device has readings of: those the live views saw, and those
    stored by other means (`telemetry import`, another worker) that they did not."""
    name = services.hub.views[device_id].name
    try:
        stored = await run_in_threadpool(services.history.quantities, name)
    except (StorageUnavailable, DeviceError):
        stored = []
    return sorted({*services.hub.quantities(device_id), *stored})


def _chosen_range(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime] | None:
    """A from/to range in UTC (`to` defaulting to now, `from` to a day before `to`), or
    None if it is not one: without a time zone, backwards, or beyond what a datetime
    holds once in UTC (0001-01-01T00:00+01:00 is in year 0)."""
    if (start and start.tzinfo is None) or (end and end.tzinfo is None):
        return None
    try:
        end = (end or now).astimezone(UTC)
        start = (start or end - timedelta(hours=24)).astimezone(UTC)
    except OverflowError:
        return None
    return (start, end) if start < end else None


def _not_found(request: Request, message: str, status_code: int = 404) -> HTMLResponse:
    title = "Not found" if status_code == 404 else "Bad request"
    page = render_page(request, "not_found.html", message=message, title=title)
    return HTMLResponse(page, status_code=status_code)


@router.get("/devices/{name}", response_class=HTMLResponse)
async def device_page(
    request: Request,
    name: str,
    range_: Annotated[str | None, Query(alias="range")] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Response:
    """A device's tile and a chart per quantity over the chosen range."""
    services = services_of(request)
    try:
        device_id = await live_device_id(services, normalize_device_name(name))
    except DeviceError:
        device_id = None
    if device_id is None:
        alike = _named_alike(services, name)
        if alike is not None:  # names are unique without regard to case: the one meant
            url = request.url_for("device_page", name=alike).replace(query=request.url.query)
            return RedirectResponse(str(url), status_code=307)
        return _not_found(request, f"No device is named {name!r}.")
    now = services.clock()
    live = start is None and end is None
    if live:
        if range_ not in RANGES:
            range_ = await _fitting_range(request, device_id, now)
        end, start = now, now - RANGES[range_][1]
    else:
        chosen = _chosen_range(start, end, now)
        if chosen is None:
            return _not_found(
                request,
                "A chosen range needs “from” before “to”, both with a time zone, and both "
                "between the years 1 and 9999.",
                status_code=400,
            )
        start, end = chosen
        range_ = ""
    quantities = await _quantities(services, device_id)
    html = render_page(
        request,
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
