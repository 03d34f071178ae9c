"""Every option of the agent, declared once: AgentConfig's fields are the table.

Each field carries its default, its parser and one line of help (`option(...)`); from
the field's name follow its TOML key (`batch_size`), its environment variable
(`TELEMETRY_AGENT_BATCH_SIZE`) and, for the commands listed in `commands`, its flag
(`--batch-size`, or `flag` where the singular reads better: `--sensor`). config.py
layers the sources; cli.py adds the flags; `telemetry-agent config` prints the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from device.clock import DEFAULT_SYNC_GRACE
from device.http import MAX_RESPONSE_BYTES, check_url
from device.sensors.registry import KINDS, SensorSettings
from device.spool_file import BUSY_TIMEOUT_SECONDS, DEFAULT_MAX_DEAD_LETTERS, DEFAULT_MAX_ROWS

ENV_PREFIX = "TELEMETRY_AGENT_"
DEFAULT_SPOOL = Path("/var/lib/telemetry-agent/spool.db")
LOG_LEVELS = ("debug", "info", "warning", "error")

# The commands whose flags an option is (see cli.py).
SENDING = ("run", "flush")
SPOOLING = ("run", "flush", "status", "dead-letters")
SENSING = ("run", "read", "discover")

Parser = Callable[[Any], Any]
T = TypeVar("T")

# Defaults that belong with the code using them are taken from it, never copied.
_SENSING = SensorSettings()

# Defaults that belong with the code using them are taken from it, never copied.
_SENSING = SensorSettings()


@dataclass(frozen=True, slots=True)
class Option:
    """How one option is parsed, explained and offered on the command line."""

    parse: Parser
    help: str
    commands: tuple[str, ...] = ()  # the commands that take it as a flag
    flag: str = ""  # the flag, when not --name-with-dashes
    repeat: bool = False  # the flag may be given several times, making a list
    choices: tuple[str, ...] = ()  # what the flag accepts, when it is one of a few words


def option(
    default: T,
    parse: Parser,
    help: str,
    *,
    commands: tuple[str, ...] = (),
    flag: str = "",
    repeat: bool = False,
    choices: tuple[str, ...] = (),
) -> T:
    """A field of AgentConfig: its default, with the Option in its metadata."""
    described = Option(parse, help, commands, flag, repeat, choices)
    return field(default=default, metadata={"option": described})


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
class AgentConfig:
    """Every option of the agent, with its default, parser and help."""

    server: str = option(
        "", _url, "base URL of the telemetry server, e.g. https://telemetry.lan", commands=SENDING
    )
    # No flag: a token on the command line is visible to every user in `ps`.
    token: str = option("", _text, "the device token itself (prefer token_file)")
    token_file: Path | None = option(  # noqa: RUF009  (option() is dataclasses.field)
        None,
        _optional_path,
        "file holding the device token; default $CREDENTIALS_DIRECTORY/token under systemd",
        commands=SENDING,
    )
    sensors: tuple[str, ...] = option(
        ("iio", "thermal"),
        _sensors,
        f"sensor kinds to read: {', '.join(KINDS)}",
        commands=("run", "read"),
        flag="--sensor",
        repeat=True,
        choices=tuple(KINDS),
    )
    interval: float = option(
        30.0, _between(0.01, 86_400), "seconds between readings", commands=("run",)
    )
    read_attempts: int = option(3, _between(1, 10, whole=True), "tries per sensor and interval")
    iio_name: str = option(
        _SENSING.iio_name, _text, "IIO device name (dht11, bme280...); empty: the first found"
    )
    hwmon_name: str = option(
        _SENSING.hwmon_name,
        _text,
        "hwmon device name (sht3x, sht4x...); empty: the first with humidity",
    )
    thermal_zone: str = option(
        _SENSING.thermal_zone, _text, "thermal zone type for the CPU temperature"
    )
    simulated_seed: int = option(
        _SENSING.simulated_seed, _between(0, 2**32, whole=True), "seed of the simulated sensor"
    )
    simulated_error_rate: float = option(
        _SENSING.simulated_error_rate, _between(0, 1), "share of simulated reads that fail with EIO"
    )
    sysfs_root: Path = option(  # noqa: RUF009
        _SENSING.root,
        _path,
        "the directory holding the sys/ tree the sensors are found in: / on a Pi, or a "
        "copy of a Pi's to try the discovery elsewhere",
        commands=SENSING,
    )
    spool: Path = option(  # noqa: RUF009
        DEFAULT_SPOOL,
        _path,
        "the spool file; default $STATE_DIRECTORY/spool.db under systemd",
        commands=SPOOLING,
    )
    spool_max_rows: int = option(
        DEFAULT_MAX_ROWS,
        _between(1, 1e9, whole=True),
        "readings the spool keeps at most; the oldest drop first",
    )
    dead_letter_max_rows: int = option(
        DEFAULT_MAX_DEAD_LETTERS,
        _between(1, 1e7, whole=True),
        "refused readings kept at most; the oldest drop first",
    )
    spool_busy_timeout: float = option(
        BUSY_TIMEOUT_SECONDS,
        _between(0.001, 600),
        "seconds a spool write waits for the other loop's before it fails",
    )
    batch_size: int = option(500, _between(1, 1000, whole=True), "readings per request at most")
    send_rate: float = option(
        1.0, _between(0.001, 1000), "requests per second at most (the pace of catching up)"
    )
    timeout: float = option(15.0, _between(0.1, 600), "seconds to wait for the server's answer")
    answer_max_bytes: int = option(
        MAX_RESPONSE_BYTES,
        _between(1024, 1 << 24, whole=True),
        "bytes of an answer read at most (the rest is not the telemetry server's)",
    )
    backoff_base: float = option(
        1.0, _between(0.001, 3600), "first retry delay ceiling in seconds (shrink only for tests)"
    )
    backoff_max: float = option(
        300.0, _between(0.001, 86_400), "longest retry delay; also the pace of retries after 401"
    )
    retry_after_max: float = option(
        3600.0, _between(0, 86_400), "longest wait a server's Retry-After can impose, in seconds"
    )
    refusal_log_interval: float = option(
        600.0,
        _between(0, 86_400),
        "seconds between two log lines about readings the server refused (0: one per batch)",
    )
    clock_sync_grace: float = option(
        DEFAULT_SYNC_GRACE,
        _between(0, 86_400),
        "seconds after boot during which readings wait for NTP (0: trust the clock)",
    )
    log_level: str = option("info", _level, f"log level: {', '.join(LOG_LEVELS)}")

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


OPTIONS: Mapping[str, Option] = MappingProxyType(
    {item.name: item.metadata["option"] for item in fields(AgentConfig)}
)


def variable(name: str) -> str:
    """The environment variable of option `name`."""
    return f"{ENV_PREFIX}{name.upper()}"


def flag(name: str) -> str:
    """The command-line flag of option `name` (on the commands its Option lists)."""
    return OPTIONS[name].flag or "--" + name.replace("_", "-")
