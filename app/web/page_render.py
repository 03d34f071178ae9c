"""Rendering a whole page: the template, with who is signed in for the header."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.web.deps import services_of


def render_page(request: Request, template: str, /, **context: Any) -> str:
    """A page for this request: its header names the signed-in user and carries the
    CSRF token htmx sends with every change (templates/base.html)."""
    services = services_of(request)
    principal = getattr(request.state, "principal", None)
    # Whether the header lists who is watching (TELEMETRY_PRESENCE_ADMINS_ONLY); the
    # stream sends the lists only to those who may see them (live_views.watcher_of).
    is_admin = principal is not None and principal.is_admin
    context.setdefault("show_presence", is_admin or not services.settings.presence_admins_only)
    return services.templates.render(
        template,
        principal=principal,
        public_dashboard=services.settings.public_dashboard,
        **context,
    )
