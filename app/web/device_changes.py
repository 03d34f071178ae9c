"""Device changes made by an admin, for the back office and the management API alike:
the devices context does the change and writes its audit line in the same transaction,
and the live views follow.
"""

from __future__ import annotations

from fastapi.concurrency import run_in_threadpool

from app.accounts import DEVICE_ADDED, DEVICE_CHANGED, DEVICE_REMOVED, DEVICE_REVOKED, Actor
from app.telemetry import DeviceDeleted, DeviceNotFound, DeviceSummary, normalize_device_name
from app.web.deps import Services, show_new_devices


def existing_name(raw: str) -> str:
    """A device name from a path or a form; DeviceNotFound if no device can have it."""
    try:
        return normalize_device_name(raw)
    except ValueError:
        raise DeviceNotFound(f"no device is named {raw.strip()[:80]!r}") from None


async def add_device(services: Services, name: str, actor: Actor) -> tuple[DeviceSummary, str]:
    """Register a device; every open overview shows it at once. Returns it and its token."""
    along = services.accounts.audit_along(DEVICE_ADDED, actor)
    device, token = await run_in_threadpool(services.devices.add, name, along)
    await show_new_devices(services)
    return device, token


async def rename_device(
    services: Services, name: str, new_name: str, actor: Actor
) -> DeviceSummary:
    """Give a device another name; its tile and page follow at once."""
    ref = await run_in_threadpool(services.devices.ref, existing_name(name))
    await show_new_devices(services)  # added elsewhere a moment ago: its tile follows too
    along = services.accounts.audit_along(DEVICE_CHANGED, actor)
    device = await run_in_threadpool(services.devices.rename, ref.name, new_name, along)
    if device.name != ref.name:
        services.hub.rename_device(ref.id, device.name)
    return device


async def revoke_device(services: Services, name: str, actor: Actor) -> DeviceSummary:
    """Stop the device's token from opening the ingest API (at once in this process)."""
    along = services.accounts.audit_along(DEVICE_REVOKED, actor)
    device = await run_in_threadpool(services.devices.revoke, existing_name(name), along)
    return device


async def rotate_token(services: Services, name: str, actor: Actor) -> tuple[str, str]:
    """A new token for the device; the old one stops working. Returns (name, token)."""
    ref = await run_in_threadpool(services.devices.ref, existing_name(name))
    along = services.accounts.audit_along(DEVICE_CHANGED, actor)
    token = await run_in_threadpool(services.devices.rotate_token, ref.name, along)
    return ref.name, token


async def reading_count(services: Services, name: str) -> tuple[str, int]:
    """The device's exact name and how many readings deleting it would delete."""
    ref = await run_in_threadpool(services.devices.ref, existing_name(name))
    return ref.name, await run_in_threadpool(services.devices.reading_count, ref.name)


async def delete_device(services: Services, name: str, actor: Actor) -> DeviceDeleted:
    """Delete the device with all its data; it leaves the overview at once."""
    ref = await run_in_threadpool(services.devices.ref, existing_name(name))
    await show_new_devices(services)  # so that it is not shown after its removal below
    along = services.accounts.audit_along(DEVICE_REMOVED, actor)
    deleted = await services.measurements.between_writes(
        lambda: services.devices.delete(ref.name, along)
    )
    services.hub.remove_device(deleted.id)
    # SQLite may give the next device this id again: look for new devices from below it.
    services.devices_seen_through = min(services.devices_seen_through, deleted.id - 1)
    return deleted
