"""The `telemetry-agent` command: run, flush, discover, read, status, dead-letters, config."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from device.clock import SystemClock
from device.config import (
    EX_CONFIG,
    ConfigError,
    describe_config,
    load_config,
    load_token,
    require_server,
)
from device.options import OPTIONS, AgentConfig, flag, variable
from device.runner import (
    Agent,
    delivery_settings,
    open_client,
    open_sensors,
    open_spool,
    run_until_signalled,
)
from device.sampler import RETRY_GAP, SensorPace, read_sensor
from device.sender import Sender
from device.sensors.base import SensorError, format_values
from device.sensors.registry import KINDS, discover
from device.spool import Spool
from device.spool_file import SpoolError
from device.status import format_status

Handler = Callable[[AgentConfig, argparse.Namespace, Mapping[str, str]], int]

# Where argparse keeps an option's flag: apart from the commands' own arguments
# (flush's --timeout is its deadline, not the `timeout` option).
_DEST = "option_"


def cmd_run(config: AgentConfig, _: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Measure and deliver until SIGTERM."""
    require_server(config)
    token = load_token(config, environ)
    return run_until_signalled(Agent(config, token))


def cmd_flush(config: AgentConfig, args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Send everything spooled now; 0 once the spool is empty."""
    require_server(config)
    token = load_token(config, environ)
    clock = SystemClock()
    spool = open_spool(config)
    stop = threading.Event()
    client = open_client(config)
    try:
        sender = Sender(spool, client, token, clock, delivery_settings(config), wait=stop.wait)
        done = sender.flush(stop, deadline=clock.monotonic() + args.timeout)
        status = spool.status()
    finally:
        client.close()
        spool.close()
    if done:
        held = f"; {status.held} held until the clock is set" if status.held else ""
        print(f"every reading in the spool was delivered{held}")
        return 0
    print(f"{status.pending} reading(s) are still in the spool; see the log above", file=sys.stderr)
    return 1


def cmd_discover(config: AgentConfig, _: argparse.Namespace, __: Mapping[str, str]) -> int:
    """List the sensors the kernel exposes."""
    devices = discover(config.sysfs_root)
    rows = [("KIND", "NAME", "QUANTITIES", "PATH")]
    rows += [(d.kind, d.name, ", ".join(d.quantities), str(d.path)) for d in devices]
    rows.append(("simulated", "seed-N", "temperature, humidity, pressure", "(always available)"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    if not devices:
        buses = [kind.bus for kind in KINDS.values() if kind.bus is not None]
        places = ", ".join(str(config.sysfs_root / bus.directory) for bus in buses)
        print(
            f"\nNo sensor found in {places}. Enable its driver in "
            "/boot/firmware/config.txt, e.g. dtoverlay=dht11,gpiopin=4 or "
            "dtoverlay=i2c-sensor,bme280, then reboot.",
            file=sys.stderr,
        )
    return 0


def cmd_read(config: AgentConfig, _: argparse.Namespace, __: Mapping[str, str]) -> int:
    """Read each configured sensor once and print the values."""
    clock = SystemClock()
    failed = 0
    for sensor in open_sensors(config, clock):
        patience = config.read_attempts * max(sensor.min_interval, RETRY_GAP) + 1.0
        try:
            values = read_sensor(
                sensor,
                SensorPace(),
                clock,
                deadline=clock.monotonic() + patience,
                attempts=config.read_attempts,
                wait=threading.Event().wait,  # never set: waits the time out
            )
        except SensorError as exc:
            print(f"{sensor.kind} {sensor.name}: failed: {exc}")
            failed += 1
            continue
        print(f"{sensor.kind} {sensor.name}: {format_values(values or {})}")
    return 1 if failed else 0


def cmd_status(config: AgentConfig, args: argparse.Namespace, _: Mapping[str, str]) -> int:
    """Show what the spool holds and how delivery went."""
    spool = Spool.open_readonly(config.spool)
    try:
        status = spool.status()
    finally:
        spool.close()
    if args.json:
        print(json.dumps(status.as_dict(), indent=2))
    else:
        print(format_status(status, SystemClock().now()))
    return 0


def cmd_dead_letters(config: AgentConfig, args: argparse.Namespace, _: Mapping[str, str]) -> int:
    """List the readings the server refused, or put them back in the spool."""
    if args.requeue:
        spool = open_spool(config)
        try:
            moved, left = spool.requeue_dead_letters()
        finally:
            spool.close()
        print(f"{moved} reading(s) put back in the spool; the running agent sends them")
        if left:
            print(
                f"{left} reading(s) stay in the dead-letter table: the spool is full; run "
                "this again once the agent has delivered some",
                file=sys.stderr,
            )
        return 0
    spool = Spool.open_readonly(config.spool)
    try:
        letters = spool.dead_letters(args.limit)
    finally:
        spool.close()
    for letter in letters:
        print(f"{letter.measured_at}  {letter.values}  refused {letter.status}: {letter.reason}")
    if not letters:
        print("no dead letters")
    return 0


def cmd_config(config: AgentConfig, _: argparse.Namespace, __: Mapping[str, str]) -> int:
    """Print every option with its value."""
    print("\n".join(describe_config(config)))
    return 0


def add_option_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of the options (options.py) that `command` takes, named after them."""
    for name, option in OPTIONS.items():
        if command not in option.commands:
            continue
        # argparse formats help with %: a literal one is doubled.
        text = f"{option.help} [{variable(name)}]".replace("%", "%%")
        parser.add_argument(
            flag(name),
            dest=_DEST + name,
            action="append" if option.repeat else "store",
            choices=option.choices or None,
            metavar=None if option.choices else name.upper(),
            help=text + (" (repeatable)" if option.repeat else ""),
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `telemetry-agent`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        help="TOML configuration file (default /etc/telemetry-agent.toml, if it exists)",
    )
    parser = argparse.ArgumentParser(
        prog="telemetry-agent",
        description="Read a Raspberry Pi's sensors and deliver every reading to the telemetry "
        "server. Options come from the TOML file, then TELEMETRY_AGENT_* variables, then flags.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        add_option_flags(sub, name)
        return sub

    add("run", cmd_run, "measure and deliver until stopped (SIGTERM)")
    flush = add("flush", cmd_flush, "send every spooled reading now, then exit")
    flush.add_argument("--timeout", type=float, default=300.0, help="give up after this long")
    add("discover", cmd_discover, "list the sensors the kernel exposes")
    add("read", cmd_read, "read the sensors once and print the values (check the wiring)")
    status = add("status", cmd_status, "show the spool, the last success and error, the counts")
    status.add_argument("--json", action="store_true", help="print JSON")
    dead = add("dead-letters", cmd_dead_letters, "list the readings the server refused")
    dead.add_argument("--requeue", action="store_true", help="put them back in the spool")
    dead.add_argument("--limit", type=int, default=100, help="list at most this many")
    add("config", cmd_config, "show every option, its value, variable and flag")
    return parser


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The options given as flags."""
    given = {name: getattr(args, _DEST + name, None) for name in OPTIONS}
    return {name: value for name, value in given.items() if value is not None}


def configure_logging(level: str, environ: Mapping[str, str]) -> None:
    """Log to stderr; without timestamps under journald, which adds its own."""
    fmt = "%(levelname)s %(name)s: %(message)s"
    if "JOURNAL_STREAM" not in environ:
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=level.upper(), format=fmt, stream=sys.stderr, force=True)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Entry point of the `telemetry-agent` console script."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    try:
        config = load_config(env, path=args.config, overrides=flag_overrides(args))
        configure_logging(config.log_level, env)
        handler: Handler = args.handler
        return handler(config, args, env)
    except ConfigError as exc:
        print(f"telemetry-agent: bad configuration:\n{exc}", file=sys.stderr)
        return EX_CONFIG
    except SpoolError as exc:
        print(f"telemetry-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # the shell's convention for SIGINT; `run` handles it itself
    except BrokenPipeError:
        # The reader of the output left (`telemetry-agent status | head`): stop quietly,
        # as `cat` does, with nothing left to flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
