"""`telemetry config`: every setting, its value and what it does."""

from __future__ import annotations

import argparse

from app.cli.schema import display_url
from app.config import ENV_PREFIX, Settings


def cmd_config(settings: Settings, _: argparse.Namespace) -> int:
    """Print every setting, its value and what it does."""
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if name == "database_url":
            value = display_url(value)
        elif isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        print(f"{ENV_PREFIX}{name.upper()}={value}\n    {info.description}")
    return 0
