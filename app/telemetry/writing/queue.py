"""Requests waiting for the writer, bounded by their number and by their rows.

A full queue answers "overloaded" at once (503 with Retry-After) instead of piling
up: `write_queue_limit` requests or `write_queue_rows` values, whichever comes first.
The writer takes them in arrival order, as many as fit one transaction's rows.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from app.db import StorageUnavailable
from app.telemetry.writing.group import WriteOutcome, WriteRequest


class Overloaded(StorageUnavailable):
    """More requests are waiting for the writer than the queue limit allows."""


@dataclass(slots=True)
class Pending:
    """A queued request and the future its answer goes to."""

    request: WriteRequest
    future: asyncio.Future[WriteOutcome]


class WriteQueue:
    """The writer's queue of requests, with limits on requests and on rows."""

    def __init__(self, *, limit: int, rows_limit: int) -> None:
        self._limit = limit
        self._rows_limit = rows_limit
        self._rows = 0
        self._pending: deque[Pending] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, request: WriteRequest) -> asyncio.Future[WriteOutcome]:
        """Queue a request; its future gets the outcome. Raises Overloaded when full."""
        rows = request.row_count
        if len(self._pending) >= self._limit or self._rows + rows > self._rows_limit:
            raise Overloaded("too many writes are waiting", retry_after=1)
        future: asyncio.Future[WriteOutcome] = asyncio.get_running_loop().create_future()
        self._pending.append(Pending(request, future))
        self._rows += rows
        return future

    def take(self, batch_rows: int) -> list[Pending]:
        """The oldest requests, as many as reach `batch_rows` rows (at least one)."""
        group = [self._pending.popleft()]
        rows = group[0].request.row_count
        while self._pending and rows < batch_rows:
            pending = self._pending.popleft()
            group.append(pending)
            rows += pending.request.row_count
        self._rows -= rows
        return group
