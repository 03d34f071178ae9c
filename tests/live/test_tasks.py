"""The hub's background loops end when they are cancelled, whatever they wait for then."""

from __future__ import annotations

import asyncio

import pytest

from app.live.tasks import keep_alive_forever
from tests.factories import FakeClock, make_hub


@pytest.mark.parametrize("steps", range(6))
def test_the_keepalive_loop_ends_when_cancelled_as_a_tick_arrives(steps: int) -> None:
    # A cancel that comes in the same moment as the tick the loop waits for must still
    # end it: the hub's stop awaits this loop, and a server would never finish stopping.
    hub = make_hub(FakeClock(), ping_seconds=0.4)

    async def scenario() -> bool:
        ticked = asyncio.Event()
        ticked.set()
        task = asyncio.create_task(keep_alive_forever(hub, 0.4, ticked))
        # Until the loop clears it (then it waits for the next tick); no event says so.
        while ticked.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        ticked.set()
        for _ in range(steps):  # the cancel lands at each point of the wakeup in turn
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        return task in done

    assert asyncio.run(scenario()), "the loop went on after it was cancelled"
