"""The running agent: a sensor loop and a delivery loop over one spool, stopped by SIGTERM.

    sensors --read--> Sampler --add--> spool file <--next_batch/ack-- Sender --POST--> server
                         |                                              ^
                         +-------------------- wake --------------------+

The loops run in two threads and share only the spool file (each with its own SQLite
connection) and a wake-up event, so a slow or dead server never delays a reading.
If either loop dies, the agent stops with exit status 1 and systemd restarts it.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable, Sequence
from importlib import metadata
from types import FrameType

from device.clock import Clock, ClockPolicy, SystemClock
from device.http import Client
from device.options import AgentConfig
from device.sampler import Sampler
from device.sender import DeliverySettings, Poster, Sender
from device.sensors.base import Sensor
from device.sensors.registry import open_sensor
from device.spool import Spool

logger = logging.getLogger(__name__)


def user_agent() -> str:
    """The User-Agent header: telemetry-agent/<version>."""
    try:
        version = metadata.version("telemetry-dashboard")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"telemetry-agent/{version}"


def delivery_settings(config: AgentConfig) -> DeliverySettings:
    """The sender's pacing, from the configuration."""
    return DeliverySettings(
        batch_size=config.batch_size,
        send_rate=config.send_rate,
        backoff_base=config.backoff_base,
        backoff_max=config.backoff_max,
        retry_after_max=config.retry_after_max,
        refusal_log_interval=config.refusal_log_interval,
    )


def open_client(config: AgentConfig) -> Client:
    """An HTTP client for the configured server."""
    return Client(
        config.server,
        timeout=config.timeout,
        user_agent=user_agent(),
        max_response_bytes=config.answer_max_bytes,
    )


def open_spool(config: AgentConfig) -> Spool:
    """A new connection to the configured spool."""
    return Spool.open(
        config.spool,
        max_rows=config.spool_max_rows,
        max_dead_letters=config.dead_letter_max_rows,
        busy_timeout=config.spool_busy_timeout,
    )


def open_sensors(config: AgentConfig, clock: Clock) -> list[Sensor]:
    """The configured sensors, in order."""
    settings = config.sensor_settings()
    return [open_sensor(kind, settings, clock.now) for kind in config.sensors]


class Agent:
    """The two loops, started and stopped together."""

    def __init__(
        self,
        config: AgentConfig,
        token: str,
        *,
        clock: Clock | None = None,
        sensors: Sequence[Sensor] | None = None,
        client: Poster | None = None,
    ) -> None:
        self.config = config
        self._token = token
        self._clock = clock or SystemClock()
        self._sensors = list(sensors) if sensors is not None else open_sensors(config, self._clock)
        self._client = client or open_client(config)
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self.failed = False
        self._threads = [
            threading.Thread(
                target=self._guard, args=(self._measure,), name="sampler", daemon=True
            ),
            threading.Thread(target=self._guard, args=(self._deliver,), name="sender", daemon=True),
        ]
        open_spool(config).close()  # create it and fail here, in the caller's thread

    def start(self) -> None:
        """Start both loops."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ask both loops to finish (returns at once)."""
        self.stopping.set()
        self._wake.set()

    def join(self, timeout: float) -> bool:
        """Wait for both loops to finish; False if one is still running after `timeout`."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in self._threads)

    def _guard(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except Exception:
            logger.exception(
                "the %s loop failed; stopping the agent", threading.current_thread().name
            )
            self.failed = True
            self.stop()

    def _measure(self) -> None:
        spool = open_spool(self.config)
        try:
            sampler = Sampler(
                self._sensors,
                spool,
                self._clock,
                interval=self.config.interval,
                wait=self.stopping.wait,
                read_attempts=self.config.read_attempts,
                policy=ClockPolicy(sync_grace=self.config.clock_sync_grace),
                on_reading=self._wake.set,
            )
            sampler.run(self.stopping)
        finally:
            spool.close()

    def _deliver(self) -> None:
        spool = open_spool(self.config)
        try:
            sender = Sender(
                spool,
                self._client,
                self._token,
                self._clock,
                delivery_settings(self.config),
                wait=self.stopping.wait,
                rng=random.Random(),  # noqa: S311  (jitter, not secrets)
            )
            sender.run(self.stopping, self._wake)
        finally:
            spool.close()


def run_until_signalled(agent: Agent) -> int:
    """Run `agent` until SIGTERM or SIGINT; the exit status (1 if a loop failed)."""

    def on_signal(number: int, _: FrameType | None) -> None:
        logger.info("stopping (%s)", signal.Signals(number).name)
        agent.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    config = agent.config
    logger.info(
        "started: reading %s every %g s into %s, sending to %s",
        ", ".join(config.sensors),
        config.interval,
        config.spool,
        config.server,
    )
    try:
        agent.start()
        while not agent.stopping.wait(1.0):
            pass
        # An HTTP request in flight may take up to `timeout`; readings are safe either way.
        if not agent.join(config.timeout + 5.0):
            logger.warning("a loop did not finish in time; exiting anyway (the spool is safe)")
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    spool = open_spool(config)
    try:
        logger.info("stopped; %d reading(s) wait in the spool", spool.status().pending)
    finally:
        spool.close()
    return 1 if agent.failed else 0
