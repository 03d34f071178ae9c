"""What makes the agent installable on a Pi: stdlib only, a systemd unit, a documented config."""

from __future__ import annotations

import ast
import configparser
import re
import sys
from pathlib import Path

import pytest

from device.config import load_config
from device.options import OPTIONS
from device.sensors.base import PLAUSIBLE

DEVICE = Path(__file__).resolve().parents[2] / "device"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "agent.md"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(DEVICE.rglob("*.py")), ids=lambda p: p.name)
def test_the_agent_imports_only_the_standard_library(path: Path) -> None:
    # It is installed with `pip install --no-deps` on a Pi, where the server's
    # dependencies are absent (and some have no armv6 wheel).
    foreign = _imports(path) - set(sys.stdlib_module_names) - {"device", "__future__"}
    assert not foreign, f"{path.name} imports {sorted(foreign)}"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEVICE / "telemetry-agent.service")
    return parser


def test_the_systemd_unit_restarts_keeps_state_and_passes_the_token() -> None:
    service = _unit()["Service"]
    assert service["Restart"] == "always"
    assert service["StateDirectory"] == "telemetry-agent"
    assert service["User"] == "telemetry-agent"
    assert service["LoadCredential"] == "token:/etc/telemetry-agent/token"
    assert service["ExecStart"].startswith("/opt/telemetry-agent/bin/telemetry-agent run")
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"


def test_the_systemd_unit_is_sandboxed_but_may_read_sys_and_ask_the_clock() -> None:
    service = _unit()["Service"]
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert service[option] == "yes"
    assert service["ProtectSystem"] == "strict"  # read-only /usr, /etc; /sys stays readable
    assert "ProtectClock" not in service  # it would forbid the read-only adjtimex call
    assert "SystemCallFilter" not in service  # @system-service lacks adjtimex


def test_the_example_configuration_is_valid_and_mentions_every_option(tmp_path: Path) -> None:
    example = DEVICE / "telemetry-agent.toml.example"
    config = load_config({}, path=example)
    assert config.server == "https://telemetry.example.org"
    mentioned = set(re.findall(r"^#? ?([a-z_]+) =", example.read_text(), re.MULTILINE))
    assert mentioned == set(OPTIONS)


def test_the_documentation_describes_every_option() -> None:
    text = DOCS.read_text()
    missing = [name for name in OPTIONS if f"`{name}`" not in text]
    assert not missing


def test_plausible_ranges_are_the_servers() -> None:
    from app.telemetry.quantities import KNOWN_QUANTITIES

    server = {q.name: (q.unit, q.minimum, q.maximum) for q in KNOWN_QUANTITIES.values()}
    agent = {name: (p.unit, p.minimum, p.maximum) for name, p in PLAUSIBLE.items()}
    assert agent == server
