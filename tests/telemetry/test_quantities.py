"""Known quantities are range-checked; other names must be well formed."""

from __future__ import annotations

import math

import pytest

from app.telemetry.quantities import KNOWN_QUANTITIES, QuantityError, check_value, unit_of


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", -90.0),
        ("temperature", 150.0),
        ("humidity", 0.0),
        ("humidity", 100.0),
        ("pressure", 1013.25),
        ("soil_moisture_2", 12345.0),
    ],
)
def test_plausible_values_pass(name: str, value: float) -> None:
    check_value(name, value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("temperature", 150.1, "outside the plausible range -90..150 °C"),
        ("temperature", -90.5, "outside the plausible range"),
        ("humidity", 100.5, "0..100 %RH"),
        ("pressure", 200.0, "300..1100 hPa"),
        ("temperature", math.nan, "finite"),
        ("soil", math.inf, "finite"),
        ("Temperature", 1.0, "must match"),
        ("2nd", 1.0, "must match"),
        ("a" * 65, 1.0, "must match"),
        ("with space", 1.0, "must match"),
    ],
)
def test_implausible_values_and_bad_names_are_refused(
    name: str, value: float, message: str
) -> None:
    with pytest.raises(QuantityError, match=message):
        check_value(name, value)


def test_known_quantities_carry_units() -> None:
    assert unit_of("temperature") == "°C"
    assert unit_of("humidity") == "%RH"
    assert unit_of("pressure") == "hPa"
    assert unit_of("soil") is None
    assert all(q.minimum < q.maximum for q in KNOWN_QUANTITIES.values())
