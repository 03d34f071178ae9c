"""The JSON the API accepts and returns, as pydantic types (also the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Required

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    Strict,
    StrictFloat,
    with_config,
)
from typing_extensions import TypedDict

_EXAMPLES: list[JsonValue] = [
    {"measured_at": "2026-11-21T10:00:00Z", "values": {"temperature": 21.5, "humidity": 40.2}}
]


# The request bodies are TypedDicts rather than models: validated straight from the JSON
# bytes into plain dicts, they cost half as much per measurement, which matters for
# batches of a thousand. Strict datetimes accept RFC 3339 text and refuse numbers.


@with_config(ConfigDict(extra="forbid", json_schema_extra={"examples": _EXAMPLES}))
class MeasurementIn(TypedDict, total=False):
    """Values a device measured at one time."""

    measured_at: Annotated[
        Annotated[datetime, Strict()] | None,
        Field(
            description="When the values were measured (RFC 3339 with a time zone); "
            "the server's time if absent. At most 5 minutes ahead of the server clock."
        ),
    ]
    values: Required[
        Annotated[
            dict[str, StrictFloat],
            Field(
                min_length=1,
                description="Quantity name to value. Known quantities are range-checked: "
                "temperature -90..150 °C, humidity 0..100 %RH, pressure 300..1100 hPa, "
                "cpu_temperature -40..125 °C; other names must match ^[a-z][a-z0-9_]{0,63}$.",
            ),
        ]
    ]


@with_config(ConfigDict(extra="forbid"))
class BatchIn(TypedDict):
    """Several measurements at once, for example after an outage."""

    measurements: Annotated[
        list[MeasurementIn],
        Field(
            min_length=1,
            description="The measurements; at most TELEMETRY_MAX_BATCH_SIZE (1000).",
        ),
    ]


class RecordOut(BaseModel):
    """What happened to the values of the request. Counts are of values, not measurements."""

    stored: int = Field(description="Values stored now.")
    duplicates: int = Field(
        description="Values already stored for the same device, quantity and measured_at."
    )


class ErrorOut(BaseModel):
    """An error with a sentence saying what was wrong."""

    detail: str


class FieldError(BaseModel):
    """One problem with the body: where (`loc`), what (`msg`) and its kind (`type`)."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """Every problem found in the body; nothing of it was stored."""

    detail: list[FieldError]


class RateLimitedOut(BaseModel):
    """The request was refused by a rate limit; retry after `retry_after` seconds."""

    detail: str
    limit: str = Field(description="Which limit refused the request: `ip` or `device`.")
    retry_after: int


class LatestOut(BaseModel):
    """The newest value of one quantity."""

    value: float
    unit: str | None
    measured_at: datetime


class DeviceOut(BaseModel):
    """A device, its latest value per quantity and when it was last heard from."""

    name: str
    created_at: datetime
    last_seen_at: datetime | None = Field(description="When the device last posted readings.")
    revoked: bool
    latest: dict[str, LatestOut]


class DeviceListOut(BaseModel):
    """One page of devices in name order."""

    devices: list[DeviceOut]
    next_after: str | None = Field(
        description="Pass as `after` to get the next page; null on the last page."
    )


class HealthOut(BaseModel):
    """Liveness or readiness."""

    status: str
    detail: str | None = None
