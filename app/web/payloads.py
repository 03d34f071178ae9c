"""Turn an ingest body into domain readings, or into errors that say where and why.

Pydantic checks the shape in one pass over the raw bytes (validate_json: no separate
json.loads). The domain's rules (plausible ranges, time bounds, the number of values:
ReadingRules, shared with `telemetry import`) are then applied here, so every error
carries its full location: body, index in the batch, field, quantity. All errors are
collected, up to a bound, so a device learns everything that is wrong at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.telemetry import Reading, ReadingRules
from app.web.api_models import BatchIn, MeasurementIn

MAX_REPORTED_ERRORS = 50

_single = TypeAdapter(MeasurementIn)
_batch = TypeAdapter(BatchIn)


@dataclass(frozen=True, slots=True)
class IngestRules:
    """The limits a body is checked against: the domain's rules for each reading, and more."""

    readings: ReadingRules
    max_batch_size: int


class MalformedBody(Exception):
    """The body is not JSON at all (answered 400)."""


class InvalidBody(Exception):
    """The body is JSON but breaks the rules (answered 422); `errors` says where."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the body")
        self.errors = errors


def parse_single(body: bytes, rules: IngestRules) -> list[Reading]:
    """The reading in a single-measurement body."""
    parsed = _validate(_single, body, rules)
    return _readings([parsed], ("body",), rules, indexed=False)


def parse_batch(body: bytes, rules: IngestRules) -> list[Reading]:
    """The readings in a batch body; one bad measurement fails them all."""
    parsed = _validate(_batch, body, rules)
    measurements = parsed["measurements"]
    # Counted after parsing: the body-size limit already bounds what parsing costs.
    if len(measurements) > rules.max_batch_size:
        raise InvalidBody(
            [
                {
                    "loc": ["body", "measurements"],
                    "msg": f"a batch holds at most {rules.max_batch_size} measurements, "
                    f"this one has {len(measurements)}",
                    "type": "too_long",
                }
            ]
        )
    return _readings(measurements, ("body", "measurements"), rules, indexed=True)


def _validate(adapter: TypeAdapter[Any], body: bytes, rules: IngestRules) -> Any:
    if not body.strip():
        raise MalformedBody("the request body is empty; send a JSON object")
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            reason = errors[0].get("ctx", {}).get("error", "not valid JSON")
            raise MalformedBody(f"the body is not valid JSON: {reason}") from None
        raise InvalidBody(
            [
                {"loc": ["body", *e["loc"]], "msg": _explain(e), "type": e["type"]}
                for e in errors[:MAX_REPORTED_ERRORS]
            ]
        ) from None


def _explain(error: Any) -> str:
    """Pydantic's message, made specific where a device author would otherwise guess."""
    kind = error["type"]
    if kind == "float_type":
        return "must be a number (not a string, boolean or null)"
    if kind.startswith("datetime"):
        return "must be an RFC 3339 time with a time zone, for example 2026-11-21T10:00:00Z"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "missing":
        return "is required"
    return str(error["msg"])


def _readings(
    items: Sequence[MeasurementIn],
    prefix: tuple[str | int, ...],
    rules: IngestRules,
    *,
    indexed: bool,
) -> list[Reading]:
    readings: list[Reading] = []
    errors: list[dict[str, Any]] = []
    reading_rules = rules.readings
    now = reading_rules.now
    for index, item in enumerate(items):
        values = item["values"]
        measured_at, problems = reading_rules.check(item.get("measured_at") or now, values)
        if problems and len(errors) < MAX_REPORTED_ERRORS:
            where = (*prefix, index) if indexed else prefix
            errors.extend(
                {"loc": [*where, *problem.field], "msg": problem.message, "type": problem.kind}
                for problem in problems
            )
        readings.append(Reading(measured_at=measured_at, values=values))
    if errors:
        raise InvalidBody(errors[:MAX_REPORTED_ERRORS])
    return readings
