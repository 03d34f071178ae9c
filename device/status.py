"""What `telemetry-agent status` shows: the spool's counts and notes, as JSON or for people.

The running agent keeps its dependencies' states in the spool's notes, written when
they change (DependencyHealth's on_change): `health.delivery` (readings reach the
server), `health.spooling` (readings are written to the spool) and `sensor.<kind>`.
`status`, a separate process, reads them from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from device.clock import parse_time

# The agent's own dependencies, shown by status whether or not they were noted yet.
HEALTHS = ("delivery", "spooling")
UNKNOWN = "unknown (the agent has not noted it yet)"


def health_note(name: str) -> str:
    """The spool note holding the state of dependency `name`."""
    return f"health.{name}"


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    """Everything `telemetry-agent status` shows."""

    path: str
    size_bytes: int
    pending: int
    held: int
    dead_letter: int
    oldest_unsent: str | None
    counters: Mapping[str, int]
    notes: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of `telemetry-agent status --json`."""
        sensors = {k[len("sensor.") :]: v for k, v in self.notes.items() if k.startswith("sensor.")}
        health = {name: self.notes.get(health_note(name)) for name in HEALTHS}
        return {
            "spool": self.path,
            "size_bytes": self.size_bytes,
            "taken": self.counters["taken"],
            "sent": self.counters["sent"],
            "pending": self.pending,
            "held": self.held,
            "dropped": self.counters["dropped"],
            "undatable": self.counters["undatable"],
            "dead_letter": self.dead_letter,
            "dead_lettered": self.counters["dead_lettered"],
            "dead_letter_dropped": self.counters["dead_letter_dropped"],
            "requeued": self.counters["requeued"],
            "duplicates": self.counters["duplicates"],
            "oldest_unsent": self.oldest_unsent,
            "last_success": self.notes.get("last_success_at"),
            "last_error": self.notes.get("last_error"),
            "last_error_at": self.notes.get("last_error_at"),
            "health": health,
            "sensors": sensors,
        }


def _ago(text: str | None, now: datetime) -> str:
    if not text:
        return "never"
    try:
        seconds = (now - parse_time(text)).total_seconds()
    except ValueError:
        return text
    return f"{text} ({seconds:.0f} s ago)"


def format_status(status: SpoolStatus, now: datetime) -> str:
    """The human form of `telemetry-agent status`."""
    data = status.as_dict()
    lines = [
        f"spool          {status.path} ({status.size_bytes / 1e6:.1f} MB)",
        f"pending        {status.pending} reading(s)",
        f"oldest unsent  taken {_ago(status.oldest_unsent, now)}",
        f"held           {status.held} reading(s) waiting for the clock to be set",
        f"taken          {data['taken']}",
        f"sent           {data['sent']} ({data['duplicates']} value(s) were already on the server)",
        f"dropped        {data['dropped']} (spool full), {data['undatable']} (undatable)",
        f"dead letters   {status.dead_letter} (telemetry-agent dead-letters lists them)",
        f"last success   {_ago(data['last_success'], now)}",
        f"last error     {_ago(data['last_error_at'], now)}"
        + (f"\n               {data['last_error']}" if data["last_error"] else ""),
    ]
    for name, state in data["health"].items():
        lines.append(f"{name:<15}{state or UNKNOWN}")
    for kind, state in sorted(data["sensors"].items()):
        lines.append(f"{'sensor ' + kind:<15} {state}")
    return "\n".join(lines)
