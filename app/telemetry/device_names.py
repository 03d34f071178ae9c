"""What a device name may be, and the refusals that say why one is not taken."""

from __future__ import annotations

import unicodedata

from app.telemetry.models import DEVICE_NAME_MAX


class DeviceError(ValueError):
    """A device operation that cannot be done; the message says why."""


class DeviceNameTaken(DeviceError):
    """Another device already has the name (compared without regard to case)."""


DEVICE_NAME_RULE = (
    f"names are 1 to {DEVICE_NAME_MAX} characters, none of them '/' or a control "
    "character (spaces at either end are dropped)"
)
NAMES_IGNORE_CASE = "names are compared without regard to case"


def normalize_device_name(raw: str) -> str:
    """Validate a device name: 1 to 64 printable characters, no slash.

    A refusal says which rule was broken, states the whole rule and shows what it got.
    """
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise DeviceError(f"a device name cannot be empty: {DEVICE_NAME_RULE}; got {raw!r}")
    if len(name) > DEVICE_NAME_MAX:
        raise DeviceError(
            f"a device name has at most {DEVICE_NAME_MAX} characters: {DEVICE_NAME_RULE}; "
            f"got {len(name)} characters, {name[:DEVICE_NAME_MAX]!r}..."
        )
    if "/" in name:
        raise DeviceError(f"a device name cannot contain '/': {DEVICE_NAME_RULE}; got {name!r}")
    control = next((ch for ch in name if unicodedata.category(ch).startswith("C")), None)
    if control is not None:
        raise DeviceError(
            f"a device name cannot contain control characters (U+{ord(control):04X}): "
            f"{DEVICE_NAME_RULE}; got {name!r}"
        )
    return name


def already_exists(existing: str) -> DeviceNameTaken:
    """The refusal of a name that `existing` already holds."""
    return DeviceNameTaken(f"a device named {existing!r} already exists; {NAMES_IGNORE_CASE}")
