"""Settings: read from TELEMETRY_* variables, with errors that name the variable."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from app.config import Settings, SettingsError


def test_settings_come_from_prefixed_variables() -> None:
    settings = Settings.from_environ(
        {
            "TELEMETRY_DATABASE_URL": "sqlite:////tmp/x.db",
            "TELEMETRY_RATE_LIMIT_DEVICE": "5/10seconds",
            "TELEMETRY_MAX_BATCH_SIZE": "200",
            "UNRELATED": "ignored",
        }
    )
    assert settings.database_url == "sqlite:////tmp/x.db"
    assert settings.rate_limit_device == "5/10seconds"
    assert settings.max_batch_size == 200


def test_default_database_lives_in_the_xdg_data_directory(tmp_path: Path) -> None:
    settings = Settings.from_environ({"XDG_DATA_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/telemetry/telemetry.db"


def test_default_database_falls_back_to_home(tmp_path: Path) -> None:
    settings = Settings.from_environ({"HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/.local/share/telemetry/telemetry.db"


def test_a_misspelt_variable_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(SettingsError, match="did you mean TELEMETRY_RATE_LIMIT_IP"):
        Settings.from_environ({"TELEMETRY_RATE_LIMT_IP": "none"})


def test_variables_of_the_tests_and_the_agent_are_not_settings() -> None:
    Settings.from_environ(
        {
            "TELEMETRY_TEST_POSTGRES_URL": "x",
            "TELEMETRY_REQUIRE_BROWSER": "1",
            "TELEMETRY_AGENT_SERVER": "http://x",
        }
    )


@pytest.mark.parametrize("notation", ["5/10seconds", "120/minute", "1 per second", "none", "NONE"])
def test_rate_limits_accept_the_limits_notation(notation: str) -> None:
    settings = Settings.from_environ({"TELEMETRY_RATE_LIMIT_IP": notation})
    assert settings.rate_limit_ip in (notation, "none")


@pytest.mark.parametrize("notation", ["fast", "5/fortnight", "1/second;5/minute"])
def test_a_bad_rate_limit_names_the_variable(notation: str) -> None:
    with pytest.raises(SettingsError, match="TELEMETRY_RATE_LIMIT_DEVICE"):
        Settings.from_environ({"TELEMETRY_RATE_LIMIT_DEVICE": notation})


def test_a_value_out_of_range_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="TELEMETRY_MAX_BATCH_SIZE"):
        Settings.from_environ({"TELEMETRY_MAX_BATCH_SIZE": "0"})


def test_trusted_proxies_are_a_comma_separated_list_of_networks() -> None:
    settings = Settings.from_environ({"TELEMETRY_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16,::1"})
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.1"),
        ipaddress.ip_network("192.168.0.0/16"),
        ipaddress.ip_network("::1"),
    )


def test_a_bad_proxy_address_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="TELEMETRY_TRUSTED_PROXIES"):
        Settings.from_environ({"TELEMETRY_TRUSTED_PROXIES": "not-an-address"})


def test_every_setting_has_a_line_of_help() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"TELEMETRY_{name.upper()}" in readme, f"README lacks TELEMETRY_{name.upper()}"
