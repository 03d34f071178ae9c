"""Fixtures of the agent's tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_host_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a /etc/telemetry-agent.toml on the test machine out of the tests."""
    monkeypatch.setattr("device.config.DEFAULT_CONFIG_PATH", tmp_path / "no-such-config.toml")
