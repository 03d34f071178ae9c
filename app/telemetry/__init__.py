"""The telemetry context: devices, measurements, series and the events they publish.

Everything outside this package (the web layer, the live hub, the command line, the
app's wiring) imports from here, never from the modules inside; import-linter keeps it
so (pyproject.toml). The names below are the whole public face.

Glossary:

- a *device* is a sensor host posting with its own token (`Devices`, `DeviceRef`);
- a *reading* (`Reading`) is what a device measured at one time: several values, one
  per quantity; the API calls it a *measurement*, and its body's `values` hold them;
- the `measurements` table holds one row per *value*: (series, measured_at, value),
  so one reading of temperature and humidity is two rows; counts (`stored`,
  `duplicates`) are of values;
- a *quantity* is what a value measures (temperature, humidity, ...); known ones have a
  unit and a plausible range (`KNOWN_QUANTITIES`);
- a *series* is a (device, quantity) pair, stored once; it keeps its latest value;
- a *rollup* is the min, max, sum and count of a series over one minute or one hour,
  kept current by the writer; history is read from rollups (`History`);
- *last seen* is when the server last received a reading from a device;
- an event (`MeasurementInserted`) announces a reading's new values after they are
  committed; a resend announces nothing.

Inside: devices.py, device_names.py, device_rows.py and device_states.py (the registry,
its naming rules, the rows a device owns, and its stored state),
measurements.py (the one door for writes, over the writing/ subpackage: group commit),
history.py, retention.py, quantities.py, readings.py, reading_rules.py (what a storable
reading is, for the API and the importer alike), events.py, tokens.py, clock.py,
models.py (the tables).
"""

from __future__ import annotations

from app.db import StorageUnavailable
from app.telemetry.clock import Clock, utc_now
from app.telemetry.device_names import (
    DEVICE_NAME_RULE,
    DeviceError,
    DeviceNameTaken,
    normalize_device_name,
)
from app.telemetry.device_rows import DeviceDeleted
from app.telemetry.device_states import DeviceState, MinuteTotal, QuantityState
from app.telemetry.devices import (
    AlongWith,
    DeviceNotFound,
    DeviceRef,
    Devices,
    DeviceSummary,
    LatestValue,
)
from app.telemetry.events import MeasurementInserted
from app.telemetry.history import Bucket, History, HistoryError, SeriesHistory, SeriesNotFound
from app.telemetry.measurements import Measurements
from app.telemetry.models import DEVICE_NAME_MAX, QUANTITY_NAME_MAX, device_name_key
from app.telemetry.quantities import (
    KNOWN_QUANTITIES,
    QUANTITY_NAME_PATTERN,
    Quantity,
    QuantityError,
    check_value,
    precision_of,
    unit_of,
)
from app.telemetry.reading_rules import ReadingProblem, ReadingRules
from app.telemetry.readings import (
    EARLIEST_MEASURED_AT,
    OLDER_THAN_RETENTION,
    MeasuredAtError,
    Reading,
    RecordResult,
    check_measured_at,
)
from app.telemetry.retention import Pruned, Retention, RetentionPolicy
from app.telemetry.tokens import hash_token, looks_like_token
from app.telemetry.writing.queue import Overloaded
from app.telemetry.writing.rollups import floor_time
from app.telemetry.writing.series import QuantityLimitExceeded
from app.telemetry.writing.writer import WriterStats

__all__ = [
    "DEVICE_NAME_MAX",
    "DEVICE_NAME_RULE",
    "EARLIEST_MEASURED_AT",
    "KNOWN_QUANTITIES",
    "OLDER_THAN_RETENTION",
    "QUANTITY_NAME_MAX",
    "QUANTITY_NAME_PATTERN",
    "AlongWith",
    "Bucket",
    "Clock",
    "DeviceDeleted",
    "DeviceError",
    "DeviceNameTaken",
    "DeviceNotFound",
    "DeviceRef",
    "DeviceState",
    "DeviceSummary",
    "Devices",
    "History",
    "HistoryError",
    "LatestValue",
    "MeasuredAtError",
    "MeasurementInserted",
    "Measurements",
    "MinuteTotal",
    "Overloaded",
    "Pruned",
    "Quantity",
    "QuantityError",
    "QuantityLimitExceeded",
    "QuantityState",
    "Reading",
    "ReadingProblem",
    "ReadingRules",
    "RecordResult",
    "Retention",
    "RetentionPolicy",
    "SeriesHistory",
    "SeriesNotFound",
    "StorageUnavailable",
    "WriterStats",
    "check_measured_at",
    "check_value",
    "device_name_key",
    "floor_time",
    "hash_token",
    "looks_like_token",
    "normalize_device_name",
    "precision_of",
    "unit_of",
    "utc_now",
]
