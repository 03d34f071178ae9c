"""Rendering a whole page: the template, with who is signed in for the header."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.web.deps import services_of


def render_page(request: Request, template: str, /, **context: Any) -> str:
    """A page for this request: its header names the signed-in user and carries the
    CSRF token htmx sends with every change (templates/base.html)."""
    services = services_of(request)
    # Whether the header lists who is watching; a route may say otherwise.
    context.setdefault("show_presence", True)
    return services.templates.render(
        template,
        principal=getattr(request.state, "principal", None),
        public_dashboard=services.settings.public_dashboard,
        **context,
    )
