"""The management API's devices: register, rename, revoke, new token, delete.

Reads of devices are app/web/devices.py's (GET /api/v1/devices...). Every change is
audited and shown by the live views at once (device_changes.py).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from app.telemetry import DeviceError, DeviceNameTaken, DeviceNotFound
from app.web.admin_models import DeviceCreatedOut, DeviceDeletedOut, DeviceNameIn, DeviceTokenOut
from app.web.api_models import DeviceOut
from app.web.auth import AdminApi, actor_of
from app.web.deps import DeviceName, ServicesDep
from app.web.device_changes import (
    add_device,
    delete_device,
    rename_device,
    revoke_device,
    rotate_token,
)
from app.web.devices import device_out
from app.web.errors import UNAVAILABLE, InvalidParameter, invalid, refusal

router = APIRouter(prefix="/api/v1/devices", tags=["device management"])

NOT_JSON = refusal("The body is not JSON text (UTF-8).")
NOT_FOUND = refusal("No device has that name.")
TAKEN = refusal("Another device has that name (names are compared without regard to case).")
BAD_NAME = invalid(
    "The name breaks the naming rules, or the body is not as stated; `loc` says where."
)


def _refusal(exc: DeviceError) -> Exception:
    """The answer to a refused device change: 404, 409, or 422 at the body's name."""
    if isinstance(exc, DeviceNotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, DeviceNameTaken):
        return HTTPException(409, str(exc))
    return InvalidParameter(("body", "name"), str(exc), "device_name")


@router.post(
    "",
    status_code=201,
    summary="Register a device",
    response_model=DeviceCreatedOut,
    responses={400: NOT_JSON, 409: TAKEN, 422: BAD_NAME, 503: UNAVAILABLE},
)
async def create_device(
    body: DeviceNameIn, request: Request, principal: AdminApi, services: ServicesDep
) -> DeviceCreatedOut:
    """Register a device; its token is in this answer and nowhere else, ever."""
    try:
        device, token = await add_device(services, body.name, actor_of(request, principal))
    except DeviceError as exc:
        raise _refusal(exc) from None
    return DeviceCreatedOut(name=device.name, token=token, created_at=device.created_at)


@router.patch(
    "/{name}",
    summary="Rename a device",
    response_model=DeviceOut,
    responses={400: NOT_JSON, 404: NOT_FOUND, 409: TAKEN, 422: BAD_NAME, 503: UNAVAILABLE},
)
async def patch_device(
    name: DeviceName,
    body: DeviceNameIn,
    request: Request,
    principal: AdminApi,
    services: ServicesDep,
) -> DeviceOut:
    """Give a device another name; its token and readings stay."""
    try:
        device = await rename_device(services, name, body.name, actor_of(request, principal))
    except DeviceError as exc:
        raise _refusal(exc) from None
    return device_out(device)


@router.post(
    "/{name}/revoke",
    summary="Revoke a device's token",
    response_model=DeviceOut,
    responses={404: NOT_FOUND, 503: UNAVAILABLE},
)
async def revoke(
    name: DeviceName, request: Request, principal: AdminApi, services: ServicesDep
) -> DeviceOut:
    """The device's token stops opening the ingest API at once; its readings stay."""
    try:
        device = await revoke_device(services, name, actor_of(request, principal))
    except DeviceError as exc:
        raise _refusal(exc) from None
    return device_out(device)


@router.post(
    "/{name}/rotate",
    summary="Give a device a new token",
    response_model=DeviceTokenOut,
    responses={404: NOT_FOUND, 503: UNAVAILABLE},
)
async def rotate(
    name: DeviceName, request: Request, principal: AdminApi, services: ServicesDep
) -> DeviceTokenOut:
    """A new token, shown this once; the old one stops working at once (a revocation is
    lifted)."""
    try:
        exact, token = await rotate_token(services, name, actor_of(request, principal))
    except DeviceError as exc:
        raise _refusal(exc) from None
    return DeviceTokenOut(name=exact, token=token)


@router.delete(
    "/{name}",
    summary="Delete a device and its data",
    response_model=DeviceDeletedOut,
    responses={404: NOT_FOUND, 503: UNAVAILABLE},
)
async def remove(
    name: DeviceName, request: Request, principal: AdminApi, services: ServicesDep
) -> DeviceDeletedOut:
    """Delete the device with every reading and rollup of it, in one transaction."""
    try:
        deleted = await delete_device(services, name, actor_of(request, principal))
    except DeviceError as exc:
        raise _refusal(exc) from None
    return DeviceDeletedOut(
        name=deleted.name, readings_deleted=deleted.readings, values_deleted=deleted.values
    )
