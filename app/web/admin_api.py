"""The management API, for scripts with an admin's personal token (or an admin's page).

Devices: admin_api_devices.py; users and sessions: admin_api_users.py. Every route
answers 401 without credentials and 403 to a viewer or a session without its CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.web import admin_api_devices, admin_api_users
from app.web.auth import ADMIN_REFUSALS, admin_api

router = APIRouter(dependencies=[Depends(admin_api)], responses=ADMIN_REFUSALS)
router.include_router(admin_api_devices.router)
router.include_router(admin_api_users.router)
