"""The back office: devices, users, sessions, notifications and the audit log, for admins.

Devices: admin_devices.py; users and their sessions: admin_users.py; sending a
notification: admin_notify.py; the audit log: admin_audit.py. Only an admin's session
opens them (a viewer gets the 403 page), and every form carries the session's CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from app.web import admin_audit, admin_devices, admin_notify, admin_users
from app.web.auth import admin_page, root_path

router = APIRouter(include_in_schema=False, dependencies=[Depends(admin_page)])
router.include_router(admin_devices.router)
router.include_router(admin_users.router)
router.include_router(admin_notify.router)
router.include_router(admin_audit.router)


@router.get("/admin")
async def admin_home(request: Request) -> RedirectResponse:
    """The back office starts with the devices."""
    return RedirectResponse(root_path(request) + "/admin/devices", status_code=303)
