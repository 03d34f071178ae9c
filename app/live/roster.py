"""Devices renamed or deleted while the server runs: the live views follow at once.

A renamed device's tile and the overview's order change at the next tick; a deleted
device leaves the overview at the next tick, and an event of it still on its way (its
last readings, announced after their commit) does not bring it back.
"""

from __future__ import annotations

from app.live.points import ChangedMinutes
from app.live.state import DeviceView
from app.live.tiles import Tiles, topic_device


class Roster:
    """The renaming and removal half of the live hub (LiveHub inherits it)."""

    # The hub's own state, which these operations change.
    views: dict[int, DeviceView]
    removed: dict[int, str]  # deleted device id -> its name
    _by_name: dict[str, int]
    _dirty: set[int]
    _grid_dirty: bool
    _tiles: Tiles
    _points: ChangedMinutes

    def rename_device(self, device_id: int, name: str) -> None:
        """Show a renamed device under its new name, on the overview and on its page."""
        view = self.views.get(device_id)
        if view is None or view.name == name:
            return
        if self._by_name.get(view.name) == device_id:
            del self._by_name[view.name]
        view.name = name
        self._by_name[name] = device_id
        self._dirty.add(device_id)
        self._grid_dirty = True  # the grid is in name order

    def remove_device(self, device_id: int) -> None:
        """Stop showing a deleted device."""
        view = self.views.pop(device_id, None)
        if view is None:
            return
        if self._by_name.get(view.name) == device_id:
            del self._by_name[view.name]
        self.removed[device_id] = view.name
        self._dirty.discard(device_id)
        self._points.forget(device_id)
        self._tiles.forget_device(device_id)
        self._grid_dirty = True

    def device_name(self, topic: str) -> str | None:
        """The name of the device whose page `topic` is (None: not a device's page)."""
        device_id = topic_device(topic)
        view = self.views.get(device_id) if device_id is not None else None
        return view.name if view is not None else None

    def is_removed(self, device_id: int, name: str) -> bool:
        """True for an event of a deleted device: the same id under the same name.

        SQLite may give a new device the id of the last one deleted: under another name,
        its events are its own; under the same name, they show the device that now has it.
        """
        return self.removed.get(device_id) == name
