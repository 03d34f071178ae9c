"""The live views' starting point, read from the database when the server starts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from app.db import translate_storage_errors
from app.live.state import GAPS_KEPT, MINUTE, SPARK_MINUTES, DeviceView, rhythm
from app.telemetry.models import Device, RollupMinute, Series
from app.telemetry.writing.rollups import floor_time


def load_views(engine: Engine, now: datetime) -> list[DeviceView]:
    """Every device, with its latest values, last hour by minute and last-seen time."""
    since = floor_time(now, MINUTE) - MINUTE * SPARK_MINUTES
    with translate_storage_errors(), engine.connect() as conn:
        devices = conn.execute(
            select(Device.id, Device.name, Device.last_seen_at).order_by(Device.name)
        ).all()
        series = conn.execute(
            select(
                Series.id, Series.device_id, Series.quantity, Series.latest_value, Series.latest_at
            )
        ).all()
        minutes = conn.execute(
            select(
                RollupMinute.series_id,
                RollupMinute.bucket,
                RollupMinute.sum,
                RollupMinute.count,
                RollupMinute.min,
                RollupMinute.max,
            ).where(RollupMinute.bucket >= since)
        ).all()
        # Each device's rhythm from its newest series' last minutes with data: one
        # primary-key range read per device, however long ago those minutes were.
        newest: dict[int, tuple[datetime, int]] = {}
        for series_id, device_id, _, _, at in series:
            if at is not None and (device_id not in newest or at > newest[device_id][0]):
                newest[device_id] = (at, series_id)
        gaps = {
            device_id: rhythm(
                conn.execute(
                    select(RollupMinute.bucket, RollupMinute.count)
                    .where(RollupMinute.series_id == series_id)
                    .order_by(RollupMinute.bucket.desc())
                    .limit(GAPS_KEPT + 1)
                ).all()
            )
            for device_id, (_, series_id) in newest.items()
        }
    by_series: dict[int, dict[datetime, tuple[float, int, float, float]]] = {}
    for series_id, bucket, total, count, low, high in minutes:
        by_series.setdefault(series_id, {})[bucket] = (total, count, low, high)
    latest: dict[int, dict[str, tuple[float, datetime]]] = {}
    history: dict[int, dict[str, dict[datetime, tuple[float, int, float, float]]]] = {}
    for series_id, device_id, quantity, value, at in series:
        if value is not None and at is not None:
            latest.setdefault(device_id, {})[quantity] = (value, at)
        history.setdefault(device_id, {})[quantity] = by_series.get(series_id, {})
    views = []
    for device_id, name, last_seen in devices:
        view = DeviceView(device_id, name)
        view.restore(
            latest.get(device_id, {}),
            history.get(device_id, {}),
            last_seen,
            gaps.get(device_id, []),
        )
        views.append(view)
    return views


def devices_after(engine: Engine, after: int) -> list[tuple[int, str]]:
    """Devices registered with an id above `after` (ids only grow), in id order.

    Devices added with `telemetry device add` while the server runs are found this way:
    they have posted nothing yet, so no event has told the live views about them.
    """
    with translate_storage_errors(), engine.connect() as conn:
        rows = conn.execute(
            select(Device.id, Device.name).where(Device.id > after).order_by(Device.id)
        ).all()
    return [(device_id, name) for device_id, name in rows]
