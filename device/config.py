"""The agent's configuration: defaults < TOML file < TELEMETRY_AGENT_* variables < command line.

Every option is declared once, in OPTIONS, with its parser and one line of help;
`telemetry-agent config` prints them with their values. A bad value is a ConfigError
naming where it came from, and the command exits with 78 (EX_CONFIG).
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from device.http import check_url
from device.sensors.registry import KINDS, SensorSettings

EX_CONFIG = 78  # sysexits.h: configuration error
ENV_PREFIX = "TELEMETRY_AGENT_"
DEFAULT_CONFIG_PATH = Path("/etc/telemetry-agent.toml")
DEFAULT_SPOOL = Path("/var/lib/telemetry-agent/spool.db")
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which option and where."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Every option of the agent, with its default."""

    server: str = ""
    token: str = ""
    token_file: Path | None = None
    sensors: tuple[str, ...] = ("iio", "thermal")
    interval: float = 30.0
    spool: Path = DEFAULT_SPOOL
    spool_max_rows: int = 500_000
    dead_letter_max_rows: int = 10_000
    batch_size: int = 500
    send_rate: float = 1.0
    timeout: float = 15.0
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    read_attempts: int = 3
    clock_sync_grace: float = 600.0
    iio_name: str = ""
    hwmon_name: str = ""
    thermal_zone: str = "cpu-thermal"
    simulated_seed: int = 0
    simulated_error_rate: float = 0.0
    sysfs_root: Path = Path("/")
    log_level: str = "info"

    def sensor_settings(self) -> SensorSettings:
        """The options that choose the sensors."""
        return SensorSettings(
            root=self.sysfs_root,
            iio_name=self.iio_name,
            hwmon_name=self.hwmon_name,
            thermal_zone=self.thermal_zone,
            simulated_seed=self.simulated_seed,
            simulated_error_rate=self.simulated_error_rate,
        )


Parser = Callable[[Any], Any]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {value!r}")
    return value.strip()


def _url(value: Any) -> str:
    text = _text(value)
    return check_url(text) if text else ""


def _path(value: Any) -> Path:
    text = _text(value)
    if not text:
        raise ValueError("must not be empty")
    return Path(text).expanduser()


def _optional_path(value: Any) -> Path | None:
    return _path(value) if _text(value) else None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number, not {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"must be a number, not {value!r}") from None


def _between(low: float, high: float, *, whole: bool = False) -> Parser:
    def parse(value: Any) -> float | int:
        number = _number(value)
        if whole and not number.is_integer():
            raise ValueError(f"must be a whole number, not {value!r}")
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, not {value!r}")
        return int(number) if whole else number

    return parse


def _sensors(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"must be a list of sensor kinds, not {value!r}")
    kinds = tuple(dict.fromkeys(i.strip() for i in items if i.strip()))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"{', '.join(unknown) or 'nothing'} given; choose from {', '.join(KINDS)}")
    return kinds


def _level(value: Any) -> str:
    text = _text(value).lower()
    if text not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
    return text


@dataclass(frozen=True, slots=True)
class Option:
    """How one option is parsed and what it does."""

    parse: Parser
    help: str


OPTIONS: Mapping[str, Option] = MappingProxyType(
    {
        "server": Option(_url, "base URL of the telemetry server, e.g. https://telemetry.lan"),
        "token": Option(_text, "the device token itself (prefer token_file)"),
        "token_file": Option(
            _optional_path,
            "file holding the device token; default $CREDENTIALS_DIRECTORY/token under systemd",
        ),
        "sensors": Option(_sensors, f"sensor kinds to read: {', '.join(KINDS)}"),
        "interval": Option(_between(0.01, 86_400), "seconds between readings"),
        "spool": Option(_path, "the spool file; default $STATE_DIRECTORY/spool.db under systemd"),
        "spool_max_rows": Option(
            _between(1, 1e9, whole=True), "readings the spool keeps at most; the oldest drop first"
        ),
        "dead_letter_max_rows": Option(
            _between(1, 1e7, whole=True), "refused readings kept at most; the oldest drop first"
        ),
        "batch_size": Option(_between(1, 1000, whole=True), "readings per request at most"),
        "send_rate": Option(
            _between(0.001, 1000), "requests per second at most (the pace of catching up)"
        ),
        "timeout": Option(_between(0.1, 600), "seconds to wait for the server's answer"),
        "backoff_base": Option(
            _between(0.001, 3600), "first retry delay ceiling in seconds (shrink only for tests)"
        ),
        "backoff_max": Option(
            _between(0.001, 86_400), "longest retry delay; also the pace of retries after 401"
        ),
        "read_attempts": Option(_between(1, 10, whole=True), "tries per sensor and interval"),
        "clock_sync_grace": Option(
            _between(0, 86_400),
            "seconds after boot during which readings wait for NTP (0: trust the clock)",
        ),
        "iio_name": Option(_text, "IIO device name (dht11, bme280...); empty: the first found"),
        "hwmon_name": Option(
            _text, "hwmon device name (sht3x, sht4x...); empty: the first with humidity"
        ),
        "thermal_zone": Option(_text, "thermal zone type for the CPU temperature"),
        "simulated_seed": Option(_between(0, 2**32, whole=True), "seed of the simulated sensor"),
        "simulated_error_rate": Option(
            _between(0, 1), "share of simulated reads that fail with EIO"
        ),
        "sysfs_root": Option(_path, "where /sys is found (for tests)"),
        "log_level": Option(_level, f"log level: {', '.join(LOG_LEVELS)}"),
    }
)


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, OPTIONS, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _read_toml(path: Path, explicit: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{path}: no such configuration file") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_config(
    environ: Mapping[str, str],
    *,
    path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Defaults, then the TOML file at `path`, then the environment, then `overrides`."""
    config_path = path or DEFAULT_CONFIG_PATH
    layers: list[tuple[str, Mapping[str, Any]]] = []
    state_directory = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state_directory:
        layers.append(("$STATE_DIRECTORY", {"spool": str(Path(state_directory) / "spool.db")}))
    layers.append((str(config_path), _read_toml(config_path, explicit=path is not None)))
    env_values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in OPTIONS:
                env_values[name] = value
            else:
                close = difflib.get_close_matches(name, OPTIONS, n=1)
                hint = f"; did you mean {ENV_PREFIX}{close[0].upper()}?" if close else ""
                problems.append(f"{key}: not an option of the agent{hint}")
    layers.append(("environment", env_values))
    layers.append(("command line", dict(overrides or {})))

    values: dict[str, Any] = {}
    for source, layer in layers:
        for name, raw in layer.items():
            option = OPTIONS.get(name)
            where = f"{ENV_PREFIX}{name.upper()}" if source == "environment" else name
            if option is None:
                problems.append(f"{source}: {name!r} is not an option{_suggest(name)}")
                continue
            try:
                values[name] = option.parse(raw)
            except ValueError as exc:
                problems.append(f"{source}: {where}: {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    config = AgentConfig(**values)
    if config.backoff_base > config.backoff_max:
        raise ConfigError("backoff_base must not be larger than backoff_max")
    return config


def require_server(config: AgentConfig) -> str:
    """The server URL, or a ConfigError saying how to give it."""
    if not config.server:
        raise ConfigError(
            "no server: set `server` in the configuration file, TELEMETRY_AGENT_SERVER or --server"
        )
    return config.server


def load_token(config: AgentConfig, environ: Mapping[str, str]) -> str:
    """The device token: from token_file, token, or systemd's $CREDENTIALS_DIRECTORY/token."""
    if config.token and config.token_file:
        raise ConfigError("set either token or token_file, not both")
    if config.token:
        return _checked_token(config.token, "token")
    path = config.token_file
    if path is None and environ.get("CREDENTIALS_DIRECTORY"):
        path = Path(environ["CREDENTIALS_DIRECTORY"]) / "token"
    if path is None:
        raise ConfigError(
            "no token: set token_file (TELEMETRY_AGENT_TOKEN_FILE, --token-file) to a file "
            "holding the token that `telemetry device add NAME` printed on the server"
        )
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not text"
        raise ConfigError(
            f"token file {path}: cannot read it ({reason}); check the path and that the "
            "agent's user may read it"
        ) from None
    return _checked_token(token, f"token file {path}")


def _checked_token(token: str, where: str) -> str:
    # A token goes into an HTTP header: anything but printable ASCII would fail every
    # request later, in the sender's thread, instead of now with a message.
    if not token or any(c.isspace() for c in token):
        raise ConfigError(f"{where}: must hold the token alone, on one line")
    if not (token.isascii() and token.isprintable()):
        raise ConfigError(
            f"{where}: holds characters no token has (tokens are printable ASCII, like "
            "tlm_...); copy the token again from `telemetry device add NAME`"
        )
    return token


def describe_config(config: AgentConfig) -> list[str]:
    """Each option with its value and help (the token hidden), for `telemetry-agent config`."""
    lines = []
    for item in fields(config):
        value = getattr(config, item.name)
        if item.name == "token" and value:
            value = "(set)"
        elif isinstance(value, tuple):
            value = ",".join(value)
        elif value is None:
            value = ""
        lines.append(f"{item.name} = {value}\n    {OPTIONS[item.name].help}")
    return lines
