"""Schemathesis hooks for the contract run (schemathesis.toml): what the document says in words.

A `measured_at` must lie within the raw readings the server keeps and at most its
tolerance ahead of the server clock. That rule is relative to the clock, so the
document states it in words, not as a schema keyword (app/web/api_document.py), and
RFC 3339 times drawn from years 1 to 9999 would be refused as the rule says. Times are
drawn from the last 29 days instead, in any offset, so that `positive_data_acceptance`
keeps checking every other rule of the ingest bodies. The history ranges, which take
the same format, then fall where the data is.

Loaded by Schemathesis itself, which registers what a hooks module registers on import.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st

SPAN = timedelta(days=29)


def _as_text(moment: datetime, offset_minutes: int) -> str:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    return local.isoformat().replace("+00:00", "Z")


def recent_times(now: datetime) -> st.SearchStrategy[str]:
    """RFC 3339 times from SPAN before `now` up to `now`, with offsets of -23:59..+23:59."""
    micros = st.integers(min_value=0, max_value=SPAN // timedelta(microseconds=1))
    moments = micros.map(lambda back: now - timedelta(microseconds=back))
    return st.builds(_as_text, moments, st.integers(min_value=-1439, max_value=1439))


schemathesis.openapi.format("date-time", recent_times(datetime.now(UTC)))
