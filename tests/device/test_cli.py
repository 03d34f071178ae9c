"""The telemetry-agent command, in process: discover, read, status, dead-letters, config, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from device.cli import build_parser, flag_overrides, main
from device.config import EX_CONFIG, load_config
from device.options import OPTIONS, AgentConfig, flag
from device.spool import Spool
from tests.device.fakes import START, SysfsTree
from tests.pipes import run_into_closed_pipe


@pytest.fixture
def tree(tmp_path: Path) -> SysfsTree:
    tree = SysfsTree(tmp_path / "root")
    tree.iio(0, "dht11@4", in_temp_input=21500, in_humidityrelative_input=40200)
    tree.thermal(0, "cpu-thermal", 47236)
    return tree


def _env(tree: SysfsTree, **extra: str) -> dict[str, str]:
    return {"TELEMETRY_AGENT_SYSFS_ROOT": str(tree.root), **extra}


def test_discover_lists_the_sensors_by_name(
    tree: SysfsTree, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["discover"], _env(tree)) == 0
    out = capsys.readouterr().out
    assert "iio        dht11@4      temperature, humidity" in out
    assert "thermal    cpu-thermal  cpu_temperature" in out


def test_discover_without_sensors_says_how_to_enable_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["discover"], {"TELEMETRY_AGENT_SYSFS_ROOT": str(tmp_path)}) == 0
    assert "dtoverlay=dht11,gpiopin=4" in capsys.readouterr().err


def test_read_prints_one_reading_per_sensor_and_exits(
    tree: SysfsTree, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["read"], _env(tree)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "iio dht11@4: temperature=21.5 °C, humidity=40.2 %RH",
        "thermal cpu-thermal: cpu_temperature=47.236 °C",
    ]


def test_read_of_a_sensor_that_is_not_there_fails_with_the_reason(
    tree: SysfsTree, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["read", "--sensor", "hwmon"], _env(tree)) == 1
    assert "no hwmon device" in capsys.readouterr().out


def test_read_of_the_simulated_sensor(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", "--sensor", "simulated"], {}) == 0
    assert capsys.readouterr().out.startswith("simulated seed-0: temperature=")


def test_status_json_has_the_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = Spool.open(tmp_path / "spool.db")
    for i in range(3):
        spool.add({"temperature": 20.0}, measured_at=START + timedelta(seconds=i))
    first = spool.next_batch(1)
    spool.acknowledge([r.id for r in first], duplicates=0, at=START)
    spool.note_error("http://x refused the connection", START)
    spool.close()
    assert main(["status", "--spool", str(tmp_path / "spool.db"), "--json"], {}) == 0
    status = json.loads(capsys.readouterr().out)
    assert {k: status[k] for k in ("taken", "sent", "pending", "dropped", "dead_letter")} == {
        "taken": 3,
        "sent": 1,
        "pending": 2,
        "dropped": 0,
        "dead_letter": 0,
    }
    assert status["oldest_unsent"] == "2026-11-21T10:00:01.000000Z"
    assert status["last_success"] == "2026-11-21T10:00:00.000000Z"
    assert status["last_error"] == "http://x refused the connection"


def test_status_for_people_shows_the_spool_and_the_last_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = Spool.open(tmp_path / "spool.db")
    spool.add({"temperature": 20.0}, measured_at=START)
    spool.note_error("the server answered 503", START)
    spool.close()
    assert main(["status", "--spool", str(tmp_path / "spool.db")], {}) == 0
    out = capsys.readouterr().out
    assert "pending        1 reading(s)" in out
    assert "oldest unsent  taken 2026-11-21T10:00:00.000000Z" in out
    assert "last success   never" in out
    assert "the server answered 503" in out


def test_status_of_a_spool_that_does_not_exist_fails_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--spool", str(tmp_path / "none.db")], {}) == 1
    assert "there is no spool at" in capsys.readouterr().err


def test_dead_letters_are_listed_and_can_be_requeued(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spool.db"
    spool = Spool.open(path)
    spool.add({"temperature": 20.0}, measured_at=START)
    spool.dead_letter([(spool.next_batch(1)[0], "measured_at: ahead")], status=422, at=START)
    assert main(["dead-letters", "--spool", str(path)], {}) == 0
    assert "refused 422: measured_at: ahead" in capsys.readouterr().out
    assert main(["dead-letters", "--spool", str(path), "--requeue"], {}) == 0
    assert spool.status().pending == 1
    assert spool.dead_letters() == []


def test_config_shows_every_option_with_the_token_hidden(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(["config"], {"TELEMETRY_AGENT_TOKEN": "s3cret", "TELEMETRY_AGENT_INTERVAL": "5"}) == 0
    )
    out = capsys.readouterr().out
    assert "interval = 5.0" in out
    assert "token = (set)" in out
    assert "s3cret" not in out


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["run", "--sensor", "simulated"], {}, "no server"),
        (["run", "--server", "http://x"], {}, "no token"),
        (["run", "--server", "http://x", "--interval", "fast"], {}, "interval: must be a number"),
        (["run", "--server", "http://localhost:abc"], {}, "no valid port"),
        (["run", "--server", "http://localhost:99999"], {}, "no valid port"),
        (["status"], {"TELEMETRY_AGENT_BATCHSIZE": "5"}, "TELEMETRY_AGENT_BATCH_SIZE"),
    ],
)
def test_a_bad_configuration_exits_78_with_a_clear_message(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, env) == EX_CONFIG
    err = capsys.readouterr().err
    assert err.startswith("telemetry-agent: bad configuration:")
    assert message in err


def test_a_bad_configuration_file_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("interval = -1\n")
    assert main(["run", "--config", str(path)], {}) == EX_CONFIG
    assert "agent.toml: interval: must be between" in capsys.readouterr().err


def test_discover_and_read_take_a_copied_sysfs_tree_from_the_flag(
    tree: SysfsTree, capsys: pytest.CaptureFixture[str]
) -> None:
    tree.hwmon(0, "sht3x", temp1_input=22125, humidity1_input=45500)
    root = str(tree.root)
    assert main(["discover", "--sysfs-root", root], {}) == 0
    out = capsys.readouterr().out
    assert f"hwmon      sht3x        temperature, humidity            {root}/sys/class/hwmon" in out
    assert main(["read", "--sysfs-root", root, "--sensor", "hwmon"], {}) == 0
    assert capsys.readouterr().out == "hwmon sht3x: temperature=22.125 °C, humidity=45.5 %RH\n"


def test_the_sysfs_root_flag_wins_over_the_variable(
    tree: SysfsTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = {"TELEMETRY_AGENT_SYSFS_ROOT": str(tmp_path / "nothing")}
    assert main(["discover", "--sysfs-root", str(tree.root)], empty) == 0
    assert "dht11@4" in capsys.readouterr().out


def test_discover_without_sensors_names_the_directories_it_looked_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["discover", "--sysfs-root", str(tmp_path)], {}) == 0
    err = capsys.readouterr().err
    for directory in ("sys/bus/iio/devices", "sys/class/hwmon", "sys/class/thermal"):
        assert f"{tmp_path}/{directory}" in err


def test_config_says_each_options_variable_and_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"], {}) == 0
    out = capsys.readouterr().out
    assert "[TELEMETRY_AGENT_SYSFS_ROOT; --sysfs-root (run, read, discover)]" in out
    assert "[TELEMETRY_AGENT_SENSORS; --sensor (run, read)]" in out
    assert "[TELEMETRY_AGENT_TOKEN]" in out  # no flag: a command line is seen by all


@pytest.mark.parametrize(
    ("name", "command", "value"),
    [
        (name, command, value)
        for name, value in {
            "server": "http://flag.test",
            "token_file": "/flag/token",
            "sensors": "simulated",
            "interval": "7",
            "spool": "/flag/spool.db",
            "sysfs_root": "/flag/root",
        }.items()
        for command in OPTIONS[name].commands
    ],
)
def test_every_flag_sets_the_option_it_is_named_after(name: str, command: str, value: str) -> None:
    args = build_parser().parse_args([command, flag(name), value])
    config = load_config({}, overrides=flag_overrides(args))
    assert config == replace(AgentConfig(), **{name: OPTIONS[name].parse(value)})


def test_each_command_takes_exactly_the_flags_its_options_list() -> None:
    assert {n for n, o in OPTIONS.items() if o.commands} == {
        "server",
        "token_file",
        "sensors",
        "interval",
        "spool",
        "sysfs_root",
    }, "a new flag: add it to test_every_flag_sets_the_option_it_is_named_after"
    for command in ("run", "flush", "discover", "read", "status", "dead-letters", "config"):
        parser = build_parser()
        others = [flag(n) for n, o in OPTIONS.items() if o.commands and command not in o.commands]
        for other in others:
            with pytest.raises(SystemExit):
                parser.parse_args([command, other, "x"])


def test_dead_letters_lists_at_most_its_limit_oldest_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spool.db"
    spool = Spool.open(path)
    for i in range(3):
        spool.add({"temperature": 20.0 + i}, measured_at=START + timedelta(seconds=i))
    spool.dead_letter([(r, "no") for r in spool.next_batch(3)], status=422, at=START)
    spool.close()
    assert main(["dead-letters", "--spool", str(path), "--limit", "2"], {}) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "2026-11-21T10:00:00.000000Z",
        "2026-11-21T10:00:01.000000Z",
    ]


def test_status_into_a_reader_that_left_ends_quietly(tmp_path: Path) -> None:
    Spool.open(tmp_path / "spool.db").close()
    # `telemetry-agent status | head -0`: the reader is gone before anything is written.
    result = run_into_closed_pipe("device.cli", "status", "--spool", str(tmp_path / "spool.db"))
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
    assert result.returncode == 141
