"""The baseline for bench/sse.py: live tiles the way an SSE endpoint is usually first written.

One asyncio.Queue per viewer, every event put in every queue, and each viewer's
generator rendering the tile itself and encoding its own frame; sse-starlette's
defaults (a ping task per stream). Run side by side with the real server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from jinja2 import Environment
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

TILE = Environment(autoescape=True).from_string(
    '<article class="tile" id="tile-1" sse-swap="tile-1" hx-swap="outerHTML">'
    "<h2>{{ name }}</h2><dl><dt>Temperature</dt><dd>{{ value }} °C</dd></dl></article>"
)
queues: set[asyncio.Queue[dict[str, object]]] = set()


class Reading(BaseModel):
    """What the driver posts."""

    values: dict[str, float]


async def tick_forever() -> None:
    """Every second, the latest reading goes to every viewer's queue."""
    while True:
        await asyncio.sleep(1.0)
        event = {"name": "greenhouse", "value": latest["temperature"], "tick": time.time()}
        for queue in list(queues):
            queue.put_nowait(event)


latest = {"temperature": 20.0}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(tick_forever())
    yield
    task.cancel()


app = FastAPI(lifespan=lifespan)


@app.post("/api/v1/measurements", status_code=201)
async def post(reading: Reading) -> dict[str, int]:
    """Remember the latest value (no storage: only the live path is compared)."""
    latest.update(reading.values)
    return {"stored": len(reading.values), "duplicates": 0}


@app.get("/events")
async def events(request: Request) -> EventSourceResponse:
    """One queue per viewer; every viewer renders and encodes every event itself."""
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    queues.add(queue)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            while True:
                event = await queue.get()
                tick = event["tick"]
                assert isinstance(tick, float)
                yield ServerSentEvent(comment=f"tick {tick * 1000:.0f}")
                yield ServerSentEvent(data=TILE.render(**event), event="tile-1")
        finally:
            queues.discard(queue)

    return EventSourceResponse(stream())


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """Up."""
    return {"status": "ok"}
