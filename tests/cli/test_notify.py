"""`telemetry notify`: a notification sent from the server's shell, on a real database;
and a running server showing it in the recipient's open tab within 2 s."""

from __future__ import annotations

import time

import pytest

from app.accounts import CLI, MESSAGE_MAX, Accounts
from app.cli import main
from tests.cli.conftest import Telemetry
from tests.factories import make_settings
from tests.raw_streams import RawStream, events
from tests.servers import run_live_server
from tests.signing_in import make_account

PASSWORD = "correct horse battery"


def add_users(accounts: Accounts, *names: str) -> None:
    """Users through the context."""
    for name in names:
        accounts.users.add(name, PASSWORD, role="viewer", display_name="", actor=CLI)


def titles(accounts: Accounts, name: str) -> list[str]:
    """The titles in a user's inbox, newest first."""
    found = accounts.notifications.inbox(accounts.users.get(name).id)
    return [item.notification.title for item in found.items]


def test_notify_named_users_prints_what_was_sent(telemetry: Telemetry, accounts: Accounts) -> None:
    add_users(accounts, "maria", "jonas", "ann")
    ran = telemetry(
        "notify", "--user", "maria", "--user", "jonas", "--level", "warning",
        "--link", "/devices/shed", "--title", "Vent", "Check the vent",
    )  # fmt: skip
    assert ran.status == 0, ran.err
    item = accounts.notifications.inbox(accounts.users.get("maria").id).items[0]
    assert ran.out == f'sent "Vent" to 2 users (notification {item.notification.id})\n'
    n = item.notification
    assert (n.message, n.level, n.link, n.sender) == (
        "Check the vent",
        "warning",
        "/devices/shed",
        None,
    )
    assert titles(accounts, "jonas") == ["Vent"] and titles(accounts, "ann") == []


def test_notify_without_users_reaches_everyone_and_reads_stdin_for_dash(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add_users(accounts, "maria")
    ran = telemetry("notify", "--title", "All", "-", stdin="line one\nline two\n")
    assert ran.status == 0, ran.err
    assert ran.out.startswith('sent "All" to 1 user (notification ')
    [item] = accounts.notifications.inbox(accounts.users.get("maria").id).items
    assert item.notification.message == "line one\nline two"
    assert item.notification.everyone


def test_unknown_users_are_all_named_on_stderr_with_status_2(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add_users(accounts, "maria")
    ran = telemetry(
        "notify", "--user", "maria", "--user", "ghost", "--user", "nobody", "--title", "t", "m"
    )
    assert (ran.status, ran.out) == (2, "")
    assert "'ghost'" in ran.err and "'nobody'" in ran.err and "telemetry user list" in ran.err
    assert titles(accounts, "maria") == []


@pytest.mark.parametrize(
    ("argv", "stdin", "field"),
    [
        (["--title", "", "m"], "", "title"),
        (["--title", "t", "-"], "x" * (MESSAGE_MAX + 1), "message"),
        (["--title", "t", "--link", "//evil.example", "m"], "", "link"),
    ],
)
def test_a_bad_field_is_named_on_stderr_with_status_2(
    telemetry: Telemetry, accounts: Accounts, argv: list[str], stdin: str, field: str
) -> None:
    add_users(accounts, "maria")
    ran = telemetry("notify", *argv, stdin=stdin)
    assert (ran.status, ran.out) == (2, "")
    assert ran.err.startswith(f"telemetry: {field}: ")
    assert titles(accounts, "maria") == []


def test_an_unknown_level_is_a_usage_error(telemetry: Telemetry) -> None:
    with pytest.raises(SystemExit) as exited:
        telemetry("notify", "--level", "loud", "--title", "t", "m")
    assert exited.value.code == 2


def test_a_running_server_shows_it_in_the_recipients_open_tab_within_2_s(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(sqlite_url, public_dashboard=False, refresh_interval=0.1)
    with run_live_server(settings) as server:
        maria = make_account(server.app, "maria")
        make_account(server.app, "jonas")
        tab = RawStream(server, maria)
        tab.wait_for(lambda text: "event: unread" in text, timeout=5)
        mark = len(tab.received())
        started = time.monotonic()
        # The command's own process in all but name: main(), its own engine on the file.
        status = main(
            ["notify", "--user", "maria", "--title", "From the shell", "hello"],
            {"TELEMETRY_DATABASE_URL": sqlite_url},
        )
        assert status == 0, capsys.readouterr().err
        tab.wait_for(lambda text: "event: toast" in text, timeout=2.0, since=mark)
        assert time.monotonic() - started < 2.0
        new = tab.text(mark)
        maria_id = server.app.state.services.accounts.users.get("maria").id
        [(route, toast)] = events(new, "toast")
        assert route == f"user:{maria_id}" and "From the shell" in toast and "System" in toast
        [(route, badge)] = events(new, "unread")
        assert route == f"user:{maria_id}" and 'data-unread="1"' in badge
