"""Settings: every option, its default and one line of help, read from TELEMETRY_* variables."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "TELEMETRY_"
# Variables under the prefix that belong to something else: the test suite and the agent.
NOT_SETTINGS = ("TELEMETRY_TEST_", "TELEMETRY_REQUIRE_", "TELEMETRY_AGENT_")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the variable."""


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """Where the embedded database lives unless told otherwise (XDG base directory spec)."""
    base = environ.get("XDG_DATA_HOME") or str(
        Path(environ.get("HOME", "~")).expanduser() / ".local/share"
    )
    return Path(base) / "telemetry"


class Settings(BaseModel):
    """All server options: `Settings.from_environ(os.environ)`, or pass values directly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = Field(
        description="SQLAlchemy URL of the database; default: SQLite in $XDG_DATA_HOME/telemetry.",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=5000, ge=0, description="How long a SQLite write waits for a lock before 503."
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite durability: FULL survives power loss; group commit keeps it cheap.",
    )
    host: str = Field(default="127.0.0.1", description="Address `telemetry serve` listens on.")
    port: int = Field(
        default=8000, ge=1, le=65535, description="Port `telemetry serve` listens on."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Server log level."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest accepted request body; larger gets 413."
    )
    max_batch_size: int = Field(
        default=1000, ge=1, le=100_000, description="Most measurements in one batch request."
    )
    max_values_per_measurement: int = Field(
        default=32, ge=1, le=1000, description="Most quantities in one measurement."
    )
    max_quantities_per_device: int = Field(
        default=64, ge=1, le=10_000, description="Most distinct quantities one device may post."
    )
    future_tolerance_seconds: int = Field(
        default=300, ge=0, description="How far ahead of the server clock a measured_at may be."
    )
    rate_limit_device: str = Field(
        default="120/minute",
        description="Requests per device token (limits notation, moving window; `none` = off).",
    )
    rate_limit_ip: str = Field(
        default="1200/minute",
        description="Requests per client address (limits notation, moving window; `none` = off).",
    )
    rate_limit_storage_url: str = Field(
        default="memory://",
        description="Where rate-limit counters live: memory://, or redis://host:6379 to share.",
    )
    trusted_proxies: tuple[Network, ...] = Field(
        default=(),
        description="Comma-separated proxies (addresses or networks) whose X-Forwarded-For counts.",
    )
    token_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a checked token is remembered; a CLI revocation waits this long.",
    )
    write_queue_limit: int = Field(
        default=10_000,
        ge=1,
        description="Requests waiting for the writer before ingest answers 503.",
    )
    write_queue_rows: int = Field(
        default=500_000,
        ge=1,
        description="Values waiting for the writer (all requests) before ingest answers 503.",
    )
    write_batch_rows: int = Field(
        default=5000, ge=1, description="Most rows the writer puts in one transaction."
    )
    announce_queue_groups: int = Field(
        default=10_000,
        ge=1,
        description="Stored groups waiting to be announced on the bus; the oldest drop first.",
    )
    rollup_flush_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Seconds between writes of the per-minute and per-hour rollups "
        "(charts); readings are stored at once.",
    )
    raw_retention_days: int = Field(
        default=30, ge=1, description="Raw readings older than this many days are deleted."
    )
    minute_rollup_retention_days: int = Field(
        default=90, ge=1, description="Per-minute rollups older than this are deleted."
    )
    rollup_retention_days: int = Field(
        default=730, ge=1, description="Hourly rollups older than this many days are deleted."
    )
    refresh_interval: float = Field(
        default=1.0,
        ge=0.05,
        le=60,
        description="Seconds between live updates of one device's view (the throttle).",
    )
    max_series_points: int = Field(
        default=5000, ge=10, description="Most buckets a history query may ask for."
    )
    sse_queue_frames: int = Field(
        default=64, ge=2, description="Updates buffered per live viewer before it is dropped."
    )
    sse_backlog_bytes: int = Field(
        default=256 * 1024,
        ge=16 * 1024,
        description="Bytes a live viewer's transport may buffer; over it, taking nothing ends it.",
    )
    sse_send_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a live viewer may take to accept an update."
    )
    sse_ping_seconds: float = Field(
        default=15.0, gt=0, le=15, description="Seconds between keep-alive comments."
    )
    sse_replay_frames: int = Field(
        default=512, ge=1, description="Recent updates kept to replay to reconnecting viewers."
    )
    sse_replay_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Most bytes of recent updates kept for replays (the oldest go first).",
    )
    sse_direct_write: bool = Field(
        default=True,
        description="Write live updates straight to uvicorn's sockets (0: through ASGI `send`).",
    )
    sse_streams_per_client: int = Field(
        default=20, ge=1, description="Live streams one client address may hold open."
    )
    public_dashboard: bool = Field(
        default=False,
        description="1: anyone who reaches the server reads the dashboard, its API and live "
        "streams without signing in (a wall display); managing stays admin-only.",
    )
    metrics_public: bool = Field(
        default=False,
        description="1: /metrics answers without signing in (a Prometheus scraper on a "
        "private network); otherwise an admin's session or personal token is needed.",
    )
    session_idle_days: float = Field(
        default=7, gt=0, description="A session unused for this many days ends."
    )
    session_max_days: float = Field(
        default=30, gt=0, description="A session ends this many days after sign-in, used or not."
    )
    rate_limit_login_user: str = Field(
        default="5/5minutes",
        description="Sign-in attempts per user name (limits notation; `none` = off).",
    )
    rate_limit_login_ip: str = Field(
        default="30/5minutes",
        description="Sign-in attempts per client address (limits notation; `none` = off).",
    )
    audit_retention_days: int = Field(
        default=365, ge=1, description="Audit log lines older than this many days are deleted."
    )
    presence_admins_only: bool = Field(
        default=False,
        description="1: only admins see who is watching (the header, the pages and the "
        "presence API); viewers' tabs are still counted.",
    )
    notification_retention_days: int = Field(
        default=90, ge=1, description="Notifications older than this many days are deleted."
    )
    bus_queue_size: int = Field(
        default=1000, ge=1, description="Events buffered per bus subscriber; the oldest drop first."
    )

    @field_validator(
        "rate_limit_device", "rate_limit_ip", "rate_limit_login_user", "rate_limit_login_ip"
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        # Parsed here so that a typo fails at start-up naming the variable.
        value = value.strip()
        if value.lower() == "none":
            return "none"
        try:
            items = parse_many(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not in the limits notation, for example '120/minute' or 'none'"
            ) from exc
        if len(items) != 1:
            raise ValueError(f"{value!r} holds {len(items)} limits; give exactly one")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Read TELEMETRY_* variables; an unknown one is an error, with a suggestion."""
        values: dict[str, Any] = {}
        for key, raw in environ.items():
            if not key.startswith(ENV_PREFIX) or key.startswith(NOT_SETTINGS):
                continue
            name = key[len(ENV_PREFIX) :].lower()
            if name not in cls.model_fields:
                close = difflib.get_close_matches(name, cls.model_fields, n=1)
                hint = f"; did you mean {ENV_PREFIX}{close[0].upper()}?" if close else ""
                raise SettingsError(f"{key} is not a setting{hint}")
            values[name] = raw
        if not values.get("database_url"):
            values["database_url"] = f"sqlite:///{default_data_dir(environ) / 'telemetry.db'}"
        values.update(overrides)
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError(describe_errors(exc)) from exc


def describe_errors(exc: ValidationError) -> str:
    """Turn a settings validation error into lines naming the environment variable."""
    lines = []
    for error in exc.errors():
        name = ENV_PREFIX + str(error["loc"][0]).upper() if error["loc"] else "settings"
        lines.append(f"{name}: {error['msg']}")
    return "\n".join(lines)
