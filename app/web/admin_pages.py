"""The back office: devices, users, sessions and the audit log, for admins."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.web.auth import admin_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(admin_page)])
