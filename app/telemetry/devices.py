"""The devices context: register, list, revoke and authenticate devices."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import translate_storage_errors
from app.telemetry.clock import Clock

# Re-exported: names callers knew here before the rules moved to device_names.py.
from app.telemetry.device_names import DEVICE_NAME_RULE as DEVICE_NAME_RULE
from app.telemetry.device_names import NAMES_IGNORE_CASE as NAMES_IGNORE_CASE
from app.telemetry.device_names import DeviceError as DeviceError
from app.telemetry.device_names import already_exists
from app.telemetry.device_names import normalize_device_name as normalize_device_name
from app.telemetry.device_rows import DeviceDeleted, count_readings, delete_device_rows
from app.telemetry.device_states import DeviceState, read_device_states
from app.telemetry.models import Device, Series, device_name_key
from app.telemetry.quantities import unit_of
from app.telemetry.tokens import hash_token, new_token


class DeviceNotFound(DeviceError):
    """No device has that name; `alike` is the one named so without regard to case, if any."""

    def __init__(self, message: str, *, alike: str | None = None) -> None:
        super().__init__(message)
        self.alike = alike


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """The identity an authenticated request carries: small and immutable."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest stored value of one quantity."""

    value: float
    unit: str | None
    measured_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """A device as listings show it."""

    name: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    latest: dict[str, LatestValue]

    @property
    def revoked(self) -> bool:
        """True once the device's token no longer opens the ingest API."""
        return self.revoked_at is not None


def _latest_values(session: Session, device_ids: list[int]) -> dict[int, dict[str, LatestValue]]:
    """The newest value of every series of these devices, as the writer keeps it."""
    query = (
        select(Series.device_id, Series.quantity, Series.latest_value, Series.latest_at)
        .where(Series.device_id.in_(device_ids), Series.latest_at.is_not(None))
        .order_by(Series.device_id, Series.quantity)
    )
    latest: dict[int, dict[str, LatestValue]] = {}
    for row in session.execute(query):
        latest.setdefault(row.device_id, {})[row.quantity] = LatestValue(
            row.latest_value, unit_of(row.quantity), row.latest_at
        )
    return latest


def _summarize(session: Session, devices: Sequence[Device]) -> list[DeviceSummary]:
    latest = _latest_values(session, [d.id for d in devices]) if devices else {}
    return [
        DeviceSummary(
            name=device.name,
            created_at=device.created_at,
            last_seen_at=device.last_seen_at,
            revoked_at=device.revoked_at,
            latest=latest.get(device.id, {}),
        )
        for device in devices
    ]


# Written in the same transaction as a device change (the audit line, which the accounts
# context makes): the session, the device's name, and what changed.
AlongWith = Callable[[Session, str, str], None]


def _nothing(session: Session, name: str, detail: str) -> None:
    """No other write."""


class Devices:
    """Device registry backed by the database; the only code that touches the devices table."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        token_cache_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._monotonic = monotonic
        self._cache_seconds = token_cache_seconds
        # token hash -> (device, monotonic expiry). Only hits are cached, so a new device
        # works at once; a revocation made elsewhere takes effect within the cache time.
        self._token_cache: dict[str, tuple[DeviceRef, float]] = {}

    def add(self, raw_name: str, along: AlongWith = _nothing) -> tuple[DeviceSummary, str]:
        """Register a device; returns it with its token, which is not stored anywhere."""
        name = normalize_device_name(raw_name)
        key = device_name_key(name)
        token = new_token()
        try:
            with translate_storage_errors(), self._sessions.begin() as session:
                device = Device(
                    name=name, name_key=key, token_hash=hash_token(token), created_at=self._clock()
                )
                session.add(device)
                session.flush()
                along(session, name, "")
                return _summarize(session, [device])[0], token
        except IntegrityError:
            # The unique index on the case-folded name refused it, whoever added the other
            # one, even a concurrent process (a check before the insert could not see it).
            with translate_storage_errors(), self._sessions() as session:
                existing = self._named_alike(session, key)
            raise already_exists(existing or name) from None

    def rotate_token(self, raw_name: str, along: AlongWith = _nothing) -> str:
        """Give a device a new token (and lift a revocation); the old token stops working."""
        token = new_token()
        with translate_storage_errors(), self._sessions.begin() as session:
            device = self._get(session, raw_name)
            old_hash = device.token_hash
            device.token_hash = hash_token(token)
            device.revoked_at = None
            along(session, device.name, "new token")
        self._token_cache.pop(old_hash, None)
        return token

    def revoke(self, raw_name: str, along: AlongWith = _nothing) -> DeviceSummary:
        """Stop a device's token from opening the ingest API; its data stays."""
        with translate_storage_errors(), self._sessions.begin() as session:
            device = self._get(session, raw_name)
            if device.revoked_at is None:
                device.revoked_at = self._clock()
                along(session, device.name, "")
            token_hash = device.token_hash
            summary = _summarize(session, [device])[0]
        # After the commit: a lookup racing with it must not cache the device again.
        self._token_cache.pop(token_hash, None)
        return summary

    def rename(
        self, raw_name: str, raw_new_name: str, along: AlongWith = _nothing
    ) -> DeviceSummary:
        """Give a device another name (the rules and uniqueness of `add`); token and data stay."""
        new_name = normalize_device_name(raw_new_name)
        key = device_name_key(new_name)
        try:
            with translate_storage_errors(), self._sessions.begin() as session:
                device = self._get(session, raw_name)
                old_name = device.name
                device.name, device.name_key = new_name, key
                session.flush()
                if new_name != old_name:
                    along(session, new_name, f"renamed from {old_name!r}")
                token_hash = device.token_hash
                summary = _summarize(session, [device])[0]
        except IntegrityError:
            with translate_storage_errors(), self._sessions() as session:
                existing = self._named_alike(session, key)
            raise already_exists(existing or new_name) from None
        self._token_cache.pop(token_hash, None)  # it holds the old name
        return summary

    def reading_count(self, raw_name: str) -> int:
        """How many readings (distinct times) the device has stored (reads every row)."""
        with translate_storage_errors(), self._sessions() as session:
            return count_readings(session, self._get(session, raw_name).id)[0]

    def delete(self, raw_name: str, along: AlongWith = _nothing) -> DeviceDeleted:
        """Delete a device with its series, readings and rollups, in one transaction.

        While a writer runs in this process, call it through Measurements.between_writes:
        the writer must not fold values into rollups of series that are gone.
        """
        with translate_storage_errors(), self._sessions.begin() as session:
            device = self._get(session, raw_name)
            token_hash = device.token_hash
            deleted = delete_device_rows(session, device)
            detail = f"{deleted.readings} readings ({deleted.values} values) deleted"
            along(session, deleted.name, detail)
        self._token_cache.pop(token_hash, None)
        return deleted

    def get(self, raw_name: str) -> DeviceSummary:
        """One device with its latest values; DeviceNotFound if there is none."""
        with translate_storage_errors(), self._sessions() as session:
            return _summarize(session, [self._get(session, raw_name)])[0]

    def ref(self, raw_name: str) -> DeviceRef:
        """The identity of the device named `raw_name`, revoked or not; DeviceNotFound if none."""
        with translate_storage_errors(), self._sessions() as session:
            device = self._get(session, raw_name)
            return DeviceRef(device.id, device.name)

    def list(self, *, limit: int, after: str | None = None) -> Sequence[DeviceSummary]:
        """Devices in name order, `limit` at a time, starting after the name `after`."""
        query = select(Device).order_by(Device.name).limit(limit)
        if after is not None:
            query = query.where(Device.name > after)
        with translate_storage_errors(), self._sessions() as session:
            return _summarize(session, list(session.scalars(query)))

    def states(self, *, since: datetime, recent_minutes: int) -> Sequence[DeviceState]:
        """Every device's stored state, in name order, in a fixed number of statements.

        Each quantity carries its minute rollups from `since`; each device the last
        `recent_minutes` minutes with readings of its most recently updated series.
        """
        with translate_storage_errors(), self._sessions() as session:
            return read_device_states(session.connection(), since=since, recent=recent_minutes)

    def registered_after(self, device_id: int) -> Sequence[DeviceRef]:
        """Devices registered with an id above `device_id` (ids only grow), in id order."""
        query = select(Device.id, Device.name).where(Device.id > device_id).order_by(Device.id)
        with translate_storage_errors(), self._sessions() as session:
            return [DeviceRef(row.id, row.name) for row in session.execute(query)]

    def cached_identity(self, token_hash: str) -> DeviceRef | None:
        """The device for a token checked recently, without touching the database."""
        entry = self._token_cache.get(token_hash)
        if entry is None:
            return None
        if entry[1] < self._monotonic():
            self._token_cache.pop(token_hash, None)
            return None
        return entry[0]

    def authenticate(self, token_hash: str) -> DeviceRef | None:
        """The active device holding this token, or None (blocking: run it in a thread)."""
        cached = self.cached_identity(token_hash)
        if cached is not None:
            return cached
        query = select(Device.id, Device.name).where(
            Device.token_hash == token_hash, Device.revoked_at.is_(None)
        )
        with translate_storage_errors(), self._sessions() as session:
            row = session.execute(query).first()
        if row is None:
            return None
        ref = DeviceRef(id=row.id, name=row.name)
        if self._cache_seconds > 0:
            self._token_cache[token_hash] = (ref, self._monotonic() + self._cache_seconds)
        return ref

    def _get(self, session: Session, raw_name: str) -> Device:
        name = unicodedata.normalize("NFC", raw_name.strip())
        device = session.scalar(select(Device).where(Device.name == name))
        if device is None:
            alike = self._named_alike(session, device_name_key(name))
            hint = f"; did you mean {alike!r}?" if alike else ""
            raise DeviceNotFound(f"no device is named {name!r}{hint}", alike=alike)
        return device

    def _named_alike(self, session: Session, key: str) -> str | None:
        """The name of the device whose name equals `key` without regard to case, if any."""
        return session.scalar(select(Device.name).where(Device.name_key == key))
