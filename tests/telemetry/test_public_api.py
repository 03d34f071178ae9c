"""The context's public face is a list someone chose: app.telemetry.__all__."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import app.telemetry

ROOT = Path(__file__).resolve().parents[2]

PUBLIC = {
    # devices
    "AlongWith",
    "DEVICE_NAME_MAX",
    "DEVICE_NAME_RULE",
    "DeviceDeleted",
    "DeviceError",
    "DeviceNameTaken",
    "DeviceNotFound",
    "DeviceRef",
    "DeviceState",
    "DeviceSummary",
    "Devices",
    "LatestValue",
    "MinuteTotal",
    "QuantityState",
    "hash_token",
    "looks_like_token",
    "normalize_device_name",
    # measurements
    "EARLIEST_MEASURED_AT",
    "MeasuredAtError",
    "MeasurementInserted",
    "Measurements",
    "Overloaded",
    "QuantityLimitExceeded",
    "OLDER_THAN_RETENTION",
    "Reading",
    "ReadingProblem",
    "ReadingRules",
    "RecordResult",
    "StorageUnavailable",
    "WriterStats",
    "check_measured_at",
    # quantities
    "KNOWN_QUANTITIES",
    "QUANTITY_NAME_MAX",
    "QUANTITY_NAME_PATTERN",
    "Quantity",
    "QuantityError",
    "check_value",
    "device_name_key",
    "precision_of",
    "unit_of",
    # history and retention
    "Bucket",
    "History",
    "HistoryError",
    "Pruned",
    "Retention",
    "RetentionPolicy",
    "SeriesHistory",
    "SeriesNotFound",
    "floor_time",
    # time
    "Clock",
    "utc_now",
}


def test_the_public_names_are_exactly_the_chosen_list() -> None:
    assert set(app.telemetry.__all__) == PUBLIC
    assert len(app.telemetry.__all__) == len(PUBLIC), "a name is listed twice"


def test_every_public_name_resolves_and_its_classes_and_functions_are_documented() -> None:
    for name in app.telemetry.__all__:
        member = getattr(app.telemetry, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__doc__, f"{name} has no docstring"


def test_the_package_docstring_holds_the_glossary() -> None:
    doc = app.telemetry.__doc__ or ""
    for term in ("*measurement*", "*series*", "*reading*", "*rollup*", "one row per *value*"):
        assert term in doc, f"the glossary lacks {term}"


def test_the_server_outside_the_context_imports_only_the_package() -> None:
    # import-linter enforces it in `check`; this says so where the API is defined.
    for path in (ROOT / "app").rglob("*.py"):
        if (ROOT / "app" / "telemetry") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("app.telemetry."), (
                    f"{path.relative_to(ROOT)} imports {node.module}; import from app.telemetry"
                )
