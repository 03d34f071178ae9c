"""Configuration: TOML, then TELEMETRY_AGENT_* variables, then flags; errors name the option."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from device.config import ConfigError, load_config, load_token, require_server
from device.options import DEFAULT_SPOOL, AgentConfig
from device.runner import delivery_settings
from device.sender import DeliverySettings


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_defaults_apply_when_the_default_file_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("device.config.DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    config = load_config({}, overrides={})
    assert config == AgentConfig()
    assert config.spool == DEFAULT_SPOOL
    assert config.sensors == ("iio", "thermal")


def test_file_then_environment_then_command_line(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        'server = "https://from-file"\ninterval = 10\nbatch_size = 100\nsensors = ["iio"]\n',
    )
    config = load_config(
        {"TELEMETRY_AGENT_INTERVAL": "5", "TELEMETRY_AGENT_SERVER": "https://from-env/"},
        path=path,
        overrides={"server": "http://from-flag:8000", "sensors": ["simulated"]},
    )
    assert config.server == "http://from-flag:8000"
    assert config.interval == 5.0
    assert config.batch_size == 100
    assert config.sensors == ("simulated",)


def test_sensors_from_the_environment_are_comma_separated() -> None:
    config = load_config({"TELEMETRY_AGENT_SENSORS": "iio, thermal,simulated"})
    assert config.sensors == ("iio", "thermal", "simulated")


def test_systemd_state_directory_holds_the_spool_by_default() -> None:
    config = load_config({"STATE_DIRECTORY": "/var/lib/telemetry-agent"})
    assert config.spool == Path("/var/lib/telemetry-agent/spool.db")


def test_an_unknown_key_in_the_file_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'intervall' is not an option; did you mean 'interval'"):
        load_config({}, path=_toml(tmp_path, "intervall = 3\n"))


def test_an_unknown_variable_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean TELEMETRY_AGENT_TOKEN_FILE"):
        load_config({"TELEMETRY_AGENT_TOKENFILE": "/x"})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INTERVAL", "soon", "TELEMETRY_AGENT_INTERVAL: must be a number"),
        ("INTERVAL", "0", "between 0.01 and 86400"),
        ("BATCH_SIZE", "1001", "between 1 and 1000"),
        ("BATCH_SIZE", "2.5", "whole number"),
        ("SENSORS", "dht22", "dht22 given; choose from iio, hwmon, thermal, simulated"),
        ("SERVER", "telemetry.lan", "not an http:// or https:// URL"),
        ("LOG_LEVEL", "loud", "one of debug, info"),
        ("SIMULATED_ERROR_RATE", "2", "between 0 and 1"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_is_allowed(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({f"TELEMETRY_AGENT_{variable}": value})


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"TELEMETRY_AGENT_INTERVAL": "x"}, path=_toml(tmp_path, "batch_size = 0\n"))
    assert "batch_size" in str(caught.value)
    assert "TELEMETRY_AGENT_INTERVAL" in str(caught.value)


def test_a_file_that_is_not_toml_says_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agent.toml: not valid TOML"):
        load_config({}, path=_toml(tmp_path, "server = \n"))


def test_a_missing_file_given_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config({}, path=tmp_path / "missing.toml")


def test_the_token_comes_from_its_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-token\n")
    config = load_config({}, overrides={"token_file": str(tmp_path / "token")})
    assert load_token(config, {}) == "s3cret-token"


def test_under_systemd_the_token_comes_from_the_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-credential")
    assert load_token(AgentConfig(), {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-credential"


def test_a_missing_token_says_how_to_get_one() -> None:
    with pytest.raises(ConfigError, match="telemetry device add NAME"):
        load_token(AgentConfig(), {})


def test_an_unreadable_token_file_says_which(tmp_path: Path) -> None:
    config = AgentConfig(token_file=tmp_path / "absent")
    with pytest.raises(ConfigError, match=r"token file .*absent: cannot read it"):
        load_token(config, {})


def test_a_token_file_with_more_than_the_token_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("TOKEN=abc def\n")
    with pytest.raises(ConfigError, match="the token alone"):
        load_token(AgentConfig(token_file=tmp_path / "token"), {})


@pytest.mark.parametrize("token", ["to€k", "tok\x07en"])
def test_a_token_with_characters_no_token_has_is_refused(tmp_path: Path, token: str) -> None:
    (tmp_path / "token").write_text(token, encoding="utf-8")
    with pytest.raises(ConfigError, match="printable ASCII"):
        load_token(AgentConfig(token_file=tmp_path / "token"), {})
    with pytest.raises(ConfigError, match="token: holds characters"):
        load_token(AgentConfig(token=token), {})


def test_a_token_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not text"):
        load_token(AgentConfig(token_file=tmp_path / "token"), {})


def test_token_and_token_file_together_are_ambiguous(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        load_token(AgentConfig(token="a", token_file=tmp_path / "t"), {})


def test_running_needs_a_server() -> None:
    with pytest.raises(ConfigError, match="TELEMETRY_AGENT_SERVER or --server"):
        require_server(AgentConfig())


@pytest.mark.parametrize(
    ("variable", "low", "high", "under", "over"),
    [
        ("INTERVAL", "0.01", "86400", "0.005", "86401"),
        ("BATCH_SIZE", "1", "1000", "0", "1001"),
        ("SPOOL_MAX_ROWS", "1", "1000000000", "0", "1000000001"),
        ("DEAD_LETTER_MAX_ROWS", "1", "10000000", "0", "10000001"),
        ("SPOOL_BUSY_TIMEOUT", "0.001", "600", "0", "601"),
        ("ANSWER_MAX_BYTES", "1024", "16777216", "1023", "16777217"),
        ("BACKOFF_MAX", "0.001", "86400", "0", "86401"),
        ("RETRY_AFTER_MAX", "0", "86400", "-1", "86401"),
        ("REFUSAL_LOG_INTERVAL", "0", "86400", "-1", "86401"),
        ("READ_ATTEMPTS", "1", "10", "0", "11"),
    ],
)
def test_a_bound_takes_the_ends_of_its_range_and_nothing_past_them(
    variable: str, low: str, high: str, under: str, over: str
) -> None:
    name = f"TELEMETRY_AGENT_{variable}"
    base = {"TELEMETRY_AGENT_BACKOFF_BASE": "0.001"}  # backoff_max may not be below it
    for value in (low, high):
        assert getattr(load_config({name: value, **base}), variable.lower()) == float(value)
    for value in (under, over):
        with pytest.raises(ConfigError, match=f"{name}: must be between"):
            load_config({name: value, **base})


def test_the_delivery_and_spool_bounds_reach_the_loops_that_keep_them() -> None:
    config = AgentConfig(
        batch_size=7,
        retry_after_max=9.0,
        refusal_log_interval=11.0,
        spool_max_rows=13,
        dead_letter_max_rows=17,
    )
    delivery = delivery_settings(config)
    assert (delivery.batch_size, delivery.retry_after_max, delivery.refusal_log_interval) == (
        7,
        9.0,
        11.0,
    )
    for name in (f.name for f in fields(DeliverySettings) if f.name != "idle_check"):
        assert getattr(delivery_settings(AgentConfig()), name) == getattr(AgentConfig(), name)
