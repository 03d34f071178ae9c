"""The live views' starting point: the devices context's stored state, as DeviceViews."""

from __future__ import annotations

from datetime import datetime

from app.live.state import GAPS_KEPT, MINUTE, SPARK_MINUTES, DeviceView, rhythm
from app.telemetry import Devices, DeviceState, floor_time


def load_views(devices: Devices, now: datetime) -> list[DeviceView]:
    """Every device, with its latest values, last hour by minute and last-seen time.

    A fixed number of statements however many devices there are (Devices.states).
    """
    since = floor_time(now, MINUTE) - MINUTE * SPARK_MINUTES
    states = devices.states(since=since, recent_minutes=GAPS_KEPT + 1)
    return [_view(state) for state in states]


def _view(state: DeviceState) -> DeviceView:
    view = DeviceView(state.id, state.name)
    view.restore(
        {
            q.name: (q.value, q.measured_at)
            for q in state.quantities
            if q.value is not None and q.measured_at is not None
        },
        {
            q.name: {m.start: (m.total, m.count, m.minimum, m.maximum) for m in q.minutes}
            for q in state.quantities
        },
        state.last_seen_at,
        rhythm(state.recent_minutes),
    )
    return view


def devices_after(devices: Devices, after: int) -> list[tuple[int, str]]:
    """Devices registered with an id above `after` (ids only grow), in id order.

    Devices added with `telemetry device add` while the server runs are found this way:
    they have posted nothing yet, so no event has told the live views about them.
    """
    return [(ref.id, ref.name) for ref in devices.registered_after(after)]
