"""The server's answers: what each status means (VERDICTS), and the messages inside them.

    200 201        acknowledged  the batch is stored (a duplicate counts as stored), if
                                 the body counts every value sent; otherwise misdirected
    413            too large     the batch, as a whole, is refused
    422            invalid       the measurements loc[2] names are refused, or the batch
                                 (too long, when loc is body.measurements: too large)
    429 503        throttled     come back after Retry-After
    5xx 408, none  unavailable   come back later (backoff)
    401 403        refused       the token does not open the API
    anything else  misdirected   not the telemetry server's API (a wrong URL, a proxy)

sender.py decides what to do about each verdict; `explain` says it in the log.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from device.http import Response


class Verdict(enum.Enum):
    """What an answer means for the readings in the batch."""

    ACKNOWLEDGED = "acknowledged"
    TOO_LARGE = "too large"
    INVALID = "invalid"
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    REFUSED = "refused"
    MISDIRECTED = "misdirected"


VERDICTS = {
    200: Verdict.ACKNOWLEDGED,
    201: Verdict.ACKNOWLEDGED,
    401: Verdict.REFUSED,
    403: Verdict.REFUSED,
    408: Verdict.UNAVAILABLE,
    413: Verdict.TOO_LARGE,
    422: Verdict.INVALID,
    429: Verdict.THROTTLED,
    503: Verdict.THROTTLED,
}


def classify(status: int) -> Verdict:
    """The verdict for an HTTP status."""
    if status in VERDICTS:
        return VERDICTS[status]
    return Verdict.UNAVAILABLE if status >= 500 else Verdict.MISDIRECTED


def parse_json(body: bytes) -> Any:
    """The body as JSON, or None."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: a body of nested brackets
        return None


def acknowledged_counts(response: Response, values: int) -> tuple[int, int] | None:
    """(stored, duplicates) of a 200/201 that accounts for all `values` sent, else None.

    Only the telemetry server's own answer acknowledges readings: a captive portal, a
    proxy's page or another service answering 200 on that path must not make the agent
    forget what it never delivered.
    """
    data = parse_json(response.body)
    if not isinstance(data, dict):
        return None
    stored, duplicates = data.get("stored"), data.get("duplicates")
    if type(stored) is not int or type(duplicates) is not int:  # bool is not a count
        return None
    if stored < 0 or duplicates < 0 or stored + duplicates != values:
        return None
    return stored, duplicates


def names_too_many(response: Response) -> bool:
    """True for the 422 the server gives a batch over its TELEMETRY_MAX_BATCH_SIZE."""
    data = parse_json(response.body)
    errors = data.get("detail") if isinstance(data, dict) else None
    return any(
        isinstance(e, dict)
        and e.get("loc") == ["body", "measurements"]
        and e.get("type") == "too_long"
        for e in (errors if isinstance(errors, list) else [])
    )


def describe(response: Response) -> str:
    """The server's explanation of an answer, in one line."""
    data = parse_json(response.body)
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(_field_error(e) for e in detail[:5] if isinstance(e, dict))
    text = response.body[:200].decode("utf-8", "replace").strip()
    return text or f"HTTP {response.status} with no explanation"


def _field_error(error: dict[str, Any]) -> str:
    loc = error.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list) else "?"
    return f"{where}: {error.get('msg', '')}"


def invalid_indices(response: Response, size: int) -> dict[int, str]:
    """The measurements a 422 names (loc[2]), each with the server's messages."""
    data = parse_json(response.body)
    errors = data.get("detail") if isinstance(data, dict) else None
    found: dict[int, list[str]] = {}
    for error in errors if isinstance(errors, list) else []:
        loc = error.get("loc") if isinstance(error, dict) else None
        if (
            isinstance(loc, list)
            and len(loc) > 2
            and loc[:2] == ["body", "measurements"]
            and isinstance(loc[2], int)
            and 0 <= loc[2] < size
        ):
            where = ".".join(str(part) for part in loc[3:]) or "measurement"
            found.setdefault(loc[2], []).append(f"{where}: {error.get('msg', '')}")
    return {index: "; ".join(messages) for index, messages in found.items()}


def explain(verdict: Verdict, response: Response, server: str) -> str:
    """What an answer that keeps the readings means, and what to do about it."""
    detail = describe(response)
    if verdict is Verdict.REFUSED:
        return (
            f"{server} refused the token ({response.status}: {detail}); readings are kept. "
            "Check the token file, or issue a new token on the server with "
            "`telemetry device rotate NAME`"
        )
    if verdict is Verdict.MISDIRECTED:
        location = response.headers.get("location")
        moved = f" (redirected to {location}: use that URL)" if location else ""
        return (
            f"unexpected answer {response.status} from {server}{moved}: {detail}; "
            "check that `server` is the telemetry server's base URL; readings are kept"
        )
    return f"{server} answered {response.status}: {detail}; readings are kept"


def explain_unacknowledged(response: Response, server: str) -> str:
    """Why a 200/201 without the telemetry server's acknowledgement keeps the readings."""
    return (
        f"{server} answered {response.status} without the telemetry server's "
        f"acknowledgement ({describe(response)}); readings are kept. Check that `server` is "
        "the telemetry server's base URL and that no captive portal or proxy answers in "
        "its place"
    )
