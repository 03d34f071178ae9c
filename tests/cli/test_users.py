"""`telemetry user ...`: users added, listed and changed as an operator does, on a real database."""

from __future__ import annotations

from app.accounts import Accounts, UserInfo
from tests.cli.conftest import Telemetry

PASSWORD = "correct horse battery"


def add(telemetry: Telemetry, name: str, *flags: str, password: str = PASSWORD) -> None:
    """Add a user through the command, which must succeed."""
    ran = telemetry("user", "add", name, "--password-stdin", *flags, stdin=password + "\n")
    assert ran.status == 0, ran.err


def sign_in(accounts: Accounts, user: UserInfo) -> None:
    """Begin a session for `user`, as the sign-in page does."""
    accounts.sessions.create(user, persistent=True, client="192.0.2.7", user_agent="a browser")


def test_add_with_password_stdin_creates_a_user_who_signs_in_with_that_password(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    ran = telemetry(
        "user", "add", "maria", "--admin", "--display-name", "María G", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert ran.status == 0, ran.err
    assert ran.out == "Added user 'maria' with the role admin.\n"
    user = accounts.users.authenticate("maria", PASSWORD)
    assert user is not None and user.role == "admin" and user.display_name == "María G"
    assert accounts.users.authenticate("maria", PASSWORD + "\n") is None


def test_a_user_is_a_viewer_unless_added_with_admin(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "ben")
    assert accounts.users.get("ben").role == "viewer"


def test_password_stdin_takes_off_the_line_end_only(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria", password=f"  {PASSWORD}  \r")  # a line ending in \r\n
    assert accounts.users.authenticate("maria", f"  {PASSWORD}  ") is not None
    assert accounts.users.authenticate("maria", PASSWORD) is None


def test_a_short_password_is_refused_stating_the_rule(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    ran = telemetry("user", "add", "maria", "--password-stdin", stdin="tooshort\n")
    assert (ran.status, ran.out) == (1, "")
    assert ran.err == "telemetry: a password needs at least 10 characters\n"
    assert accounts.users.list() == []


def test_a_password_equal_to_the_user_name_is_refused_stating_the_rule(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    ran = telemetry("user", "add", "maintenance", "--password-stdin", stdin="Maintenance\n")
    assert ran.status == 1
    assert ran.err == "telemetry: a password must not be the user name\n"
    assert accounts.users.list() == []


def test_without_a_terminal_a_password_is_asked_for_on_stdin_only_with_the_flag(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    ran = telemetry("user", "add", "maria", stdin=PASSWORD + "\n")
    assert ran.status == 1
    assert ran.err.startswith("telemetry: no terminal to ask for the password on: pass ")
    assert "--password-stdin" in ran.err and "Traceback" not in ran.err
    assert accounts.users.list() == []


def test_password_stdin_with_nothing_to_read_is_refused(telemetry: Telemetry) -> None:
    ran = telemetry("user", "add", "maria", "--password-stdin", stdin="")
    assert ran.status == 1
    assert ran.err.startswith("telemetry: --password-stdin found nothing on standard input")


def test_a_taken_name_is_refused_before_any_password_is_asked_for(telemetry: Telemetry) -> None:
    add(telemetry, "maria")
    ran = telemetry("user", "add", "maria")  # no terminal: asking would be refused
    assert ran.status == 1
    assert ran.err == "telemetry: a user named 'maria' already exists: choose another name\n"


def test_a_name_that_breaks_the_rule_is_refused_naming_the_rule(telemetry: Telemetry) -> None:
    upper = telemetry("user", "add", "Maria", "--password-stdin", stdin=PASSWORD + "\n")
    assert upper.status == 1
    assert upper.err == "telemetry: user names are lowercase: 'maria', not 'Maria'\n"
    spaced = telemetry("user", "add", "maria g", "--password-stdin", stdin=PASSWORD + "\n")
    assert spaced.status == 1 and "is not a user name: 1 to 32 characters" in spaced.err


def test_list_shows_each_user_with_role_status_and_last_sign_in(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    empty = telemetry("user", "list")
    assert (empty.status, empty.out) == (
        0,
        "No users yet. Add the first admin with: telemetry user add NAME --admin\n",
    )
    add(telemetry, "maria", "--admin", "--display-name", "María G")
    add(telemetry, "ben")
    sign_in(accounts, accounts.users.get("maria"))
    assert telemetry("user", "disable", "ben").status == 0
    header, ben, maria = telemetry("user", "list").out.splitlines()
    assert header.split("  ")[0] == "NAME"
    for column in ("DISPLAY NAME", "ROLE", "STATUS", "CREATED", "LAST SIGN-IN"):
        assert column in header
    assert ben.split()[:4] == ["ben", "ben", "viewer", "disabled"]
    assert ben.endswith("never")
    assert maria.split()[:5] == ["maria", "María", "G", "admin", "active"]
    assert not maria.endswith("never") and maria.endswith("Z")
    # The columns line up under their headings.
    assert ben.index("viewer") == maria.index("admin") == header.index("ROLE")


def test_passwd_sets_the_new_password_and_ends_the_users_sessions(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria")
    maria = accounts.users.get("maria")
    sign_in(accounts, maria)
    sign_in(accounts, maria)
    ran = telemetry("user", "passwd", "maria", "--password-stdin", stdin="a new passphrase\n")
    assert ran.status == 0, ran.err
    assert ran.out == (
        "New password set for 'maria'; their sessions were ended (2 were open): "
        "they sign in again with the new password.\n"
    )
    assert accounts.sessions.of_user(maria.id) == []
    assert accounts.users.authenticate("maria", "a new passphrase") is not None
    assert accounts.users.authenticate("maria", PASSWORD) is None


def test_passwd_refuses_a_password_that_breaks_a_rule_and_keeps_the_old_one(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria")
    ran = telemetry("user", "passwd", "maria", "--password-stdin", stdin="short\n")
    assert (ran.status, ran.err) == (1, "telemetry: a password needs at least 10 characters\n")
    assert accounts.users.authenticate("maria", PASSWORD) is not None


def test_an_unknown_user_is_refused_before_a_password_is_asked_for(telemetry: Telemetry) -> None:
    ran = telemetry("user", "passwd", "ghost")
    assert ran.status == 1
    assert ran.err == (
        "telemetry: no user is named 'ghost': `telemetry user list` lists the users\n"
    )


def test_role_makes_a_viewer_an_admin_and_back(telemetry: Telemetry, accounts: Accounts) -> None:
    add(telemetry, "maria", "--admin")
    add(telemetry, "ben")
    promoted = telemetry("user", "role", "ben", "admin")
    assert (promoted.status, promoted.out) == (0, "'ben' is now an admin.\n")
    assert accounts.users.get("ben").role == "admin"
    again = telemetry("user", "role", "ben", "admin")
    assert (again.status, again.out) == (0, "'ben' is already an admin; nothing changed.\n")
    demoted = telemetry("user", "role", "ben", "viewer")
    assert (demoted.status, demoted.out) == (0, "'ben' is now a viewer.\n")
    assert accounts.users.get("ben").role == "viewer"


def test_an_unknown_role_is_refused_naming_the_roles(telemetry: Telemetry) -> None:
    add(telemetry, "ben")
    ran = telemetry("user", "role", "ben", "owner")
    assert ran.status == 1
    assert ran.err == "telemetry: 'owner' is not a role: use 'admin' or 'viewer'\n"


def test_the_last_admin_can_be_neither_demoted_nor_disabled_nor_removed(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria", "--admin")
    refusal = "telemetry: 'maria' is the only active admin: make another user admin first\n"
    for argv in (["role", "maria", "viewer"], ["disable", "maria"], ["remove", "maria"]):
        ran = telemetry("user", *argv)
        assert (ran.status, ran.out, ran.err) == (1, "", refusal), argv
    assert accounts.users.get("maria").role == "admin"
    assert not accounts.users.get("maria").disabled
    # With a second admin, the first may go.
    add(telemetry, "ben", "--admin")
    assert telemetry("user", "remove", "maria").status == 0


def test_disable_ends_the_sessions_and_enable_lets_the_user_back_in(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria", "--admin")
    add(telemetry, "ben")
    ben = accounts.users.get("ben")
    sign_in(accounts, ben)
    disabled = telemetry("user", "disable", "ben")
    assert disabled.status == 0, disabled.err
    assert disabled.out.startswith("Disabled 'ben': they cannot sign in")
    assert "their sessions were ended (1 was open)" in disabled.out
    assert accounts.sessions.of_user(ben.id) == []
    assert accounts.users.authenticate("ben", PASSWORD) is None
    twice = telemetry("user", "disable", "ben")
    assert (twice.status, twice.out) == (0, "'ben' is already disabled; nothing changed.\n")
    enabled = telemetry("user", "enable", "ben")
    assert enabled.status == 0 and enabled.out.startswith("Enabled 'ben'")
    assert accounts.users.authenticate("ben", PASSWORD) is not None
    already = telemetry("user", "enable", "ben")
    assert already.out == "'ben' is already active; nothing changed.\n"


def test_remove_deletes_the_user_with_their_sessions_and_tokens(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria", "--admin")
    add(telemetry, "ben")
    ben = accounts.users.get("ben")
    sign_in(accounts, ben)
    token = telemetry("user", "token", "ben").out.splitlines()[-1]
    ran = telemetry("user", "remove", "ben")
    assert (ran.status, ran.out) == (
        0,
        "Removed user 'ben', their sessions and their personal tokens.\n",
    )
    assert [u.name for u in accounts.users.list()] == ["maria"]
    assert accounts.sessions.of_user(ben.id) == []
    assert accounts.tokens.authenticate(token) is None
    gone = telemetry("user", "remove", "ben")
    assert gone.status == 1 and "no user is named 'ben'" in gone.err


def test_every_change_is_in_the_audit_log_as_done_from_the_command_line(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria", "--admin")
    add(telemetry, "ben")
    telemetry("user", "role", "ben", "admin")
    telemetry("user", "remove", "ben")
    lines = accounts.audit.page(limit=10)
    assert [(e.action, e.subject, e.actor) for e in reversed(lines)] == [
        ("user added", "maria", "cli"),
        ("user added", "ben", "cli"),
        ("user changed", "ben", "cli"),
        ("user removed", "ben", "cli"),
    ]


def test_device_changes_made_from_the_shell_are_in_the_audit_log(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    for action in ("add", "rotate", "revoke"):
        assert telemetry("device", action, "greenhouse").status == 0
    log = accounts.audit.page(limit=5)
    assert [(e.action, e.actor, e.subject) for e in log] == [
        ("device revoked", "cli", "greenhouse"),
        ("device changed", "cli", "greenhouse"),
        ("device added", "cli", "greenhouse"),
    ]
