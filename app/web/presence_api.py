"""GET /api/v1/presence: who is watching now, as the header shows it, for admins."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.live.hub import OVERVIEW, TabInfo
from app.web.auth import ADMIN_REFUSALS, AdminApi
from app.web.deps import ServicesDep
from app.web.errors import UNAVAILABLE

router = APIRouter(tags=["presence"])

DeviceNamer = Callable[[str], str | None]


class PageOut(BaseModel):
    """A page some of a user's tabs show."""

    model_config = ConfigDict(extra="forbid")

    page: str = Field(description="`overview`, `device` or `other`.")
    device: str | None = Field(None, description="The device's name, for a device's page.")
    tabs: int


class WatcherOut(BaseModel):
    """A signed-in user watching, once, with their open tabs."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(description="The user's name (None: removed meanwhile).")
    display_name: str
    tabs: int = Field(description="Open dashboard tabs (a tab counts once, whatever it shows).")
    since: datetime = Field(description="When the oldest of those tabs opened.")
    pages: list[PageOut]


class PresenceOut(BaseModel):
    """Everyone watching now."""

    model_config = ConfigDict(extra="forbid")

    users: list[WatcherOut]
    guests: int = Field(description="Tabs open without signing in (a public dashboard).")


@router.get(
    "/api/v1/presence",
    summary="Who is watching now",
    responses={**ADMIN_REFUSALS, 503: UNAVAILABLE},
)
async def presence(principal: AdminApi, services: ServicesDep) -> PresenceOut:
    """Each signed-in user once with their open tabs and the pages those show, and the
    number of guests' tabs; tabs that are navigating or reconnecting count until their
    grace ends (see the README)."""
    tabs = services.hub.presence()
    accounts = services.accounts
    users = {user.id: user.name for user in await accounts.run(accounts.users.list)}
    by_user: dict[int, list[TabInfo]] = {}
    guests = 0
    for tab in tabs:
        if tab.user_id:
            by_user.setdefault(tab.user_id, []).append(tab)
        else:
            guests += 1
    watchers = [
        WatcherOut(
            user=users.get(user_id),
            display_name=own[0].name,
            tabs=len(own),
            since=min(tab.since for tab in own),
            pages=_pages(services.hub.device_name, own),
        )
        for user_id, own in by_user.items()
    ]
    watchers.sort(key=lambda w: (w.display_name.casefold(), w.user or ""))
    return PresenceOut(users=watchers, guests=guests)


def _pages(device_name: DeviceNamer, tabs: list[TabInfo]) -> list[PageOut]:
    counts = Counter(tab.topic for tab in tabs)
    pages = []
    for topic, count in sorted(counts.items()):
        if topic == OVERVIEW:
            pages.append(PageOut(page="overview", tabs=count))
        elif (name := device_name(topic)) is not None:
            pages.append(PageOut(page="device", device=name, tabs=count))
        else:
            pages.append(PageOut(page="other", tabs=count))
    return pages
