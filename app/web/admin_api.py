"""The management API, for scripts with an admin's personal token."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.web.auth import ADMIN_REFUSALS, admin_api

router = APIRouter(dependencies=[Depends(admin_api)], responses=ADMIN_REFUSALS)
