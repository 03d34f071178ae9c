"""Delivery: send the oldest spooled readings in batches; forget them only once acknowledged.

Every answer is classified (answers.py), and each verdict has one handling:

    200 201        acknowledged  delete the batch (a duplicate counts as delivered), once
                                 the answer counts every value sent: any other body is
                                 not the telemetry server's (a captive portal), so
                                 misdirected
    413            too large     halve the batch size for this run, send the halves (also
                                 for the 422 that says the batch is too long)
    422            invalid       dead-letter the measurements loc[2] names, send the rest;
                                 with no index, split the batch until the culprit is alone
    429 503        throttled     wait Retry-After plus up to 20 % (backoff if absent)
    5xx 408, none  unavailable   exponential backoff with full jitter
    401 403        refused       keep measuring and spooling, log loudly, retry slowly
    anything else  misdirected   (a wrong URL, a proxy's page) as refused

A reading leaves the spool only when the server stored it or refused that reading
itself (dead letter); nothing is dropped because the server said no. The delays are
backoff.py's, the log of dead letters is refusals.py's, and the log of troubles (once
when one starts, once when delivery works again) is delivery_health.py's.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from device.answers import (
    Verdict,
    acknowledged_counts,
    classify,
    describe,
    explain,
    explain_unacknowledged,
    invalid_indices,
    names_too_many,
)
from device.backoff import RetryPolicy
from device.clock import Clock
from device.delivery_health import PERSON_MUST_ACT, DeliveryHealth
from device.health import DependencyHealth
from device.http import Response, TransportError
from device.options import AgentConfig
from device.refusals import RefusalLog
from device.spool import Spool, Spooled
from device.status import health_note

logger = logging.getLogger(__name__)

ENDPOINT = "/api/v1/measurements/batch"
MAX_BATCH_SIZE = 1000  # the server's default limit


class Poster(Protocol):
    """What the sender needs of an HTTP client (device.http.Client)."""

    base_url: str

    def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST JSON; raise TransportError when no answer comes."""
        ...


_DEFAULTS = AgentConfig()


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How the sender paces itself: the options' defaults (options.py); tests shrink them."""

    batch_size: int = _DEFAULTS.batch_size
    send_rate: float = _DEFAULTS.send_rate  # requests per second at most: the catch-up pace
    backoff_base: float = _DEFAULTS.backoff_base
    backoff_max: float = _DEFAULTS.backoff_max
    retry_after_max: float = _DEFAULTS.retry_after_max
    refusal_log_interval: float = _DEFAULTS.refusal_log_interval
    idle_check: float = 60.0  # seconds an idle sender sleeps unless a reading wakes it


def encode_batch(readings: Sequence[Spooled]) -> bytes:
    """The batch body, spliced from the spooled text so measured_at is resent unchanged."""
    items = ",".join(f'{{"measured_at":"{r.measured_at}","values":{r.payload}}}' for r in readings)
    return f'{{"measurements":[{items}]}}'.encode()


class Sender:
    """Delivers spooled readings; one instance per thread, with its own spool connection."""

    def __init__(
        self,
        spool: Spool,
        client: Poster,
        token: str,
        clock: Clock,
        settings: DeliverySettings = DeliverySettings(),
        *,
        wait: Callable[[float], bool],
        rng: random.Random | None = None,
    ) -> None:
        self._spool = spool
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"}
        self._clock = clock
        self.settings = settings
        self._wait = wait
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not secrets)
        self._retry = RetryPolicy(
            settings.backoff_base, settings.backoff_max, settings.retry_after_max, self._rng
        )
        self.batch_size = min(settings.batch_size, MAX_BATCH_SIZE)
        self.state = Verdict.ACKNOWLEDGED  # the verdict of the latest answer
        self._next_request = 0.0
        self.health = DeliveryHealth(logger, clock, self._note_health)
        self._refusals = RefusalLog(logger, clock.monotonic, settings.refusal_log_interval)
        # Whatever nobody foresaw (a bug, a spool error): said once, with its traceback.
        self._faults = DependencyHealth(
            logger,
            down="delivering failed unexpectedly; the readings are kept and delivery goes on "
            "with backoff:\n{reason}",
            up="delivering works again after {seconds:.0f} s of unexpected failures",
            down_level=logging.ERROR,
            monotonic=clock.monotonic,
            wall=clock.now,
        )

    def step(self) -> float | None:
        """Send the oldest batch; the seconds to wait before the next step, None if idle."""
        batch = self._spool.next_batch(self.batch_size)
        if not batch:
            return None
        chunks = [batch]
        while chunks:
            chunk = chunks.pop(0)
            if self._pace():
                return 0.0
            try:
                response = self._client.post_json(ENDPOINT, encode_batch(chunk), self._headers)
            except TransportError as exc:
                return self._trouble(Verdict.UNAVAILABLE, str(exc), None)
            verdict = classify(response.status)
            if verdict is Verdict.ACKNOWLEDGED:
                counts = acknowledged_counts(response, _value_count(chunk))
                if counts is None:
                    message = explain_unacknowledged(response, self._client.base_url)
                    return self._trouble(Verdict.MISDIRECTED, message, response)
                self._acknowledge(chunk, duplicates=counts[1])
            elif verdict in (Verdict.TOO_LARGE, Verdict.INVALID):
                chunks[:0] = self._refused_content(chunk, response, verdict)
            else:
                message = explain(verdict, response, self._client.base_url)
                return self._trouble(verdict, message, response)
        return 0.0

    def _pace(self) -> bool:
        # Bounds the catch-up after an outage: at most send_rate requests per second.
        delay = self._next_request - self._clock.monotonic()
        if delay > 0 and self._wait(delay):
            return True
        self._next_request = self._clock.monotonic() + 1.0 / self.settings.send_rate
        return False

    def _acknowledge(self, chunk: Sequence[Spooled], *, duplicates: int) -> None:
        self._spool.acknowledge([r.id for r in chunk], duplicates=duplicates, at=self._clock.now())
        self._retry.reset()
        self.state = Verdict.ACKNOWLEDGED
        self.health.delivered()

    def _refused_content(
        self, chunk: list[Spooled], response: Response, verdict: Verdict
    ) -> list[list[Spooled]]:
        """Dead-letter what the server refused on its own; return what to send again."""
        too_large = verdict is Verdict.TOO_LARGE or names_too_many(response)
        bad = {} if too_large else invalid_indices(response, len(chunk))
        if bad:
            self._dead_letter([(chunk[i], reason) for i, reason in sorted(bad.items())], response)
            rest = [r for i, r in enumerate(chunk) if i not in bad]
            return [rest] if rest else []
        if len(chunk) == 1:
            self._dead_letter([(chunk[0], describe(response))], response)
            return []
        half = len(chunk) // 2
        if too_large and half < self.batch_size:
            # The batch as a whole was refused (over the server's body or batch limit):
            # send smaller ones for the rest of this run.
            self.batch_size = half
            logger.info(
                "the server refused a batch of %d readings as too large (%d: %s); sending at "
                "most %d at a time (lower `batch_size` in the configuration to start there)",
                len(chunk),
                response.status,
                describe(response),
                half,
            )
        # Otherwise a refusal that names no measurement: split this batch, only this one,
        # until the reading at fault is alone and can be dead-lettered.
        return [chunk[:half], chunk[half:]]

    def _dead_letter(self, refused: list[tuple[Spooled, str]], response: Response) -> None:
        moved, dropped = self._spool.dead_letter(
            refused, status=response.status, at=self._clock.now()
        )
        self._refusals.refused(moved, dropped, f"{response.status}: {refused[-1][1]}")

    def _trouble(self, verdict: Verdict, message: str, response: Response | None) -> float:
        """Record a failed attempt; returns how long to wait before the next one."""
        retry_after = response.retry_after(self._clock.now()) if response is not None else None
        delay = self._retry.after(verdict, retry_after)
        self.state = verdict
        self.health.failed(verdict, message)
        self._spool.note_error(message, self._clock.now())
        return delay

    def _note_health(self, state: str) -> None:
        try:
            self._spool.note_state(health_note("delivery"), state)
        except sqlite3.Error as exc:  # the sampler says so: it writes the readings
            logger.debug("could not note the delivery state in the spool: %s", exc)

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """Deliver until `stop` is set; `wake` is set whenever a reading is spooled."""
        try:
            self._deliver_until(stop, wake)
        finally:
            self._refusals.report(now_or_never=True)

    def _deliver_until(self, stop: threading.Event, wake: threading.Event) -> None:
        while not stop.is_set():
            try:
                delay = self.step()
                self._refusals.report()
                self._faults.succeeded()
            except Exception as exc:
                # Whatever went wrong (the spool, an answer nobody foresaw), the readings
                # are still spooled: back off and try again, never stop delivering.
                delay = self._retry.after_fault()
                self._faults.failed("".join(traceback.format_exception(exc)).rstrip())
            if delay is None:
                wake.wait(self.settings.idle_check)
                wake.clear()
            elif delay > 0:
                self._wait(delay)

    def flush(self, stop: threading.Event, deadline: float) -> bool:
        """Send until the spool is empty (True) or refused or past `deadline` (False)."""
        try:
            return self._flush_until(stop, deadline)
        finally:
            self._refusals.report(now_or_never=True)

    def _flush_until(self, stop: threading.Event, deadline: float) -> bool:
        while not stop.is_set():
            delay = self.step()
            if delay is None:
                return True
            if self.state in PERSON_MUST_ACT:
                return False
            if self._clock.monotonic() + delay > deadline:
                return False
            if delay > 0 and self._wait(delay):
                break
        return False


def _value_count(readings: Sequence[Spooled]) -> int:
    """How many values the readings carry: what an acknowledgement must account for."""
    return sum(len(json.loads(r.payload)) for r in readings)
