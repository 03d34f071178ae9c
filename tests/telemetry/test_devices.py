"""The devices context: registration, tokens, revocation, listings with latest values."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.db import create_db_engine, create_session_factory
from app.telemetry.devices import (
    DEVICE_NAME_RULE,
    DeviceError,
    DeviceNotFound,
    Devices,
    normalize_device_name,
)
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


def test_names_differing_only_in_case_are_one_name(devices: Devices) -> None:
    devices.add("Greenhouse")
    for other in ("greenhouse", "GREENHOUSE", " greenHouse "):
        with pytest.raises(DeviceError) as refused:
            devices.add(other)
        assert str(refused.value) == (
            "a device named 'Greenhouse' already exists; names are compared without regard to case"
        )
    assert [d.name for d in devices.list(limit=10)] == ["Greenhouse"]


def test_case_is_compared_beyond_ascii(devices: Devices) -> None:
    devices.add("Äußere Serre")
    with pytest.raises(DeviceError, match="'Äußere Serre' already exists"):
        devices.add("ÄUSSERE SERRE")


def test_the_database_itself_refuses_names_differing_only_in_case(database_url: str) -> None:
    # What makes two concurrent adds (two processes past the check at once) fail but one.
    engine = create_db_engine(make_settings(database_url))
    insert = sa.text(
        "INSERT INTO devices (name, name_key, token_hash, created_at) "
        "VALUES (:name, :key, :hash, :at)"
    )
    at = datetime(2026, 1, 1, tzinfo=UTC)
    at_value = 0 if engine.dialect.name == "sqlite" else at
    with engine.begin() as conn:
        conn.execute(insert, {"name": "Shed", "key": "shed", "hash": "a" * 64, "at": at_value})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"name": "SHED", "key": "shed", "hash": "b" * 64, "at": at_value})
    engine.dispose()


def test_concurrent_adds_of_one_name_in_two_cases_store_one(database_url: str) -> None:
    engine = create_db_engine(make_settings(database_url))
    start = threading.Barrier(8)

    def add(name: str) -> str:
        devices = Devices(create_session_factory(engine), FakeClock(), token_cache_seconds=0)
        start.wait()
        try:
            devices.add(name)
        except DeviceError as exc:
            return str(exc)
        return "added"

    names = ["Pump", "pump", "PUMP", "pUmp", "puMp", "pumP", "PUmp", "pUMP"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(add, names))
    engine.dispose()
    assert outcomes.count("added") == 1
    assert all(
        "already exists; names are compared without regard" in o for o in outcomes if o != "added"
    )


def test_a_name_not_found_suggests_the_one_differing_in_case(devices: Devices) -> None:
    devices.add("Greenhouse")
    with pytest.raises(
        DeviceNotFound, match="no device is named 'greenhouse'; did you mean 'Greenhouse'"
    ):
        devices.revoke("greenhouse")


@pytest.mark.parametrize(
    ("raw", "broken", "got"),
    [
        ("", "cannot be empty", "got ''"),
        ("   ", "cannot be empty", "got '   '"),
        ("a/b", "cannot contain '/'", "got 'a/b'"),
        ("tab\there", "cannot contain control characters (U+0009)", "got 'tab\\there'"),
        ("x" * 65, "has at most 64 characters", "got 65 characters"),
        ("bell\x07", "cannot contain control characters (U+0007)", "got 'bell\\x07'"),
    ],
)
def test_bad_names_are_refused_stating_the_rule_and_what_was_given(
    raw: str, broken: str, got: str
) -> None:
    with pytest.raises(DeviceError) as refused:
        normalize_device_name(raw)
    message = str(refused.value)
    assert f"a device name {broken}: {DEVICE_NAME_RULE}; {got}" in message
    assert "names are 1 to 64 characters, none of them '/' or a control character" in message


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


class AlongFails(Exception):
    """The write made along with a change failed."""


def _fail(session: object, name: str, detail: str) -> None:
    raise AlongFails(name)


def test_a_change_and_what_is_written_along_with_it_commit_together(devices: Devices) -> None:
    written: list[tuple[str, str]] = []
    devices.add("greenhouse", lambda session, name, detail: written.append((name, detail)))
    devices.rename("greenhouse", "Greenhouse 2", lambda s, n, d: written.append((n, d)))
    assert written == [("greenhouse", ""), ("Greenhouse 2", "renamed from 'greenhouse'")]
    with pytest.raises(AlongFails):
        devices.add("shed", _fail)
    with pytest.raises(AlongFails):
        devices.revoke("Greenhouse 2", _fail)
    with pytest.raises(AlongFails):
        devices.delete("Greenhouse 2", _fail)
    assert [d.name for d in devices.list(limit=10)] == ["Greenhouse 2"]
    assert not devices.get("Greenhouse 2").revoked
