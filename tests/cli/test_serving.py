"""`telemetry serve` on a database without users: the first admin's setup address."""

from __future__ import annotations

import logging
import re

import pytest

from app.accounts import Accounts
from app.cli.serving import announce_first_run
from tests.cli.conftest import Telemetry
from tests.cli.test_users import add

SETUP = re.compile(r"http://127\.0\.0\.1:8000/setup\?code=([A-Za-z0-9_-]+)")


def test_without_users_the_setup_address_is_printed_and_logged_and_opens_setup(
    accounts: Accounts, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app.cli"):
        notice = announce_first_run(accounts, host="127.0.0.1", port=8000)
    printed = capsys.readouterr().err
    assert notice is not None and notice in printed
    assert "No user exists yet" in printed
    assert "works once: it creates the first admin" in printed
    assert "telemetry user add NAME --admin" in printed
    found = SETUP.search(printed)
    assert found, printed
    code = found.group(1)
    assert accounts.first_run.is_open(code)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert f"http://127.0.0.1:8000/setup?code={code}" in record.getMessage()


def test_listening_on_every_interface_it_gives_this_machines_address_and_loopback(
    accounts: Accounts, capsys: pytest.CaptureFixture[str]
) -> None:
    for host in ("0.0.0.0", "::"):
        notice = announce_first_run(accounts, host=host, port=8000)
        assert notice is not None
        code = SETUP.findall(notice)
        assert len(code) == 1, notice
        assert f"http://<this machine's address>:8000/setup?code={code[0]}" in notice


def test_the_address_names_the_host_listened_on_and_the_root_path(accounts: Accounts) -> None:
    named = announce_first_run(accounts, host="192.0.2.10", port=9000, root_path="/dash/")
    assert named is not None and "http://192.0.2.10:9000/dash/setup?code=" in named
    ipv6 = announce_first_run(accounts, host="fd00::10", port=9000)
    assert ipv6 is not None and "http://[fd00::10]:9000/setup?code=" in ipv6


def test_each_start_issues_a_new_code_and_the_old_one_stops_working(accounts: Accounts) -> None:
    first = SETUP.findall(announce_first_run(accounts, host="127.0.0.1", port=8000) or "")
    second = SETUP.findall(announce_first_run(accounts, host="127.0.0.1", port=8000) or "")
    assert first != second
    assert not accounts.first_run.is_open(first[0])
    assert accounts.first_run.is_open(second[0])


def test_once_a_user_exists_nothing_is_printed_nor_logged(
    telemetry: Telemetry,
    accounts: Accounts,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = SETUP.findall(announce_first_run(accounts, host="127.0.0.1", port=8000) or "")[0]
    add(telemetry, "maria", "--admin")
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="app.cli"):
        assert announce_first_run(accounts, host="127.0.0.1", port=8000) is None
    assert capsys.readouterr() == ("", "")
    assert caplog.records == []
    # The code printed before a user existed no longer opens the setup.
    assert not accounts.first_run.is_open(code)
