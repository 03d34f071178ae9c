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
itself (dead letter); nothing is dropped because the server said no.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from device.answers import (
    Verdict,
    acknowledged_counts,
    classify,
    describe,
    invalid_indices,
    names_too_many,
)
from device.clock import Clock
from device.http import Response, TransportError
from device.spool import Spool, Spooled

logger = logging.getLogger(__name__)

ENDPOINT = "/api/v1/measurements/batch"
MAX_BATCH_SIZE = 1000  # the server's default limit
# While the server keeps refusing readings, one log line at most this often (seconds).
DEAD_LETTER_LOG_INTERVAL = 600.0


class Poster(Protocol):
    """What the sender needs of an HTTP client (device.http.Client)."""

    base_url: str

    def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST JSON; raise TransportError when no answer comes."""
        ...


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How the sender paces itself; the defaults suit a Pi, tests shrink the times."""

    batch_size: int = 500
    send_rate: float = 1.0  # requests per second at most: the catch-up pace
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    retry_after_max: float = 3600.0
    idle_check: float = 60.0


class Backoff:
    """Exponential backoff with full jitter: uniform(0, min(max, base × 2^attempt))."""

    def __init__(self, base: float, cap: float, rng: random.Random) -> None:
        self._base = base
        self._cap = cap
        self._rng = rng
        self.attempt = 0

    def next(self) -> float:
        """The next delay; each call doubles the ceiling up to the cap."""
        ceiling = min(self._cap, self._base * 2 ** min(self.attempt, 32))
        self.attempt += 1
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        """Start again from the base after a success."""
        self.attempt = 0


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
        self._backoff = Backoff(settings.backoff_base, settings.backoff_max, self._rng)
        self.batch_size = min(settings.batch_size, MAX_BATCH_SIZE)
        self.state = Verdict.ACKNOWLEDGED
        self._trouble_since = 0.0
        self._next_request = 0.0
        self._fault: str | None = None  # the last unexpected error, logged once
        # Refusals since the last dead-letter log line: readings, readings dropped, latest.
        self._refusals = (0, 0, "")
        self._refusals_logged_at: float | None = None

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
                    return self._trouble(
                        Verdict.MISDIRECTED, self._not_acknowledged(response), response
                    )
                self._acknowledge(chunk, duplicates=counts[1])
            elif verdict in (Verdict.TOO_LARGE, Verdict.INVALID):
                chunks[:0] = self._refused_content(chunk, response, verdict)
            else:
                return self._trouble(verdict, self._explain(verdict, response), response)
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
        self._backoff.reset()
        if self.state is not Verdict.ACKNOWLEDGED:
            outage = self._clock.monotonic() - self._trouble_since
            logger.info(
                "delivering again after %.0f s (%s); %d readings still to send",
                outage,
                self.state.value,
                self._spool.status().pending,
            )
            self.state = Verdict.ACKNOWLEDGED

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
        count, lost, _ = self._refusals
        self._refusals = (count + moved, lost + dropped, f"{response.status}: {refused[-1][1]}")
        self._report_refusals()

    def _report_refusals(self, *, now_or_never: bool = False) -> None:
        """Log the refusals not yet logged: at once the first time, then at most every
        DEAD_LETTER_LOG_INTERVAL (or now, with now_or_never, when the sender stops)."""
        count, lost, latest = self._refusals
        if not count and not lost:
            return
        now = self._clock.monotonic()
        logged = self._refusals_logged_at
        if not now_or_never and logged is not None and now - logged < DEAD_LETTER_LOG_INTERVAL:
            return  # a server refusing every reading must not write a log line for each
        self._refusals, self._refusals_logged_at = (0, 0, ""), now
        logger.warning(
            "the server refused %d reading(s)%s (the latest: %s); they are kept in the "
            "dead-letter table (`telemetry-agent dead-letters` lists them, `--requeue` sends "
            "them again)%s",
            count,
            "" if logged is None else f" in the last {now - logged:.0f} s",
            latest,
            f"; the table is full, so its {lost} oldest were dropped: look at why the server "
            "refuses them"
            if lost
            else "",
        )

    def _not_acknowledged(self, response: Response) -> str:
        return (
            f"{self._client.base_url} answered {response.status} without the telemetry "
            f"server's acknowledgement ({describe(response)}); readings are kept. Check that "
            "`server` is the telemetry server's base URL and that no captive portal or proxy "
            "answers in its place"
        )

    def _explain(self, verdict: Verdict, response: Response) -> str:
        detail = describe(response)
        server = self._client.base_url
        if verdict is Verdict.REFUSED:
            return (
                f"{server} refused the token ({response.status}: {detail}); readings are kept. "
                "Check the token file, or issue a new token on the server with "
                "`telemetry device rotate NAME`"
            )
        if verdict is Verdict.MISDIRECTED:
            location = response.headers.get("location")
            moved = f" (redirected to {location}: use that URL)" if location else ""
            return (
                f"unexpected answer {response.status} from {server}{moved}: {detail}; "
                "check that `server` is the telemetry server's base URL; readings are kept"
            )
        return f"{server} answered {response.status}: {detail}; readings are kept"

    def _trouble(self, verdict: Verdict, message: str, response: Response | None) -> float:
        """Record a failed attempt; returns how long to wait before the next one."""
        retry_after = response.retry_after(self._clock.now()) if response is not None else None
        if retry_after is not None:
            retry_after = min(retry_after, self.settings.retry_after_max)
        if verdict in (Verdict.REFUSED, Verdict.MISDIRECTED):
            delay = self.settings.backoff_max  # a person has to act; do not hammer meanwhile
        elif verdict is Verdict.THROTTLED and retry_after is not None:
            # At least what the server asked, spread so that a fleet does not come back at once.
            delay = retry_after * self._rng.uniform(1.0, 1.2)
        else:
            delay = max(self._backoff.next(), retry_after or 0.0)
        if verdict is not self.state:
            level = logging.INFO if verdict is Verdict.THROTTLED else logging.WARNING
            if verdict in (Verdict.REFUSED, Verdict.MISDIRECTED):
                level = logging.ERROR
            logger.log(level, "%s; next attempt in %.1f s", message, delay)
            if self.state is Verdict.ACKNOWLEDGED:
                self._trouble_since = self._clock.monotonic()
            self.state = verdict
        self._spool.note_error(message, self._clock.now())
        return delay

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """Deliver until `stop` is set; `wake` is set whenever a reading is spooled."""
        try:
            self._deliver_until(stop, wake)
        finally:
            self._report_refusals(now_or_never=True)

    def _deliver_until(self, stop: threading.Event, wake: threading.Event) -> None:
        while not stop.is_set():
            try:
                delay = self.step()
                self._report_refusals()
                self._fault = None
            except Exception as exc:
                # Whatever went wrong (the spool, an answer nobody foresaw), the readings
                # are still spooled: back off and try again, never stop delivering.
                delay = self._backoff.next()
                if str(exc) != self._fault:
                    self._fault = str(exc)
                    logger.exception("delivering failed: %s; retrying in %.1f s", exc, delay)
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
            self._report_refusals(now_or_never=True)

    def _flush_until(self, stop: threading.Event, deadline: float) -> bool:
        while not stop.is_set():
            delay = self.step()
            if delay is None:
                return True
            if self.state in (Verdict.REFUSED, Verdict.MISDIRECTED):
                return False
            if self._clock.monotonic() + delay > deadline:
                return False
            if delay > 0 and self._wait(delay):
                break
        return False


def _value_count(readings: Sequence[Spooled]) -> int:
    """How many values the readings carry: what an acknowledgement must account for."""
    return sum(len(json.loads(r.payload)) for r in readings)
