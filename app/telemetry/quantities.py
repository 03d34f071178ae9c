"""What the system knows about each physical quantity, declared as data.

A quantity that is not listed here is still accepted when its name is well formed; it is
stored without a unit and without a range check.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import MappingProxyType

QUANTITY_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DEFAULT_PRECISION = 2  # decimals shown of a quantity the system does not know


@dataclass(frozen=True, slots=True)
class Quantity:
    """A known quantity: its unit, the physically plausible range and display precision."""

    name: str
    unit: str
    minimum: float
    maximum: float
    precision: int
    label: str


KNOWN_QUANTITIES: MappingProxyType[str, Quantity] = MappingProxyType(
    {
        q.name: q
        for q in (
            Quantity("temperature", "°C", -90.0, 150.0, 1, "Temperature"),
            Quantity("humidity", "%RH", 0.0, 100.0, 1, "Humidity"),
            Quantity("pressure", "hPa", 300.0, 1100.0, 1, "Pressure"),
            Quantity("cpu_temperature", "°C", -40.0, 125.0, 1, "CPU temperature"),
        )
    }
)


class QuantityError(ValueError):
    """A value or quantity name that cannot be stored; the message says why, `reason` briefly."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_value(name: str, value: float) -> None:
    """Raise QuantityError unless `value` is a finite, plausible reading of `name`."""
    known = KNOWN_QUANTITIES.get(name)
    if known is None and not QUANTITY_NAME_PATTERN.fullmatch(name):
        raise QuantityError(
            f"quantity name {name!r} must match {QUANTITY_NAME_PATTERN.pattern} "
            "(lower case letters, digits and underscores, starting with a letter)",
            "bad quantity name",
        )
    if not math.isfinite(value):
        raise QuantityError(f"{name} must be a finite number, not {value}", "not a finite number")
    if known is not None and not known.minimum <= value <= known.maximum:
        raise QuantityError(
            f"{name} {value:g} {known.unit} is outside the plausible range "
            f"{known.minimum:g}..{known.maximum:g} {known.unit}",
            "outside the plausible range",
        )


def unit_of(name: str) -> str | None:
    """The unit of a known quantity, or None."""
    known = KNOWN_QUANTITIES.get(name)
    return known.unit if known else None


def precision_of(name: str) -> int:
    """Decimals to show of a quantity: declared for known ones, 2 for any other."""
    known = KNOWN_QUANTITIES.get(name)
    return known.precision if known else DEFAULT_PRECISION
