"""The agent's configuration: defaults < TOML file < TELEMETRY_AGENT_* variables < command line.

The options themselves are declared once, in options.py. A bad value is a ConfigError
naming where it came from, and the command exits with 78 (EX_CONFIG).
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from device.options import ENV_PREFIX, OPTIONS, AgentConfig, flag, variable

EX_CONFIG = 78  # sysexits.h: configuration error
DEFAULT_CONFIG_PATH = Path("/etc/telemetry-agent.toml")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which option and where."""


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
                hint = f"; did you mean {variable(close[0])}?" if close else ""
                problems.append(f"{key}: not an option of the agent{hint}")
    layers.append(("environment", env_values))
    layers.append(("command line", dict(overrides or {})))

    values: dict[str, Any] = {}
    for source, layer in layers:
        for name, raw in layer.items():
            option = OPTIONS.get(name)
            if option is None:
                problems.append(f"{source}: {name!r} is not an option{_suggest(name)}")
                continue
            where = {"environment": variable(name), "command line": flag(name)}.get(source, name)
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
            f"no server: set `server` in the configuration file, {variable('server')} or "
            f"{flag('server')}"
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
            f"no token: set token_file ({variable('token_file')}, {flag('token_file')}) to a "
            "file holding the token that `telemetry device add NAME` printed on the server"
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
    """Each option with its value, help, variable and flag (the token hidden), for `config`."""
    lines = []
    for item in fields(config):
        value = getattr(config, item.name)
        if item.name == "token" and value:
            value = "(set)"
        elif isinstance(value, tuple):
            value = ",".join(value)
        elif value is None:
            value = ""
        option = OPTIONS[item.name]
        spelled = [variable(item.name)]
        if option.commands:
            spelled.append(f"{flag(item.name)} ({', '.join(option.commands)})")
        lines.append(f"{item.name} = {value}\n    {option.help}\n    [{'; '.join(spelled)}]")
    return lines
