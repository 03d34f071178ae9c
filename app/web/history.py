"""History API: bucketed series for charts, as JSON or CSV, and raw readings as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field

from app.telemetry import EARLIEST_MEASURED_AT, SeriesHistory
from app.web.api_models import ErrorOut
from app.web.deps import services_of
from app.web.errors import BadRange
from app.web.templating import iso

router = APIRouter(prefix="/api/v1/devices", tags=["history"])

DEFAULT_SPAN = timedelta(hours=24)
MAX_AHEAD = timedelta(days=366)
MAX_RAW_SPAN = timedelta(days=31)
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such device, or it has no such quantity."},
    422: {"model": ErrorOut, "description": "The range or max_points is not usable."},
    503: {"model": ErrorOut, "description": "The database does not answer now."},
}


class BucketOut(BaseModel):
    """One bucket; min, max and mean are null where the device sent nothing (a gap)."""

    t: datetime = Field(description="Start of the bucket.")
    min: float | None
    max: float | None
    mean: float | None
    count: int


class SeriesOut(BaseModel):
    """Buckets of one quantity of one device over a range."""

    device: str
    quantity: str
    unit: str | None
    from_: datetime = Field(alias="from")
    to: datetime
    bucket_seconds: float
    level: str = Field(description="The rollup read: `minute` or `hour`.")
    buckets: list[BucketOut]


Quantity = Annotated[str, Query(max_length=64, description="e.g. temperature")]
From = Annotated[AwareDatetime | None, Query(alias="from", description="Default: `to` − 24 h.")]
To = Annotated[AwareDatetime | None, Query(alias="to", description="Default: now.")]


def _range(
    request: Request, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    now = services_of(request).clock()
    end = end or now
    latest = now + MAX_AHEAD
    # Nothing older than 2000 or far ahead is ever stored, and ranges near year 1 or
    # 9999 overflow the bucket arithmetic.
    if not EARLIEST_MEASURED_AT <= end <= latest or not (
        start is None or EARLIEST_MEASURED_AT <= start <= latest
    ):
        raise BadRange("`from` and `to` must lie between 2000-01-01 and a year from now")
    return (start or max(end - DEFAULT_SPAN, EARLIEST_MEASURED_AT)), end


async def _history(
    request: Request, name: str, quantity: str, start: datetime, end: datetime, points: int
) -> SeriesHistory:
    """The buckets; refusals (HistoryError, BadRange) are answered by errors.py."""
    services = services_of(request)
    limit = services.settings.max_series_points
    if points > limit:
        raise BadRange(f"max_points is at most {limit} (TELEMETRY_MAX_SERIES_POINTS)")
    return await run_in_threadpool(services.history.series, name, quantity, start, end, points)


@router.get(
    "/{name}/series", response_model=SeriesOut, responses=_ERRORS, summary="A series, bucketed"
)
async def series(
    request: Request,
    name: str,
    quantity: Quantity,
    start: From = None,
    end: To = None,
    max_points: Annotated[int, Query(ge=1, description="Most buckets to return.")] = 1000,
) -> Any:
    """At most max_points buckets of min, max, mean and count; empty buckets are gaps."""
    start, end = _range(request, start, end)
    result = await _history(request, name, quantity, start, end, max_points)
    return SeriesOut.model_validate(
        {
            "device": result.device,
            "quantity": result.quantity,
            "unit": result.unit,
            "from": result.start,
            "to": result.end,
            "bucket_seconds": result.width.total_seconds(),
            "level": result.level,
            "buckets": [
                {"t": b.start, "min": b.min, "max": b.max, "mean": b.mean, "count": b.count}
                for b in result.buckets
            ],
        }
    ).model_dump(by_alias=True, mode="json")


def _csv_name(name: str, quantity: str, kind: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return f'attachment; filename="{safe}-{quantity}-{kind}.csv"'


@router.get(
    "/{name}/series.csv",
    responses={**_ERRORS, 200: {"content": {"text/csv": {}}}},
    response_class=Response,
    summary="A series, bucketed, as CSV",
)
async def series_csv(
    request: Request,
    name: str,
    quantity: Quantity,
    start: From = None,
    end: To = None,
    max_points: Annotated[int, Query(ge=1)] = 1000,
) -> Response:
    """The same buckets as the chart shows: time,min,max,mean,count; empty fields in gaps."""
    start, end = _range(request, start, end)
    result = await _history(request, name, quantity, start, end, max_points)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "min", "max", "mean", "count"])
    for b in result.buckets:
        writer.writerow([iso(b.start), _num(b.min), _num(b.max), _num(b.mean), b.count])
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": _csv_name(result.device, quantity, "buckets")},
    )


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)


@router.get(
    "/{name}/raw.csv",
    responses={**_ERRORS, 200: {"content": {"text/csv": {}}}},
    response_class=Response,
    summary="Raw readings as CSV",
)
async def raw_csv(
    request: Request, name: str, quantity: Quantity, start: From = None, end: To = None
) -> Response:
    """Every stored reading in the range (at most 31 days), streamed: time,value."""
    start, end = _range(request, start, end)
    if end - start > MAX_RAW_SPAN:
        raise BadRange("a raw export covers at most 31 days")
    rows = services_of(request).history.raw(name, quantity, start, end)
    # The first chunk is read before the response starts, so a 404 is still an answer.
    first = await run_in_threadpool(next, rows, None)

    def lines() -> Iterator[str]:
        yield "time,value\n"
        if first is not None:
            yield f"{iso_us(first[0])},{first[1]!r}\n"
        for at, value in rows:
            yield f"{iso_us(at)},{value!r}\n"

    return StreamingResponse(
        lines(),
        media_type="text/csv",
        headers={"Content-Disposition": _csv_name(name, quantity, "raw")},
    )


def iso_us(moment: datetime) -> str:
    """A UTC timestamp with microseconds, as the reading was stored."""
    return moment.isoformat().replace("+00:00", "Z")
