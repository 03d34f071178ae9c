"""History API: bucketed series for charts, as JSON or CSV, and raw readings as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field

from app.telemetry import (
    EARLIEST_MEASURED_AT,
    QUANTITY_NAME_PATTERN,
    SeriesHistory,
    normalize_device_name,
)
from app.web.auth import READ_REFUSALS, api_reader
from app.web.deps import DeviceName, services_of
from app.web.errors import UNAVAILABLE, InvalidParameter, invalid, refusal
from app.web.templating import iso

router = APIRouter(
    prefix="/api/v1/devices",
    tags=["history"],
    dependencies=[Depends(api_reader)],
    responses=READ_REFUSALS,
)

DEFAULT_SPAN = timedelta(hours=24)
MAX_AHEAD = timedelta(days=366)
MAX_RAW_SPAN = timedelta(days=31)
# Rules between parameters, or relative to the clock, which a schema cannot state.
RANGE_RULES = "`from` before `to`, both between 2000-01-01 and a year from now"
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: refusal("No device has that name, or it has no readings of that quantity."),
    422: invalid(f"A parameter breaks its rule ({RANGE_RULES}); `loc` says which."),
    503: UNAVAILABLE,
}


def _csv_answer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "headers": {
            "Content-Disposition": {
                "description": "An attachment with a file name (RFC 6266): an ASCII "
                "`filename` and the exact name as `filename*`.",
                "required": True,
                "schema": {"type": "string"},
            }
        },
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


Quantity = Annotated[
    str,
    Query(
        pattern=QUANTITY_NAME_PATTERN.pattern, examples=["temperature"], description="A quantity."
    ),
]
From = Annotated[
    AwareDatetime | None,
    Query(alias="from", description=f"Default: `to` − 24 h. {RANGE_RULES}."),
]
To = Annotated[AwareDatetime | None, Query(alias="to", description="Default: now.")]
# The maximum is TELEMETRY_MAX_SERIES_POINTS, a setting: api_document.py states it.
MaxPoints = Annotated[int, Query(ge=1, description="Most buckets to return.")]


def read_range(
    request: Request, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The range a read covers: `to` defaults to now, `from` to a day before; 422 if bad."""
    now = services_of(request).clock()
    latest = now + MAX_AHEAD
    # Nothing older than 2000 or far ahead is ever stored, and ranges near year 1 or
    # 9999 overflow the bucket arithmetic.
    for key, moment in (("from", start), ("to", end)):
        if moment is not None and not EARLIEST_MEASURED_AT <= moment <= latest:
            raise InvalidParameter(
                ("query", key),
                f"`{key}` must lie between 2000-01-01 and a year from now",
                "range_invalid",
            )
    end = end or now
    start = start or max(end - DEFAULT_SPAN, EARLIEST_MEASURED_AT)
    if end <= start:
        raise InvalidParameter(("query", "to"), "`to` must be after `from`", "range_invalid")
    return start, end


async def _history(
    request: Request, name: str, quantity: str, start: datetime, end: datetime, points: int
) -> SeriesHistory:
    """The buckets; refusals are answered by errors.py."""
    services = services_of(request)
    limit = services.settings.max_series_points
    if points > limit:
        raise InvalidParameter(
            ("query", "max_points"),
            f"max_points is at most {limit} (TELEMETRY_MAX_SERIES_POINTS)",
            "less_than_equal",
        )
    return await run_in_threadpool(services.history.series, name, quantity, start, end, points)


@router.get(
    "/{name}/series", response_model=SeriesOut, responses=_ERRORS, summary="A series, bucketed"
)
async def series(
    request: Request,
    name: DeviceName,
    quantity: Quantity,
    start: From = None,
    end: To = None,
    max_points: MaxPoints = 1000,
) -> Any:
    """At most max_points buckets of min, max, mean and count; empty buckets are gaps."""
    start, end = read_range(request, start, end)
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


def content_disposition(name: str, quantity: str, kind: str) -> str:
    """An attachment's file name as RFC 6266 wants it: ASCII `filename`, exact `filename*`.

    Device names may hold any printable character, quotes and non-ASCII letters
    included: the quoted `filename` keeps only ASCII letters, digits, `-`, `_` and `.`
    (for clients that know nothing else), `filename*` the exact name, UTF-8
    percent-encoded (RFC 8187).
    """
    exact = f"{name}-{quantity}-{kind}.csv"
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in exact)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(exact, safe='')}"


@router.get(
    "/{name}/series.csv",
    responses={**_ERRORS, 200: _csv_answer("time,min,max,mean,count per bucket.")},
    response_class=Response,
    summary="A series, bucketed, as CSV",
)
async def series_csv(
    request: Request,
    name: DeviceName,
    quantity: Quantity,
    start: From = None,
    end: To = None,
    max_points: MaxPoints = 1000,
) -> Response:
    """The same buckets as the chart shows: time,min,max,mean,count; empty fields in gaps."""
    start, end = read_range(request, start, end)
    result = await _history(request, name, quantity, start, end, max_points)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "min", "max", "mean", "count"])
    for b in result.buckets:
        writer.writerow([iso(b.start), _num(b.min), _num(b.max), _num(b.mean), b.count])
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": content_disposition(result.device, quantity, "buckets")},
    )


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)


@router.get(
    "/{name}/raw.csv",
    responses={
        **_ERRORS,
        422: invalid(f"A parameter breaks its rule ({RANGE_RULES}, at most 31 days apart)."),
        200: _csv_answer("time,value per stored reading, oldest first."),
    },
    response_class=Response,
    summary="Raw readings as CSV",
)
async def raw_csv(
    request: Request, name: DeviceName, quantity: Quantity, start: From = None, end: To = None
) -> Response:
    """Every stored reading in the range (at most 31 days), streamed: time,value."""
    name = normalize_device_name(name)  # as stored: the file name shows it so
    start, end = read_range(request, start, end)
    if end - start > MAX_RAW_SPAN:
        raise InvalidParameter(
            ("query", "from"), "a raw export covers at most 31 days", "range_too_long"
        )
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
        headers={"Content-Disposition": content_disposition(name, quantity, "raw")},
    )


def iso_us(moment: datetime) -> str:
    """A UTC timestamp with microseconds, as the reading was stored."""
    return moment.isoformat().replace("+00:00", "Z")
