"""The devices context: registration, tokens, revocation, listings with latest values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.db import create_db_engine, create_session_factory
from app.telemetry.devices import DeviceError, DeviceNotFound, Devices, normalize_device_name
from app.telemetry.tokens import TOKEN_PREFIX, hash_token
from tests.factories import FakeClock, make_settings


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def devices(database_url: str) -> Devices:
    engine = create_db_engine(make_settings(database_url))
    return Devices(create_session_factory(engine), FakeClock(), token_cache_seconds=0)


def test_a_new_device_gets_a_token_of_which_only_a_hash_is_stored(devices: Devices) -> None:
    device, token = devices.add("greenhouse")
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    assert device.name == "greenhouse" and not device.revoked
    with devices._sessions() as session:
        stored = session.execute(sa.text("SELECT token_hash FROM devices")).scalar_one()
    assert stored == hash_token(token)
    assert token not in stored


def test_tokens_open_their_own_device(devices: Devices) -> None:
    _, first = devices.add("one")
    _, second = devices.add("two")
    ref_one, ref_two = (
        devices.authenticate(hash_token(first)),
        devices.authenticate(hash_token(second)),
    )
    assert ref_one is not None and ref_one.name == "one"
    assert ref_two is not None and ref_two.name == "two"
    assert devices.authenticate(hash_token("tlm_unknown")) is None


def test_a_name_is_unique(devices: Devices) -> None:
    devices.add("greenhouse")
    with pytest.raises(DeviceError, match="already exists"):
        devices.add(" greenhouse ")


@pytest.mark.parametrize("raw", ["", "   ", "a/b", "tab\there", "x" * 65, "bell\x07"])
def test_bad_names_are_refused(raw: str) -> None:
    with pytest.raises(DeviceError):
        normalize_device_name(raw)


def test_any_printable_name_is_allowed() -> None:
    assert normalize_device_name("<img src=x onerror=alert(1)>") == "<img src=x onerror=alert(1)>"
    assert normalize_device_name("Serre nord — étage 2") == "Serre nord — étage 2"


def test_a_revoked_token_opens_nothing_and_the_device_stays(devices: Devices) -> None:
    _, token = devices.add("greenhouse")
    revoked = devices.revoke("greenhouse")
    assert revoked.revoked and revoked.revoked_at == FakeClock().now
    assert devices.authenticate(hash_token(token)) is None
    assert devices.get("greenhouse").revoked


def test_rotating_issues_a_new_token_and_lifts_a_revocation(devices: Devices) -> None:
    _, old = devices.add("greenhouse")
    devices.revoke("greenhouse")
    new = devices.rotate_token("greenhouse")
    assert devices.authenticate(hash_token(old)) is None
    assert devices.authenticate(hash_token(new)) is not None
    assert not devices.get("greenhouse").revoked


def test_unknown_devices_are_reported_by_name(devices: Devices) -> None:
    with pytest.raises(DeviceNotFound, match="'ghost'"):
        devices.get("ghost")
    with pytest.raises(DeviceNotFound):
        devices.revoke("ghost")


def test_listing_pages_in_name_order(devices: Devices) -> None:
    for name in ["c", "a", "e", "b", "d"]:
        devices.add(name)
    assert [d.name for d in devices.list(limit=2)] == ["a", "b"]
    assert [d.name for d in devices.list(limit=2, after="b")] == ["c", "d"]
    assert [d.name for d in devices.list(limit=10, after="d")] == ["e"]


def test_the_token_cache_remembers_a_device_for_its_lifetime(sqlite_url: str) -> None:
    engine = create_db_engine(make_settings(sqlite_url))
    monotonic = FakeMonotonic()
    devices = Devices(
        create_session_factory(engine), FakeClock(), token_cache_seconds=10, monotonic=monotonic
    )
    _, token = devices.add("greenhouse")
    key = hash_token(token)
    assert devices.cached_identity(key) is None
    assert devices.authenticate(key) is not None
    assert devices.cached_identity(key) is not None
    # Revoked by another process (the CLI): this process learns it when the entry expires.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE devices SET revoked_at = 1"))
    monotonic.now += 9
    assert devices.authenticate(key) is not None
    monotonic.now += 2
    assert devices.authenticate(key) is None


def test_a_revocation_in_this_process_takes_effect_at_once(sqlite_url: str) -> None:
    engine = create_db_engine(make_settings(sqlite_url))
    devices = Devices(create_session_factory(engine), FakeClock(), token_cache_seconds=60)
    _, token = devices.add("greenhouse")
    assert devices.authenticate(hash_token(token)) is not None
    devices.revoke("greenhouse")
    assert devices.authenticate(hash_token(token)) is None


def test_creation_time_comes_from_the_clock(database_url: str) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    devices = Devices(create_session_factory(create_db_engine(make_settings(database_url))), clock)
    device, _ = devices.add("greenhouse")
    assert device.created_at == clock.now
    assert devices.get("greenhouse").created_at == clock.now
