"""The back office's audit log: who did what, when and from where, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.web.deps import ROW_ID_MAX, services_of
from app.web.page_render import render_page

router = APIRouter(prefix="/admin/audit")

PAGE = 50


@router.get("", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    before: Annotated[int | None, Query(ge=1, le=ROW_ID_MAX)] = None,
) -> HTMLResponse:
    """PAGE lines at a time, below the line `before` (the "Older" link's)."""
    accounts = services_of(request).accounts
    entries = await accounts.run(lambda: accounts.audit.page(limit=PAGE + 1, before_id=before))
    total = await accounts.run(accounts.audit.count)
    older = entries[PAGE - 1].id if len(entries) > PAGE else None
    html = render_page(
        request,
        "admin_audit.html",
        title="Audit log",
        section="audit",
        entries=entries[:PAGE],
        before=before,
        older=older,
        total=total,
    )
    return HTMLResponse(html)
