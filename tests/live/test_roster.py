"""Renamed and deleted devices: the overview and the device's page follow at the next tick."""

from __future__ import annotations

import pytest

from app.bus import InProcessBus
from app.live.hub import OVERVIEW, device_topic
from app.live.state import DeviceView
from app.live.tasks import follow
from app.live.viewers import Viewer
from app.telemetry import MeasurementInserted
from tests.factories import T0, FakeClock, make_hub
from tests.factories import inserted as event


def drain(viewer: Viewer) -> bytes:
    chunks = []
    while viewer.pending():
        chunks.append(viewer._frames.pop(0))
    return b"".join(chunks)


def test_a_renamed_device_is_shown_under_its_new_name_in_the_grid_and_on_its_page() -> None:
    hub = make_hub(FakeClock(T0))
    hub.load([DeviceView(1, "alpha"), DeviceView(2, "beta")])
    overview = hub.open(OVERVIEW, "c1", None)
    page = hub.open(device_topic(1), "c2", None)
    drain(overview), drain(page)
    hub.rename_device(1, "zulu")
    hub.tick()
    grid, tile = drain(overview).decode(), drain(page).decode()
    assert "event: grid" in grid and grid.index("beta") < grid.index("zulu")
    assert "alpha" not in grid
    assert "event: tile-1" in tile and "zulu" in tile
    assert hub.device_id("zulu") == 1 and hub.device_id("alpha") is None
    assert "zulu" in hub.grid_html() and "alpha" not in hub.grid_html()


def test_a_deleted_device_leaves_the_overview_at_the_next_tick() -> None:
    hub = make_hub(FakeClock(T0))
    hub.load([DeviceView(1, "alpha"), DeviceView(2, "beta")])
    hub.apply(event(1, 0, "alpha", temperature=20.0))
    overview = hub.open(OVERVIEW, "c1", None)
    drain(overview)
    hub.remove_device(1)
    hub.tick()
    grid = drain(overview).decode()
    assert "event: grid" in grid and "beta" in grid and "alpha" not in grid
    assert 1 not in hub.views and hub.device_id("alpha") is None
    assert "alpha" not in hub.grid_html()


@pytest.mark.anyio
async def test_a_late_event_of_a_deleted_device_does_not_bring_it_back() -> None:
    hub = make_hub(FakeClock(T0))
    hub.load([DeviceView(1, "alpha")])
    hub.remove_device(1)
    bus = InProcessBus()
    events = bus.subscribe(MeasurementInserted)
    await bus.publish(event(1, 0, "alpha", temperature=20.0))  # sent before it was deleted
    await bus.publish(event(1, 1, "newcomer", temperature=20.0))  # its id given anew
    await bus.aclose()
    await follow(hub, events)
    assert [view.name for view in hub.views.values()] == ["newcomer"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
