"""The JSON the API accepts and returns, as pydantic types (also the OpenAPI schema).

What the types cannot say about a request body (the quantity names, the plausible
range of each known quantity) is declared here from the same tables the server checks
against; the bounds that come from the settings are added per app (api_document.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Required

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

from app.telemetry import KNOWN_QUANTITIES, QUANTITY_NAME_PATTERN

# Without measured_at: an example with a fixed time would be refused once it is older
# than the raw readings the server keeps.
_EXAMPLES: list[JsonValue] = [{"values": {"temperature": 21.5, "humidity": 40.2}}]
# Values are finite: the largest finite double, either way.
FINITE = {"minimum": -1.7976931348623157e308, "maximum": 1.7976931348623157e308}


def _values_schema(schema: dict[str, Any]) -> None:
    """Quantity names and, for the known quantities, the plausible ranges the server checks."""
    schema["propertyNames"] = {"pattern": QUANTITY_NAME_PATTERN.pattern}
    schema["properties"] = {
        q.name: {
            "type": "number",
            "minimum": q.minimum,
            "maximum": q.maximum,
            "description": f"{q.label} in {q.unit}.",
        }
        for q in KNOWN_QUANTITIES.values()
    }
    schema["additionalProperties"] = {"type": "number", **FINITE}


# The request bodies are TypedDicts rather than models: validated straight from the JSON
# bytes into plain dicts, they cost half as much per measurement, which matters for
# batches of a thousand. Strict datetimes accept RFC 3339 text and refuse numbers.


@with_config(ConfigDict(extra="forbid", json_schema_extra={"examples": _EXAMPLES}))
class MeasurementIn(TypedDict, total=False):
    """Values a device measured at one time."""

    measured_at: Annotated[
        Annotated[datetime, Strict()] | None,
        Field(
            description="When the values were measured: RFC 3339 with a time zone, seconds "
            "00-59; the server's time if absent or null. Not before 2000, not older than "
            "the raw readings the server keeps, and not ahead of the server clock by more "
            "than its tolerance (relative to the clock, so stated here rather than as a "
            "schema keyword)."
        ),
    ]
    values: Required[
        Annotated[
            dict[str, StrictFloat],
            Field(
                min_length=1,
                description="Quantity name to value, a finite number. Known quantities "
                "must be plausible (their ranges below); any other name matching the "
                "pattern is taken without a unit.",
                json_schema_extra=_values_schema,
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
            description="The measurements; one that breaks a rule refuses them all.",
        ),
    ]


class RecordOut(BaseModel):
    """What happened to the values of the request. Counts are of values, not measurements."""

    stored: int = Field(description="Values stored now.")
    duplicates: int = Field(
        description="Values already stored for the same device, quantity and measured_at."
    )


class ErrorOut(BaseModel):
    """A refusal, with a sentence saying what was wrong: every 4xx but 422 (errors.py)."""

    detail: str = Field(description="What was wrong, and what to do about it.")


class FieldError(BaseModel):
    """One problem with the request: where (`loc`), what (`msg`) and its kind (`type`)."""

    model_config = ConfigDict(extra="forbid")

    loc: list[str | int] = Field(
        description="Where: the part of the request (`body`, `query` or `path`), then the "
        'field, index or quantity, e.g. `["body", "measurements", 3, "values", "temperature"]`.'
    )
    msg: str
    type: str = Field(description="A stable name for the kind of problem.")


class ValidationErrorOut(BaseModel):
    """Every problem found in the request, each with its place: every 422 (errors.py)."""

    detail: list[FieldError]


class RateLimitedOut(BaseModel):
    """The request was refused by a rate limit; retry after `retry_after` seconds."""

    detail: str
    limit: Literal["ip", "device"] = Field(description="Which limit refused the request.")
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
