"""The back office's devices page: add, rename, revoke, new token, delete (confirmed).

Device names travel in form fields and the query string, never in the path: a name may
be "..", which a browser would resolve away. A refused change shows the page again with
what was wrong, and the status that says so (404, 409, 422).
"""

from __future__ import annotations

import shlex
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from app.telemetry import (
    DEVICE_NAME_RULE,
    DeviceError,
    DeviceNameTaken,
    DeviceNotFound,
    DeviceSummary,
)
from app.web.auth import AdminPage, actor_of
from app.web.deps import Services, services_of
from app.web.device_changes import (
    add_device,
    delete_device,
    reading_count,
    rename_device,
    revoke_device,
    rotate_token,
)
from app.web.page_render import render_page

router = APIRouter(prefix="/admin/devices")

PAGE_SIZE = 1000
TOKEN_FILE = "/etc/telemetry-agent/token"  # noqa: S105  (where docs/agent.md keeps it)

FormName = Annotated[str, Form(max_length=1000)]


def _status(exc: DeviceError) -> int:
    if isinstance(exc, DeviceNotFound):
        return 404
    return 409 if isinstance(exc, DeviceNameTaken) else 422


def _all_devices(services: Services) -> list[DeviceSummary]:
    """Every device in name order, a page at a time."""
    devices: list[DeviceSummary] = []
    while True:
        after = devices[-1].name if devices else None
        page = services.devices.list(limit=PAGE_SIZE, after=after)
        devices.extend(page)
        if len(page) < PAGE_SIZE:
            return devices


async def _devices_page(request: Request, *, status: int = 200, **context: Any) -> HTMLResponse:
    services = services_of(request)
    devices = await run_in_threadpool(_all_devices, services)
    context.setdefault("new_name", "")
    html = render_page(
        request,
        "admin_devices.html",
        title="Devices",
        section="devices",
        devices=devices,
        name_rule=DEVICE_NAME_RULE,
        ignore_case="names are compared without regard to case",
        **context,
    )
    return HTMLResponse(html, status_code=status)


def agent_commands(request: Request) -> tuple[str, str]:
    """The commands that set up the agent on a device for this server (as docs/agent.md)."""
    server = str(request.base_url).rstrip("/")  # with the root path the app is served under
    save = f"sudo mkdir -p /etc/telemetry-agent && sudo sh -c 'umask 077; cat > {TOKEN_FILE}'"
    run = f"telemetry-agent run --server {shlex.quote(server)} --token-file {TOKEN_FILE}"
    return save, run


def _token_page(request: Request, name: str, token: str, title: str, status: int) -> HTMLResponse:
    save, run = agent_commands(request)
    html = render_page(
        request,
        "admin_device_token.html",
        title=title,
        section="devices",
        name=name,
        token=token,
        save_command=save,
        agent_command=run,
    )
    # The token must not be kept by a cache or shown again by the back button.
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("", response_class=HTMLResponse)
async def devices_page(request: Request) -> HTMLResponse:
    """Every device, with what an admin can do to each."""
    return await _devices_page(request)


@router.post("", response_class=HTMLResponse)
async def add(request: Request, principal: AdminPage, name: FormName = "") -> HTMLResponse:
    """Register a device and show its token, once."""
    services = services_of(request)
    try:
        device, token = await add_device(services, name, actor_of(request, principal))
    except DeviceError as exc:
        return await _devices_page(request, status=_status(exc), error=str(exc), new_name=name)
    return _token_page(request, device.name, token, f"{device.name} added", 201)


@router.post("/rename", response_class=HTMLResponse)
async def rename(
    request: Request, principal: AdminPage, name: FormName = "", new_name: FormName = ""
) -> HTMLResponse:
    """Give a device another name."""
    services = services_of(request)
    try:
        device = await rename_device(services, name, new_name, actor_of(request, principal))
    except DeviceError as exc:
        return await _devices_page(
            request, status=_status(exc), error=str(exc), rename_of=name, rename_to=new_name
        )
    return await _devices_page(request, notice=f"Renamed {name!r} to {device.name!r}.")


@router.post("/revoke", response_class=HTMLResponse)
async def revoke(request: Request, principal: AdminPage, name: FormName = "") -> HTMLResponse:
    """Stop a device's token from working, at once."""
    services = services_of(request)
    try:
        device = await revoke_device(services, name, actor_of(request, principal))
    except DeviceError as exc:
        return await _devices_page(request, status=_status(exc), error=str(exc))
    return await _devices_page(request, notice=f"The token of {device.name!r} no longer works.")


@router.post("/rotate", response_class=HTMLResponse)
async def rotate(request: Request, principal: AdminPage, name: FormName = "") -> HTMLResponse:
    """Give a device a new token and show it, once; the old one stops working."""
    services = services_of(request)
    try:
        exact, token = await rotate_token(services, name, actor_of(request, principal))
    except DeviceError as exc:
        return await _devices_page(request, status=_status(exc), error=str(exc))
    return _token_page(request, exact, token, f"New token for {exact}", 200)


@router.get("/delete", response_class=HTMLResponse)
async def confirm_delete(
    request: Request, name: Annotated[str, Query(max_length=1000)] = ""
) -> HTMLResponse:
    """Ask before deleting: the device's name and how many readings would go."""
    services = services_of(request)
    try:
        exact, readings = await reading_count(services, name)
    except DeviceError as exc:
        return await _devices_page(request, status=_status(exc), error=str(exc))
    html = render_page(
        request,
        "admin_device_delete.html",
        title=f"Delete {exact}",
        section="devices",
        name=exact,
        readings=readings,
    )
    return HTMLResponse(html)


@router.post("/delete", response_class=HTMLResponse)
async def delete(request: Request, principal: AdminPage, name: FormName = "") -> HTMLResponse:
    """Delete a device and all its data (the confirmation page's button)."""
    services = services_of(request)
    try:
        deleted = await delete_device(services, name, actor_of(request, principal))
    except DeviceError as exc:
        return await _devices_page(request, status=_status(exc), error=str(exc))
    notice = f"Deleted {deleted.name!r} and its {deleted.readings:,} readings."
    return await _devices_page(request, notice=notice)
