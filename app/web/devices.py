"""GET /api/v1/devices and /api/v1/devices/{name}: devices with their latest values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.telemetry import DeviceSummary, normalize_device_name
from app.web.api_models import DeviceListOut, DeviceOut, LatestOut
from app.web.auth import READ_REFUSALS, api_reader
from app.web.deps import CONTROL_CHARACTERS, DeviceName, ServicesDep
from app.web.errors import UNAVAILABLE, invalid, refusal

router = APIRouter(
    prefix="/api/v1/devices",
    tags=["devices"],
    dependencies=[Depends(api_reader)],
    responses=READ_REFUSALS,
)

MAX_PAGE = 1000


def device_out(summary: DeviceSummary) -> DeviceOut:
    """The wire form of a device."""
    return DeviceOut(
        name=summary.name,
        created_at=summary.created_at,
        last_seen_at=summary.last_seen_at,
        revoked=summary.revoked,
        latest={
            quantity: LatestOut(value=v.value, unit=v.unit, measured_at=v.measured_at)
            for quantity, v in summary.latest.items()
        },
    )


@router.get(
    "",
    summary="List devices",
    response_model=DeviceListOut,
    responses={
        422: invalid("`limit` or `after` breaks its rule; `loc` says which."),
        503: UNAVAILABLE,
    },
)
def list_devices(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Devices per page.")] = 100,
    after: Annotated[
        str | None,
        Query(
            max_length=64,
            # Names hold none; PostgreSQL takes no NUL in a parameter.
            pattern=f"^[^{CONTROL_CHARACTERS}]*$",
            description="Start after this device name (`next_after` of the previous page).",
        ),
    ] = None,
) -> DeviceListOut:
    """Devices in name order, each with its latest value per quantity and last-seen time."""
    page = services.devices.list(limit=limit + 1, after=after)
    more = len(page) > limit
    devices = [device_out(d) for d in page[:limit]]
    return DeviceListOut(devices=devices, next_after=devices[-1].name if more else None)


@router.get(
    "/{name}",
    summary="One device",
    response_model=DeviceOut,
    responses={404: refusal("No device has that name."), 503: UNAVAILABLE},
)
def get_device(name: DeviceName, services: ServicesDep) -> DeviceOut:
    """A device with its latest value per quantity and last-seen time."""
    return device_out(services.devices.get(normalize_device_name(name)))
