"""Property: whatever the server does meanwhile, every reading taken is stored exactly once.

A model server (tests/device/fakes.py) fails before committing, times out after
committing, rate-limits, refuses the token or answers 5xx, as Hypothesis chooses; the
agent may be restarted (a new sender on the same spool file) at any point. Then the
network heals, the sender drains the spool, and the server must hold exactly the
readings taken, each with the measured_at it was taken with; bad ones are dead letters.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.clock import format_time
from device.sender import DeliverySettings, Sender
from device.spool import Spool
from tests.device.fakes import FakeClock, ModelServer

OUTCOMES = ("ok", "refuse", "commit_then_timeout", "429", "503", "500", "401")

operations = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.integers(1, 12)),
        st.tuples(st.just("take_bad"), st.just(1)),
        st.tuples(st.just("send"), st.sampled_from(OUTCOMES)),
        st.tuples(st.just("restart"), st.just(0)),
    ),
    max_size=40,
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    operations=operations,
    batch_size=st.integers(1, 12),
    server_max_batch=st.integers(1, 15),
)
def test_every_reading_taken_is_stored_on_the_server_exactly_once(
    operations: list[tuple[str, object]], batch_size: int, server_max_batch: int
) -> None:
    clock = FakeClock()
    server = ModelServer(now=clock.now, max_batch=server_max_batch)
    taken: dict[tuple[str, str], float] = {}
    bad: set[str] = set()
    delivery = DeliverySettings(batch_size=batch_size, send_rate=5.0)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "spool.db"
        spool = Spool.open(path)

        def new_sender() -> Sender:
            return Sender(
                spool, server, "token", clock, delivery, wait=clock.wait, rng=random.Random(0)
            )

        sender = new_sender()
        for action, argument in operations:
            if action == "take":
                assert isinstance(argument, int)
                for _ in range(argument):
                    clock.advance(0.001)
                    values = {"temperature": 20.0 + len(taken) % 7, "humidity": 40.5}
                    spool.add(values, measured_at=clock.now())
                    for quantity, value in values.items():
                        taken[(format_time(clock.now()), quantity)] = value
            elif action == "take_bad":
                clock.advance(0.001)
                spool.add({"humidity": 180.0}, measured_at=clock.now())
                bad.add(format_time(clock.now()))
            elif action == "send":
                assert isinstance(argument, str)
                server.script = [argument]
                sender.step()
                server.script = []
            else:  # the agent is killed and restarted: all in-memory state is lost
                spool.close()
                spool = Spool.open(path)
                sender = new_sender()

        for _ in range(10_000):  # the network heals; drain
            if sender.step() is None:
                break
        status = spool.status()
        dead = {letter.measured_at for letter in spool.dead_letters(1000)}
        spool.close()

    assert server.stored == taken
    assert set(server.store_count.values()) <= {1}
    assert dead == bad
    assert status.pending == status.held == 0
    assert status.counters["sent"] == len({at for at, _ in taken})
    assert status.counters["taken"] == status.counters["sent"] + len(bad)
    assert status.counters["duplicates"] == server.duplicates_answered
