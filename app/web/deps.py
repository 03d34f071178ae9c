"""What routes receive: the services built by create_app, and the authenticated device."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from app.accounts import Accounts
from app.bus import Bus
from app.config import Settings
from app.live.hub import LiveHub
from app.live.loader import devices_after
from app.telemetry import (
    DEVICE_NAME_MAX,
    Clock,
    DeviceRef,
    Devices,
    History,
    Measurements,
    Retention,
    StorageUnavailable,
    hash_token,
    looks_like_token,
)
from app.web.client_address import client_address
from app.web.direct_write import DirectWrite
from app.web.errors import NotAuthenticated, RateLimited
from app.web.ratelimit import RateLimiter, remember_headers
from app.web.templating import Templates


@dataclass(slots=True)
class IngestCounters:
    """Refusals counted for /metrics; plain integers keep the hot path cheap."""

    rate_limited: int = 0
    unauthenticated: int = 0


@dataclass(slots=True)
class Services:
    """Everything create_app builds once and routes share."""

    settings: Settings
    engine: Engine
    bus: Bus
    devices: Devices
    measurements: Measurements
    history: History
    retention: Retention
    hub: LiveHub
    templates: Templates
    rate_limiter: RateLimiter
    clock: Clock
    direct_write: DirectWrite
    accounts: Accounts
    login_limiter: RateLimiter
    counters: IngestCounters = field(default_factory=IngestCounters)
    # Devices up to this id are known to the live views (ids only grow); devices
    # registered since are looked for by show_new_devices.
    devices_seen_through: int = 0


def services_of(request: Request) -> Services:
    """The services of the app serving this request."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """Dependency form of services_of (async: a sync dependency would cost a thread hop)."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def show_new_devices(services: Services) -> StorageUnavailable | None:
    """Show devices registered since the live views last looked (from the CLI, or another
    worker) at once, rather than at the next poll: a page must not miss a device that a
    person has just added."""
    try:
        added = await run_in_threadpool(
            devices_after, services.devices, services.devices_seen_through
        )
    except StorageUnavailable as exc:
        return exc  # a page shows what the live views hold; the next look tries again
    if added:
        services.devices_seen_through = max(services.devices_seen_through, added[-1][0])
        services.hub.add_devices(added)
    return None


async def live_device_id(services: Services, name: str) -> int | None:
    """The id under which the live views show device `name` (a normalized name)."""
    device_id = services.hub.device_id(name)
    if device_id is None:
        await show_new_devices(services)
        device_id = services.hub.device_id(name)
    return device_id


# The largest id a row can have: both databases keep ids as signed 64-bit integers, and a
# larger one in a path or a form would fail in the driver (a 500) instead of naming no row.
ROW_ID_MAX = 2**63 - 1

# Characters no device name holds; a name with one names no device (404, errors.py). The
# domain refuses every Unicode "other" character (control, format, private use,
# unassigned): a pattern states the control characters, which is as far as it can go
# without listing the unassigned code points of one Unicode version.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"

DeviceName = Annotated[
    str,
    Path(
        description=f"The device's name: 1 to {DEVICE_NAME_MAX} characters, no '/' and no "
        "control characters. A name that breaks these rules names no device (404).",
        examples=["greenhouse"],
        # Stated, not enforced here: normalize_device_name enforces all of it.
        json_schema_extra={
            "minLength": 1,
            "maxLength": DEVICE_NAME_MAX,
            "pattern": f"^[^/{CONTROL_CHARACTERS}]+$",
        },
    ),
]

BEARER_SCHEME = {
    "DeviceToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The device token printed by `telemetry device add NAME`.",
    }
}


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate_device(request: Request) -> DeviceRef:
    """Rate-limit the request, then find the device its bearer token belongs to.

    Runs before the body is read: a refused request costs no parsing and no database.
    One flat dependency on purpose: on the ingest path each extra FastAPI dependency
    costs more than the rate limit itself.
    """
    services = services_of(request)
    settings = services.settings
    client = client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        settings.trusted_proxies,
    )
    token = bearer_token(request.headers.get("authorization"))
    well_formed = token is not None and looks_like_token(token)
    # Malformed tokens share one bucket: made-up strings must not mint counters.
    token_key = (hash_token(token) if well_formed else "malformed") if token else None
    verdict = await services.rate_limiter.check(client, token_key)
    remember_headers(request, verdict.headers)
    if verdict.exceeded is not None:
        services.counters.rate_limited += 1
        raise RateLimited(verdict.exceeded.name, verdict.exceeded.item, verdict.retry_after)
    if token_key is None:
        services.counters.unauthenticated += 1
        raise NotAuthenticated(
            "this endpoint needs a device token: send 'Authorization: Bearer <token>'",
            invalid_token=False,
        )
    device = services.devices.cached_identity(token_key) if well_formed else None
    if device is None and well_formed:
        device = await run_in_threadpool(services.devices.authenticate, token_key)
    if device is None:
        services.counters.unauthenticated += 1
        raise NotAuthenticated("the device token is unknown or was revoked", invalid_token=True)
    return device
