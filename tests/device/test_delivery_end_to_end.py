"""The agent against the real server on loopback: outages, kill -9, 429, 422, SIGTERM.

Each scenario compares what the agent took (its spool's counters) with what the
server stored (its database), so "exactly once" is checked where it matters.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from device.clock import SystemClock
from device.http import Client, Response
from device.options import AgentConfig
from device.runner import Agent
from device.sender import DeliverySettings, Sender
from device.spool import Spool
from device.spool_file import SpoolError
from tests.device.fakes import SysfsTree
from tests.device.live import (
    agent_env,
    agent_status,
    free_port,
    serve_on,
    start_agent,
    stored_values,
    wait_for,
)
from tests.factories import add_device, make_settings
from tests.servers import run_live_server

QUANTITIES = ("humidity", "pressure", "temperature")


def _agent_config(tmp_path: Path, server: str, **changes: Any) -> AgentConfig:
    base = AgentConfig(
        server=server,
        sensors=("simulated",),
        interval=0.02,
        spool=tmp_path / "spool.db",
        batch_size=20,
        send_rate=100.0,
        timeout=5.0,
        backoff_base=0.02,
        backoff_max=0.2,
        clock_sync_grace=0.0,
    )
    return replace(base, **changes)


def _status(spool: Path) -> dict[str, int]:
    reader = Spool.open_readonly(spool)
    try:
        status = reader.status()
    finally:
        reader.close()
    return {**status.counters, "pending": status.pending, "dead_letter": status.dead_letter}


def _flush(config: AgentConfig, token: str) -> None:
    """Deliver what the stopped agent left in its spool, with the agent's own sender."""
    spool = Spool.open(config.spool)
    sender = Sender(
        spool,
        Client(config.server, timeout=5, user_agent="test"),
        token,
        SystemClock(),
        DeliverySettings(send_rate=100),
        wait=threading.Event().wait,
    )
    try:
        assert sender.flush(threading.Event(), deadline=time.monotonic() + 10)
    finally:
        spool.close()


def _assert_exactly_once(database_url: str, spool: Path) -> int:
    status = _status(spool)
    assert status["pending"] == 0
    assert status["dropped"] == status["dead_letter"] == status["undatable"] == 0
    assert status["sent"] == status["taken"]
    assert stored_values(database_url, "pi") == dict.fromkeys(QUANTITIES, status["taken"])
    return status["taken"]


def test_readings_spooled_while_the_server_is_down_arrive_exactly_once(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    settings = make_settings(sqlite_url)
    with serve_on(settings, port):  # register the device, then stop the server
        pass
    from app.main import create_app

    token = add_device(create_app(settings), "pi")
    config = _agent_config(tmp_path, f"http://127.0.0.1:{port}")
    agent = Agent(config, token)
    with caplog.at_level(logging.INFO, logger="device"):
        agent.start()
        try:
            # Down: readings pile up in the spool.
            wait_for(lambda: _status(config.spool)["pending"] >= 25, "readings to spool")
            assert _status(config.spool)["sent"] == 0
            # Up: they all arrive, oldest first, while new ones keep coming.
            with serve_on(settings, port):
                wait_for(lambda: _status(config.spool)["sent"] >= 25, "the backlog to arrive")
            # Down and up again; the agent stops while the server is up.
            down_at = _status(config.spool)["taken"]
            wait_for(lambda: _status(config.spool)["taken"] >= down_at + 10, "more readings")
            with serve_on(settings, port):
                wait_for(lambda: _status(config.spool)["sent"] >= down_at + 10, "delivery")
                agent.stop()
                assert agent.join(10)
                _flush(config, token)
        finally:
            agent.stop()
    taken = _assert_exactly_once(sqlite_url, config.spool)
    assert taken >= 35
    # Two outages, each reported once (not once per attempt), and each recovery once.
    unreachable = [
        r for r in caplog.records if r.name == "device.sender" and r.levelno == logging.WARNING
    ]
    recovered = [r for r in caplog.records if "delivering again" in r.getMessage()]
    assert len(unreachable) == 2
    assert "refused the connection" in unreachable[0].getMessage()
    assert len(recovered) == 2


def test_agent_killed_while_sending_and_restarted_delivers_every_reading_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    config_file = tmp_path / "agent.toml"
    config_file.write_text("")
    with run_live_server(make_settings(sqlite_url)) as server:
        (tmp_path / "token").write_text(add_device(server.app, "pi"))
        env = agent_env(
            batch_size=5, send_rate=1000, backoff_base=0.01, backoff_max=0.05, log_level="debug"
        )
        spool = tmp_path / "spool.db"
        command = [
            "run",
            "--config",
            str(config_file),
            "--server",
            server.url,
            "--token-file",
            str(tmp_path / "token"),
            "--sensor",
            "simulated",
            "--interval",
            "0.01",
            "--spool",
            str(spool),
        ]
        # A backlog, as after an outage, so that the agent is busy sending when it is killed.
        backlog = Spool.open(spool)
        now = SystemClock().now()
        for i in range(1000):
            values = {"temperature": 20.0, "humidity": 40.0, "pressure": 1000.0}
            backlog.add(values, measured_at=now - timedelta(seconds=1000 - i))
        backlog.close()
        rng = random.Random(4)
        # Kill at least three times, and until one kill has come between the server's commit
        # and the agent's acknowledgement: the restarted agent then resends that batch and
        # the server answers "duplicate" (about two kills in three do).
        for round_ in range(12):
            before = sum(stored_values(sqlite_url, "pi").values())
            process = start_agent(command, env, tmp_path / "agent.log")

            def delivered(process: subprocess.Popen[bytes] = process, before: int = before) -> bool:
                assert process.poll() is None, (tmp_path / "agent.log").read_text()[-2000:]
                return sum(stored_values(sqlite_url, "pi").values()) >= before + 30

            wait_for(delivered, f"delivery in round {round_}")
            # Not a synchronisation: a random moment, so that some kill lands between the
            # server's commit and the agent's acknowledgement (the loop runs until one did).
            time.sleep(rng.uniform(0, 0.02))
            process.send_signal(signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
            if round_ >= 2 and _status(spool)["duplicates"] > 0:
                break
        assert _status(spool)["pending"] > 0  # the kills left work behind
        flush = start_agent(
            [
                "flush",
                "--config",
                str(config_file),
                "--server",
                server.url,
                "--spool",
                str(spool),
                "--token-file",
                str(tmp_path / "token"),
            ],
            env,
            tmp_path / "agent.log",
        )
        assert flush.wait(30) == 0, (tmp_path / "agent.log").read_text()[-3000:]
    assert _assert_exactly_once(sqlite_url, spool) >= 1000
    status = agent_status(spool, env)
    assert status["pending"] == 0
    assert status["duplicates"] > 0


def test_429_makes_the_agent_wait_at_least_retry_after(tmp_path: Path, sqlite_url: str) -> None:
    with run_live_server(make_settings(sqlite_url, rate_limit_device="1/second")) as server:
        token = add_device(server.app, "pi")
        spool = Spool.open(tmp_path / "spool.db")
        clock = SystemClock()
        for i in range(15):
            spool.add({"temperature": 20.0}, measured_at=clock.now() - timedelta(seconds=i))
        answers: list[tuple[float, Response]] = []

        class Recording(Client):
            def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
                answer = super().post_json(path, body, headers)
                answers.append((time.monotonic(), answer))
                return answer

        sender = Sender(
            spool,
            Recording(server.url, timeout=5, user_agent="test"),
            token,
            clock,
            DeliverySettings(batch_size=5, send_rate=100, backoff_base=0.01, backoff_max=0.05),
            wait=threading.Event().wait,
        )
        assert sender.flush(threading.Event(), deadline=time.monotonic() + 20)
    statuses = [a.status for _, a in answers]
    assert 429 in statuses
    assert statuses.count(201) == 3
    for (at, answer), (next_at, _) in itertools.pairwise(answers):
        if answer.status == 429:
            retry_after = answer.retry_after()
            assert retry_after is not None
            assert retry_after >= 1
            assert next_at - at >= retry_after
    assert stored_values(sqlite_url, "pi") == {"temperature": 15}


def test_422_for_one_reading_dead_letters_it_and_delivers_the_rest(
    tmp_path: Path, sqlite_url: str
) -> None:
    with run_live_server(make_settings(sqlite_url)) as server:
        token = add_device(server.app, "pi")
        spool = Spool.open(tmp_path / "spool.db")
        clock = SystemClock()
        now = clock.now()
        for i in range(10):
            spool.add({"temperature": 20.0 + i}, measured_at=now - timedelta(seconds=10 - i))
        # A clock that jumped an hour ahead for one reading: the server refuses it.
        spool.add({"temperature": 30.0}, measured_at=now + timedelta(hours=1))
        for i in range(10):
            spool.add({"temperature": 40.0 + i}, measured_at=now + timedelta(microseconds=i))
        sender = Sender(
            spool,
            Client(server.url, timeout=5, user_agent="test"),
            token,
            clock,
            DeliverySettings(batch_size=50, send_rate=100),
            wait=threading.Event().wait,
        )
        assert sender.flush(threading.Event(), deadline=time.monotonic() + 10)
    assert stored_values(sqlite_url, "pi") == {"temperature": 20}
    (letter,) = spool.dead_letters()
    assert letter.values == {"temperature": 30.0}
    assert letter.status == 422
    assert "ahead of the server clock" in letter.reason
    status = spool.status()
    assert (status.pending, status.counters["sent"], status.dead_letter) == (0, 20, 1)


def test_a_revoked_token_keeps_the_agent_measuring_and_spooling(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with run_live_server(make_settings(sqlite_url)) as server:
        config = _agent_config(tmp_path, server.url, backoff_max=0.1)
        agent = Agent(config, "not-a-token")
        with caplog.at_level(logging.INFO, logger="device"):
            agent.start()
            try:
                wait_for(lambda: _status(config.spool)["taken"] >= 20, "readings")
            finally:
                agent.stop()
                assert agent.join(10)
    status = _status(config.spool)
    assert status["sent"] == 0
    assert status["pending"] == status["taken"]
    refusals = [r for r in caplog.records if "refused the token (401" in r.getMessage()]
    assert len(refusals) == 1


def test_a_server_that_never_answers_does_not_delay_measuring(tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(15)
        config = _agent_config(
            tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}", interval=0.02, timeout=30.0
        )
        agent = Agent(config, "token")
        agent.start()
        try:
            hung, _ = silent.accept()  # the sender's request: never answered
            with hung:
                taken = _status(config.spool)["taken"]
                wait_for(
                    lambda: _status(config.spool)["taken"] >= taken + 20,
                    "readings while the request hangs",
                )
                status = _status(config.spool)
                agent.stop()
        finally:
            agent.stop()
    # Closing the sockets resets the hung request, so the sender notices the stop at once.
    assert agent.join(5)
    assert status["sent"] == 0


def test_sigterm_stops_the_agent_promptly_and_cleanly(tmp_path: Path, sqlite_url: str) -> None:
    config_file = tmp_path / "agent.toml"
    config_file.write_text('sensors = ["simulated"]\ninterval = 0.05\n')
    with run_live_server(make_settings(sqlite_url)) as server:
        (tmp_path / "token").write_text(add_device(server.app, "pi"))
        env = agent_env(server=server.url, token_file=tmp_path / "token")
        log = tmp_path / "agent.log"
        process = start_agent(
            ["run", "--config", str(config_file), "--spool", str(tmp_path / "spool.db")], env, log
        )

        def delivered() -> bool:
            try:
                return _status(tmp_path / "spool.db")["sent"] > 0
            except SpoolError:  # not created yet
                return False

        wait_for(delivered, "delivery")
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert time.monotonic() - signalled < 3
    text = log.read_text()
    assert "stopping (SIGTERM)" in text
    assert "reading(s) wait in the spool" in text
    assert os.path.getsize(tmp_path / "spool.db") > 0


def test_run_with_a_copied_sysfs_tree_delivers_its_sensors_values(
    tmp_path: Path, sqlite_url: str
) -> None:
    tree = SysfsTree(tmp_path / "pi")
    tree.iio(0, "bme280", in_temp_input=19250, in_pressure_input="101.325")
    tree.thermal(0, "cpu-thermal", 47236)
    with run_live_server(make_settings(sqlite_url)) as server:
        (tmp_path / "token").write_text(add_device(server.app, "pi"))
        command = [
            "run",
            "--sysfs-root",
            str(tree.root),
            "--sensor",
            "iio",
            "--sensor",
            "thermal",
            "--interval",
            "0.05",
            "--server",
            server.url,
            "--token-file",
            str(tmp_path / "token"),
            "--spool",
            str(tmp_path / "spool.db"),
        ]
        log = tmp_path / "agent.log"
        process = start_agent(command, agent_env(), log)
        try:
            wait_for(
                lambda: (
                    set(stored_values(sqlite_url, "pi"))
                    == {"temperature", "pressure", "cpu_temperature"}
                ),
                "the tree's three quantities",
            )
            with urllib.request.urlopen(f"{server.url}/api/v1/devices/pi") as answer:
                latest = json.load(answer)["latest"]
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0, log.read_text()[-2000:]
    assert {q: v["value"] for q, v in latest.items()} == {
        "temperature": 19.25,
        "pressure": 1013.25,
        "cpu_temperature": 47.236,
    }
