"""The sender against a model server: acknowledgement, backoff, Retry-After, 413, 422, 401."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from device.answers import Verdict, classify
from device.backoff import Backoff
from device.clock import format_time
from device.http import Response
from device.sender import DeliverySettings, Sender, encode_batch
from device.spool import Spool
from tests.device.fakes import START, FakeClock, IngestLimits, ModelServer

SETTINGS = DeliverySettings(batch_size=10, send_rate=1.0, backoff_base=1.0, backoff_max=300.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool.open(tmp_path / "spool.db")


@pytest.fixture
def server(clock: FakeClock) -> ModelServer:
    return ModelServer(now=clock.now)


def _sender(
    spool: Spool, server: ModelServer, clock: FakeClock, settings: DeliverySettings = SETTINGS
) -> Sender:
    return Sender(spool, server, "token", clock, settings, wait=clock.wait, rng=random.Random(1))


def _take(spool: Spool, count: int, **values: float) -> list[str]:
    stamps = []
    for i in range(count):
        moment = START + timedelta(seconds=i)
        spool.add(values or {"temperature": 20.0, "humidity": 40.0}, measured_at=moment)
        stamps.append(format_time(moment))
    return stamps


class _StopWhenIdle(threading.Event):
    """The sender's wake-up event, which ends its run when the sender has nothing to send."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self._stop = stop
        self.timeouts: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        self._stop.set()
        return True


def _drain(sender: Sender, steps: int = 100) -> list[float | None]:
    delays: list[float | None] = []
    for _ in range(steps):
        delay = sender.step()
        delays.append(delay)
        if delay is None:
            break
    return delays


def test_acknowledged_readings_leave_the_spool(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    stamps = _take(spool, 3)
    _drain(_sender(spool, server, clock))
    assert sorted({at for at, _ in server.stored}) == stamps
    status = spool.status()
    assert (status.pending, status.counters["sent"]) == (0, 3)


def test_oldest_readings_go_first_in_batches_of_the_configured_size(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    stamps = _take(spool, 25)
    _drain(_sender(spool, server, clock))
    assert server.batches == [stamps[0:10], stamps[10:20], stamps[20:25]]


def test_catching_up_is_paced_by_the_send_rate(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    _take(spool, 30)
    settings = DeliverySettings(batch_size=10, send_rate=2.0)
    _drain(_sender(spool, server, clock, settings))
    assert clock.waits == [pytest.approx(0.5), pytest.approx(0.5)]  # 3 requests, 2 per second


def test_the_body_resends_measured_at_exactly_as_spooled(spool: Spool) -> None:
    _take(spool, 2)
    body = json.loads(encode_batch(spool.next_batch(2)))
    assert body == {
        "measurements": [
            {
                "measured_at": "2026-11-21T10:00:00.000000Z",
                "values": {"temperature": 20.0, "humidity": 40.0},
            },
            {
                "measured_at": "2026-11-21T10:00:01.000000Z",
                "values": {"temperature": 20.0, "humidity": 40.0},
            },
        ]
    }


def test_a_network_error_keeps_the_readings_and_backs_off(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    _take(spool, 3)
    server.script = ["refuse"] * 4
    sender = _sender(spool, server, clock)
    delays = [sender.step() for _ in range(4)]
    for attempt, delay in enumerate(delays):
        assert delay is not None
        assert 0 <= delay <= 2**attempt  # full jitter under a doubling ceiling
    assert spool.status().pending == 3
    assert "refused the connection" in spool.status().notes["last_error"]
    _drain(sender)
    assert spool.status().counters["sent"] == 3


def test_backoff_is_full_jitter_capped_at_the_maximum() -> None:
    backoff = Backoff(1.0, 300.0, random.Random(5))
    delays = [backoff.next() for _ in range(40)]
    assert max(delays) <= 300.0
    assert max(delays[12:]) > 150  # the ceiling reached the cap
    assert min(delays[12:]) < 150  # and the jitter still spans it
    backoff.reset()
    assert backoff.next() <= 1.0


@pytest.mark.parametrize("status", ["429", "503"])
def test_throttled_answers_wait_at_least_retry_after(
    spool: Spool, server: ModelServer, clock: FakeClock, status: str
) -> None:
    _take(spool, 3)
    server.script = [status] * 5
    sender = _sender(spool, server, clock)
    for _ in range(5):
        delay = sender.step()
        assert delay is not None
        assert 7.0 <= delay <= 7.0 * 1.2
    assert spool.status().pending == 3


def test_retry_after_as_an_http_date_is_understood() -> None:
    answer = Response(429, {"retry-after": "Sat, 21 Nov 2026 10:00:30 GMT"}, b"")
    assert answer.retry_after(START) == 30.0
    assert Response(429, {"retry-after": "soon"}, b"").retry_after(START) is None


def test_a_server_error_without_retry_after_backs_off(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    _take(spool, 1)
    server.script = ["500"]
    delay = _sender(spool, server, clock).step()
    assert delay is not None
    assert 0 <= delay <= 1.0
    assert spool.status().pending == 1


def test_413_halves_the_batch_and_delivers_everything(
    spool: Spool, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    stamps = _take(spool, 10)
    three = len(encode_batch(spool.next_batch(3)))  # bytes: a fourth reading is too many
    server = ModelServer(now=clock.now, limits=IngestLimits(max_body_bytes=three))
    sender = _sender(spool, server, clock)
    with caplog.at_level(logging.INFO, logger="device.sender"):
        _drain(sender)
    assert sorted({at for at, _ in server.stored}) == stamps
    assert sender.batch_size <= 3
    assert all(len(b) <= 3 for b in server.batches[-2:])
    assert any("sending at most" in r.getMessage() for r in caplog.records)


def test_422_dead_letters_only_the_bad_reading(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    stamps = _take(spool, 4)
    spool.add({"humidity": 140.0}, measured_at=START + timedelta(seconds=2, microseconds=1))
    _drain(_sender(spool, server, clock))
    assert sorted({at for at, _ in server.stored}) == stamps
    (letter,) = spool.dead_letters()
    assert letter.values == {"humidity": 140.0}
    assert letter.status == 422
    assert letter.reason == "values.humidity: out of range"
    assert spool.status().pending == 0


def test_422_naming_no_measurement_splits_until_the_bad_one_is_alone(
    spool: Spool, clock: FakeClock
) -> None:
    class Vague(ModelServer):
        def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
            answer = super().post_json(path, body, headers)
            if answer.status == 422:  # a 422 without an index, e.g. from a proxy or older server
                return Response(422, {}, b'{"detail": [{"loc": ["body"], "msg": "bad"}]}')
            return answer

    server = Vague(now=clock.now)
    _take(spool, 8)
    spool.add({"temperature": 999.0}, measured_at=START + timedelta(hours=1))
    sender = _sender(spool, server, clock)
    _drain(sender)
    assert len({at for at, _ in server.stored}) == 8
    (letter,) = spool.dead_letters()
    assert letter.values == {"temperature": 999.0}
    assert sender.batch_size == SETTINGS.batch_size, "only that batch was split"


def test_a_device_over_its_quantities_has_only_the_reading_that_adds_one_dead_lettered(
    spool: Spool, clock: FakeClock
) -> None:
    # The server's 422 for a device's quantity limit names no measurement (loc body.values).
    server = ModelServer(now=clock.now, limits=IngestLimits(max_quantities=2))
    stamps = _take(spool, 6)
    spool.add({"pressure": 1000.0}, measured_at=START + timedelta(seconds=3, microseconds=1))
    stamps += _take(spool, 2)
    sender = _sender(spool, server, clock)
    _drain(sender)
    assert sorted({at for at, _ in server.stored}) == sorted(set(stamps))
    (letter,) = spool.dead_letters()
    assert letter.values == {"pressure": 1000.0}
    assert "values: too many quantities" in letter.reason
    assert sender.batch_size == SETTINGS.batch_size


def test_a_batch_over_the_servers_limit_in_a_422_shrinks_the_batches(
    spool: Spool, clock: FakeClock
) -> None:
    server = ModelServer(now=clock.now, max_batch=4)
    stamps = _take(spool, 10)
    sender = _sender(spool, server, clock)
    _drain(sender)
    assert sorted({at for at, _ in server.stored}) == stamps
    assert sender.batch_size <= 4
    assert spool.dead_letters() == [], "a batch too long is nobody's fault in it"


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Welcome to the guest network</body></html>",
        b'{"stored": 3, "duplicates": 0}',  # counts values it was not sent
        b'{"stored": true, "duplicates": 1}',
        b'{"status": "ok"}',
        b"[" * 100_000,
    ],
)
def test_a_200_that_is_not_the_servers_acknowledgement_keeps_the_readings(
    spool: Spool, clock: FakeClock, body: bytes
) -> None:
    class Portal(ModelServer):
        def post_json(self, path: str, body_sent: bytes, headers: Mapping[str, str]) -> Response:
            return Response(200, {}, body)

    _take(spool, 2)
    sender = _sender(spool, Portal(), clock)
    assert sender.step() == 300.0
    assert sender.state is Verdict.MISDIRECTED
    assert "without the telemetry server's acknowledgement" in spool.status().notes["last_error"]
    assert spool.status().pending == 2


def test_a_server_refusing_everything_writes_a_log_line_now_and_then_not_per_reading(
    spool: Spool, server: ModelServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    sender = _sender(spool, server, clock)
    with caplog.at_level(logging.INFO, logger="device.sender"):
        for i in range(30):  # caught up, one bad reading every 10 s
            clock.advance(10)
            spool.add({"humidity": 140.0}, measured_at=START + timedelta(seconds=i))
            _drain(sender)
        clock.advance(600)
        spool.add({"humidity": 150.0}, measured_at=START + timedelta(hours=1))
        _drain(sender)
        spool.add({"humidity": 160.0}, measured_at=START + timedelta(hours=2))
        _drain(sender)  # within the interval: said when the sender stops, not lost
        assert sender.flush(threading.Event(), deadline=clock.mono + 60)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 3
    assert refusals[0].startswith("the server refused 1 reading(s) (the latest: 422: ")
    assert refusals[1].startswith("the server refused 30 reading(s) in the last 890 s")
    assert refusals[2].startswith("the server refused 1 reading(s)")
    assert len(spool.dead_letters(limit=100)) == 32


def test_dead_letters_dropped_past_the_cap_are_said_in_the_log(
    tmp_path: Path, server: ModelServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool.open(tmp_path / "small.db", max_dead_letters=2)
    for i in range(3):
        spool.add({"humidity": 140.0 + i}, measured_at=START + timedelta(seconds=i))
    with caplog.at_level(logging.WARNING, logger="device.sender"):
        _drain(_sender(spool, server, clock))
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "its 1 oldest were dropped" in line
    assert spool.status().counters["dead_letter_dropped"] == 1


def test_an_unforeseen_failure_backs_off_and_delivery_goes_on(
    spool: Spool, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Flaky(ModelServer):
        def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
            if len(self.outcomes) < 2:
                self.outcomes.append("boom")
                raise RuntimeError("something nobody foresaw")
            return super().post_json(path, body, headers)

    server = Flaky(now=clock.now)
    stamps = _take(spool, 3)
    stop = threading.Event()
    sender = _sender(spool, server, clock)
    with caplog.at_level(logging.INFO, logger="device.sender"):
        sender.run(stop, _StopWhenIdle(stop))
    assert sorted({at for at, _ in server.stored}) == stamps
    failures = [r for r in caplog.records if "nobody foresaw" in r.getMessage()]
    assert len(failures) == 1, "two failures, one line"
    assert failures[0].levelno == logging.ERROR
    assert "Traceback" in failures[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_a_duplicate_answer_after_a_lost_one_counts_as_delivered(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    _take(spool, 5)
    server.script = ["commit_then_timeout"]
    sender = _sender(spool, server, clock)
    assert sender.step() is not None
    assert spool.status().pending == 5  # stored, but we never heard so
    _drain(sender)
    assert server.batches[0] == server.batches[1]  # resent unchanged
    assert set(server.store_count.values()) == {1}
    status = spool.status()
    assert (status.pending, status.counters["sent"], status.counters["duplicates"]) == (0, 5, 10)


def test_401_keeps_readings_logs_once_and_retries_slowly(
    spool: Spool, server: ModelServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    _take(spool, 2)
    server.script = ["401"] * 3
    sender = _sender(spool, server, clock)
    with caplog.at_level(logging.INFO, logger="device.sender"):
        delays = [sender.step() for _ in range(3)]
        _drain(sender)
    assert delays == [300.0, 300.0, 300.0]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "refused the token" in errors[0].getMessage()
    assert "telemetry device rotate" in errors[0].getMessage()
    assert spool.status().counters["sent"] == 2
    recovered = [
        r for r in caplog.records if "accepts this agent's readings again" in r.getMessage()
    ]
    assert len(recovered) == 1


def test_an_unexpected_answer_is_never_taken_for_an_acknowledgement(
    spool: Spool, clock: FakeClock
) -> None:
    class Proxy(ModelServer):
        def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
            return Response(302, {"location": "https://telemetry.lan/"}, b"")

    _take(spool, 2)
    sender = _sender(spool, Proxy(), clock)
    assert sender.step() == 300.0
    assert sender.state is Verdict.MISDIRECTED
    assert "redirected to https://telemetry.lan/" in spool.status().notes["last_error"]
    assert spool.status().pending == 2


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.ACKNOWLEDGED),
        (201, Verdict.ACKNOWLEDGED),
        (204, Verdict.MISDIRECTED),
        (400, Verdict.MISDIRECTED),
        (401, Verdict.REFUSED),
        (403, Verdict.REFUSED),
        (404, Verdict.MISDIRECTED),
        (408, Verdict.UNAVAILABLE),
        (413, Verdict.TOO_LARGE),
        (422, Verdict.INVALID),
        (429, Verdict.THROTTLED),
        (500, Verdict.UNAVAILABLE),
        (502, Verdict.UNAVAILABLE),
        (503, Verdict.THROTTLED),
    ],
)
def test_every_status_has_one_verdict(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_flush_gives_up_on_a_refusal_and_keeps_the_readings(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    _take(spool, 2)
    server.script = ["401"]
    assert not _sender(spool, server, clock).flush(threading.Event(), deadline=clock.mono + 60)
    assert spool.status().pending == 2


def test_flush_returns_once_the_spool_is_empty(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    _take(spool, 25)
    server.script = ["refuse", "503"]
    assert _sender(spool, server, clock).flush(threading.Event(), deadline=clock.mono + 60)
    assert spool.status().pending == 0


@pytest.mark.parametrize(("retry_after", "waited"), [(10, 10.0), (11, 10.0), (3600, 10.0)])
def test_retry_after_waits_no_longer_than_retry_after_max(
    spool: Spool, clock: FakeClock, retry_after: int, waited: float
) -> None:
    _take(spool, 1)
    server = ModelServer(now=clock.now, retry_after=retry_after)
    server.script = ["429"]
    settings = DeliverySettings(retry_after_max=10.0)
    delay = _sender(spool, server, clock, settings).step()
    assert delay is not None
    assert waited <= delay <= waited * 1.2


def test_retry_delays_grow_to_backoff_max_and_no_further(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    _take(spool, 1)
    server.script = ["refuse"] * 40
    sender = _sender(spool, server, clock, DeliverySettings(backoff_base=0.5, backoff_max=4.0))
    delays = [sender.step() for _ in range(40)]
    assert all(d is not None and 0 <= d <= 4.0 for d in delays)
    assert max(d for d in delays if d is not None) > 3.0  # the ceiling reached the cap


def test_a_batch_never_holds_more_than_the_servers_default_limit(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    _take(spool, 1001, temperature=20.0)  # one a second
    clock.advance(1001)
    sender = _sender(spool, server, clock, DeliverySettings(batch_size=5000))
    assert sender.batch_size == 1000
    _drain(sender)
    assert [len(b) for b in server.batches] == [1000, 1]


def test_an_idle_sender_looks_at_the_spool_again_after_idle_check(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    stop = threading.Event()
    wake = _StopWhenIdle(stop)
    _sender(spool, server, clock, DeliverySettings(idle_check=42.0)).run(stop, wake)
    assert wake.timeouts == [42.0]


def test_flush_gives_up_rather_than_wait_past_its_deadline(
    spool: Spool, server: ModelServer, clock: FakeClock
) -> None:
    _take(spool, 1)
    server.script = ["refuse"] * 100
    sender = _sender(spool, server, clock, DeliverySettings(backoff_base=4.0, backoff_max=4.0))
    deadline = clock.mono + 10
    assert not sender.flush(threading.Event(), deadline=deadline)
    assert clock.mono <= deadline, "no wait went past the deadline"
    assert spool.status().pending == 1
