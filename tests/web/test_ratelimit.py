"""Rate limits: per token and per address, moving windows, IETF headers, cheap refusals."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid

import anyio
import pytest
from fastapi.testclient import TestClient
from limits.aio.storage import MovingWindowSupport, Storage

from app.main import create_app
from app.web.client_address import client_address
from app.web.ratelimit import RateLimiter
from app.web.ratelimit_memory import WindowMemoryStorage
from tests.conftest import REDIS_URL, AppFactory, skip_without
from tests.factories import FakeClock, add_device, bearer, make_settings

SINGLE = "/api/v1/measurements"
POLICY = re.compile(r'^"(ip|device)";q=(\d+);w=(\d+)$')
STATE = re.compile(r'^"(ip|device)";r=(\d+);t=(\d+)$')


def fields(header: str) -> list[str]:
    return [part.strip() for part in header.split(",")]


def test_every_ingest_answer_carries_the_policy_and_the_state(make_app: AppFactory) -> None:
    with TestClient(
        make_app(rate_limit_device="5/10seconds", rate_limit_ip="100/minute")
    ) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        answers = [
            client.post(SINGLE, json={"values": {"t": 1.0}}, headers=bearer(token)),  # 201
            client.post(SINGLE, json={"values": {"t": "x"}}, headers=bearer(token)),  # 422
            client.post(SINGLE, content="{", headers=bearer(token)),  # 400
            client.post(SINGLE, json={"values": {"t": 1.0}}, headers=bearer("tlm_nope")),  # 401
        ]
        assert [a.status_code for a in answers] == [201, 422, 400, 401]
        for answer in answers:
            policies = fields(answer.headers["RateLimit-Policy"])
            assert [POLICY.match(p).groups() for p in policies] == [  # type: ignore[union-attr]
                ("ip", "100", "60"),
                ("device", "5", "10"),
            ]
            states = [STATE.match(s) for s in fields(answer.headers["RateLimit"])]
            assert all(states), answer.headers["RateLimit"]
        remaining = [
            int(STATE.match(fields(a.headers["RateLimit"])[1]).group(2))  # type: ignore[union-attr]
            for a in answers[:3]
        ]
        assert remaining == [4, 3, 2]


def test_a_device_over_its_limit_gets_429_with_retry_after(make_app: AppFactory) -> None:
    with TestClient(make_app(rate_limit_device="3/10seconds")) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        codes = [
            client.post(SINGLE, json={"values": {"t": float(i)}}, headers=bearer(token)).status_code
            for i in range(3)
        ]
        assert codes == [201, 201, 201]
        refused = client.post(SINGLE, json={"values": {"t": 9.0}}, headers=bearer(token))
        assert refused.status_code == 429
        retry_after = refused.headers["Retry-After"]
        assert retry_after.isdigit() and 1 <= int(retry_after) <= 10
        body = refused.json()
        assert body["limit"] == "device"
        assert body["retry_after"] == int(retry_after)
        assert "3 per 10 s" in body["detail"]
        # Another device is not affected.
        other = add_device(client.app, "shed")  # type: ignore[arg-type]
        assert (
            client.post(SINGLE, json={"values": {"t": 1.0}}, headers=bearer(other)).status_code
            == 201
        )


def test_an_address_over_its_limit_gets_429_whatever_the_token(make_app: AppFactory) -> None:
    with TestClient(make_app(rate_limit_ip="2/minute")) as client:
        tokens = [add_device(client.app, f"d{i}") for i in range(3)]  # type: ignore[arg-type]
        codes = [
            client.post(SINGLE, json={"values": {"t": 1.0}}, headers=bearer(t)).status_code
            for t in tokens
        ]
        assert codes == [201, 201, 429]


def test_a_refused_request_costs_no_body_parse_and_no_lookup(make_app: AppFactory) -> None:
    with TestClient(make_app(rate_limit_device="1/minute")) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        assert (
            client.post(SINGLE, json={"values": {"t": 1.0}}, headers=bearer(token)).status_code
            == 201
        )
        # Malformed JSON would be a 400 if the body were read: the limit answers first.
        assert client.post(SINGLE, content="{", headers=bearer(token)).status_code == 429
        # An unknown token is limited by its own key before any database lookup.
        unknown = bearer("tlm_" + uuid.uuid4().hex)
        assert client.post(SINGLE, content="{", headers=unknown).status_code == 401
        assert client.post(SINGLE, content="{", headers=unknown).status_code == 429


def test_made_up_tokens_share_one_bucket(make_app: AppFactory) -> None:
    with TestClient(make_app(rate_limit_device="2/minute")) as client:
        codes = [
            client.post(SINGLE, content="{", headers=bearer(f"junk-{i}")).status_code
            for i in range(3)
        ]
        assert codes == [401, 401, 429]


def test_an_unreachable_limit_storage_lets_ingest_through(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(rate_limit_device="1/minute", rate_limit_storage_url="redis://127.0.0.1:1")
    with TestClient(app) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        answers = [
            client.post(SINGLE, json={"values": {"t": float(i)}}, headers=bearer(token))
            for i in range(3)
        ]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert "RateLimit" not in answers[0].headers
    outages = [r for r in caplog.records if "rate limits are off" in r.getMessage()]
    assert len(outages) == 1, "the outage is logged once, not per request"


class _Switchable(Storage, MovingWindowSupport):
    """A `limits` storage that counts nothing, and fails while `down` (as Redis would)."""

    STORAGE_SCHEME = ["async+switchable"]  # noqa: RUF012  (the attribute limits reads)
    down = False

    @property
    def base_exceptions(self) -> type[Exception]:
        return ConnectionError

    def _reach(self) -> None:
        if _Switchable.down:
            raise ConnectionError("connection refused")

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        self._reach()
        return True

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        self._reach()
        return time.time(), 1

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return amount

    async def get(self, key: str) -> int:
        return 0

    async def get_expiry(self, key: str) -> float:
        return 0.0

    async def check(self) -> bool:
        return not _Switchable.down

    async def reset(self) -> int | None:
        return None

    async def clear(self, key: str) -> None:
        return None


def test_a_storage_outage_is_logged_once_and_so_is_the_recovery(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.web.ratelimit")
    limiter = RateLimiter(
        make_settings(
            sqlite_url, rate_limit_device="5/minute", rate_limit_storage_url="async+switchable://"
        )
    )

    async def checks(count: int) -> list[bool]:
        return [bool((await limiter.check("10.0.0.1", "digest")).headers) for _ in range(count)]

    try:
        _Switchable.down = True
        unchecked = anyio.run(checks, 3)
        assert limiter.health.down and limiter.health.failures == 3
        _Switchable.down = False
        checked = anyio.run(checks, 2)
    finally:
        _Switchable.down = False
    assert unchecked == [False, False, False], "while down, requests pass without RateLimit"
    assert checked == [True, True]
    assert not limiter.health.down
    messages = [r.getMessage() for r in caplog.records if r.name == "app.web.ratelimit"]
    assert len(messages) == 2, messages
    assert messages[0].startswith("rate limits are off: their storage is unreachable")
    assert "connection refused" in messages[0]
    assert messages[1].startswith("rate limits are on again after")
    assert "3 requests passed unchecked" in messages[1]


def test_the_number_of_counted_keys_is_bounded() -> None:
    storage = WindowMemoryStorage(max_keys=50)

    async def flood() -> tuple[float, int]:
        for i in range(500):
            await storage.acquire_entry(f"key{i}", limit=5, expiry=60)
        return await storage.get_moving_window("key499", limit=5, expiry=60)

    newest = anyio.run(flood)
    assert len(storage) <= 50
    assert newest[1] == 1, "the newest key is still counted"


def test_none_turns_a_limit_off(make_app: AppFactory) -> None:
    with TestClient(make_app(rate_limit_device="none", rate_limit_ip="none")) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        answer = client.post(SINGLE, json={"values": {"t": 1.0}}, headers=bearer(token))
        assert "RateLimit" not in answer.headers
        assert "RateLimit-Policy" not in answer.headers


def test_the_window_moves_rather_than_resetting(sqlite_url: str) -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        make_settings(sqlite_url, rate_limit_device="2/second", rate_limit_ip="none"),
        clock=lambda: clock().timestamp(),
    )

    async def scenario() -> list[bool | int]:
        async def allowed() -> bool:
            return (await limiter.check("10.0.0.1", "token-digest")).exceeded is None

        first = await allowed()
        clock.advance(0.6)
        second = await allowed()
        refused = await limiter.check("10.0.0.1", "token-digest")  # two hits in the last second
        clock.advance(0.5)  # the first hit has left the window, the second has not
        fourth = await allowed()
        fifth = await allowed()
        return [first, second, refused.exceeded is None, refused.retry_after, fourth, fifth]

    # Retry in 1 s: the oldest hit (at 0) leaves the window at 1.0, 0.4 s after 0.6.
    assert anyio.run(scenario) == [True, True, False, 1, True, False]


def test_idle_keys_are_swept_from_memory() -> None:
    clock = FakeClock()
    storage = WindowMemoryStorage(clock=lambda: clock().timestamp())

    async def fill() -> None:
        for i in range(100):
            await storage.acquire_entry(f"key{i}", limit=5, expiry=1)

    anyio.run(fill)
    assert len(storage) == 100
    clock.advance(1.05)  # past the window and the sweep interval
    anyio.run(storage.acquire_entry, "fresh", 5, 1)
    assert len(storage) == 1
    assert anyio.run(storage.get_moving_window, "fresh", 5, 1)[1] == 1


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", "198.51.100.7", [], "203.0.113.9"),  # not trusted: ignored
        ("10.0.0.2", "198.51.100.7", ["10.0.0.0/8"], "198.51.100.7"),
        ("10.0.0.2", "198.51.100.7, 10.0.0.5", ["10.0.0.0/8"], "198.51.100.7"),
        ("10.0.0.2", "1.1.1.1, 198.51.100.7", ["10.0.0.0/8"], "198.51.100.7"),  # spoofed left
        ("10.0.0.2", "garbage", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", None, ["10.0.0.0/8"], "10.0.0.2"),
        ("203.0.113.9", "198.51.100.7", ["10.0.0.0/8"], "203.0.113.9"),
        ("::ffff:10.0.0.2", "198.51.100.7", ["10.0.0.0/8"], "198.51.100.7"),  # mapped proxy
        ("10.0.0.2", "198.51.100.7:4711", ["10.0.0.0/8"], "198.51.100.7"),  # with a port
        ("10.0.0.2", "[2001:db8::1]:443", ["10.0.0.0/8"], "2001:db8::/64"),
        ("2001:db8:1:2:3:4:5:6", None, [], "2001:db8:1:2::/64"),  # IPv6 by /64
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str, forwarded: str | None, trusted: list[str], expected: str
) -> None:
    networks = [ipaddress.ip_network(n) for n in trusted]
    assert client_address(peer, forwarded, networks) == expected


def test_workers_sharing_redis_share_the_limits(sqlite_url: str) -> None:
    skip_without(REDIS_URL, "Redis")
    # Keys are digests of the token, and tokens are new each run: no clash with old keys.
    settings = make_settings(
        sqlite_url, rate_limit_device="3/minute", rate_limit_storage_url=REDIS_URL
    )
    first, second = create_app(settings), create_app(settings)
    with TestClient(first) as a, TestClient(second) as b:
        token = add_device(first, "greenhouse")
        codes = [
            client.post(SINGLE, json={"values": {"t": float(i)}}, headers=bearer(token)).status_code
            for i, client in enumerate([a, b, a, b])
        ]
    assert codes == [201, 201, 201, 429]


class _FixedWindowsOnly(Storage):
    """A `limits` storage without moving windows (as some backends are)."""

    STORAGE_SCHEME = ["async+fixed-only"]  # noqa: RUF012  (the attribute limits reads)

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return amount

    async def get(self, key: str) -> int:
        return 0

    async def get_expiry(self, key: str) -> float:
        return 0.0

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        return None

    async def clear(self, key: str) -> None:
        return None


def test_a_storage_without_moving_windows_is_refused_at_start(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, rate_limit_storage_url="async+fixed-only://")
    with pytest.raises(ValueError, match="no moving windows; use memory:// or redis://"):
        RateLimiter(settings)
