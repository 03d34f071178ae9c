"""Reading a raw live stream as a browser does: its frames with the route of each (the
last `topic` header before it), and the presence lists it shows, from the whole lists
and the differences that follow (app/live/lobby.py)."""

from __future__ import annotations

import json


def frames(text: str) -> list[tuple[str, str, str]]:
    """(route, event, data) of every event, the route being the last `topic` header's."""
    found, route = [], ""
    for block in text.split("\n\n"):
        event = data = ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        if event == "topic":
            route = data
        elif event:
            found.append((route, event, data))
    return found


class Lists:
    """The presence lists one stream shows, from its whole lists and differences."""

    def __init__(self) -> None:
        self.lists: dict[str, tuple[dict[int, tuple[str, int]], int]] = {}
        self.updates: list[str] = []  # routes of the differences read

    def read(self, text: str) -> str:
        """Apply the list frames of `text` (in order); returns the text."""
        for route, event, data in frames(text):
            if event not in ("presence", "watchers", "presence-diff", "watchers-diff"):
                continue
            value = json.loads(data)
            if event.endswith("-diff"):
                rows, _ = self.lists[route]
                rows.update({row[0]: (row[1], row[2]) for row in value["set"]})
                for gone in value["gone"]:
                    del rows[gone]
                self.lists[route] = (rows, value["guests"])
                self.updates.append(route)
            else:
                rows = {row[0]: (row[1], row[2]) for row in value["users"]}
                self.lists[route] = (rows, value["guests"])
        return text

    def shown(self, route: str = "presence") -> list[tuple[str, int]]:
        """(display name, tabs) of each user the list holds, in name order."""
        rows, _ = self.lists[route]
        return sorted(rows.values(), key=lambda row: row[0].casefold())
