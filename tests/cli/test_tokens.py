"""`telemetry user token ...`: personal API tokens created, listed and revoked."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from app.accounts import Accounts
from tests.cli.conftest import Telemetry
from tests.cli.test_users import add


def run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`telemetry ARGS` as a user runs it: a process of its own, on tmp_path/cli.db."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    environ["TELEMETRY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=tmp_path,
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_prints_it_alone_on_the_last_line_and_stores_only_its_digest(
    tmp_path: Path,
) -> None:
    added = run(tmp_path, "user", "add", "maria", "--admin", "--password-stdin", stdin="x" * 12)
    assert added.returncode == 0, added.stderr
    result = run(tmp_path, "user", "token", "maria")
    assert result.returncode == 0, result.stderr
    # Only the token on stdout: `| tail -1` and `$(...)` both take exactly it.
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert token.startswith("tlp_") and len(token) == 47
    assert "shown only this once" in result.stderr and token not in result.stderr
    assert token[:12] in result.stderr  # the prefix that names it in lists
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("cli.db*"))
    assert token.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored


def test_a_token_acts_as_its_user_until_revoked_by_its_listed_prefix(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria", "--admin")
    token = telemetry("user", "token", "maria").out.splitlines()[-1]
    holder = accounts.tokens.authenticate(token)
    assert holder is not None and holder.user.name == "maria"
    _, row = telemetry("user", "tokens", "maria").out.splitlines()
    prefix = row.split()[0]
    assert token.startswith(prefix) and len(prefix) == 12
    ran = telemetry("user", "token-revoke", "maria", prefix)
    assert (ran.status, ran.out) == (0, f"Revoked the personal token {prefix} of 'maria'.\n")
    assert accounts.tokens.authenticate(token) is None
    again = telemetry("user", "token-revoke", "maria", prefix)
    assert again.status == 1
    assert again.err == f"telemetry: 'maria' has no token starting with {prefix!r}\n"


def test_tokens_lists_each_with_when_it_was_created_and_last_used(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria")
    none = telemetry("user", "tokens", "maria")
    assert none.out == (
        "'maria' has no personal token. Create one with: telemetry user token maria\n"
    )
    used = telemetry("user", "token", "maria").out.splitlines()[-1]
    telemetry("user", "token", "maria")
    accounts.tokens.authenticate(used)
    header, newest, oldest = telemetry("user", "tokens", "maria").out.splitlines()
    assert header.split() == ["TOKEN", "CREATED", "LAST", "USED"]
    assert newest.endswith("never")
    assert oldest.startswith(used[:12]) and oldest.endswith("Z")


def test_a_prefix_is_matched_exactly_not_as_a_pattern_nor_in_another_case(
    telemetry: Telemetry, accounts: Accounts
) -> None:
    add(telemetry, "maria")
    token = telemetry("user", "token", "maria").out.splitlines()[-1]
    others = {token[:12].swapcase(), "tlp%", "t_p_", token[:11] + "_"} - {token[:12]}
    for prefix in others:
        ran = telemetry("user", "token-revoke", "maria", prefix)
        assert ran.status == 1, prefix
        assert "has no token starting with" in ran.err
    assert accounts.tokens.authenticate(token) is not None


def test_the_whole_token_revokes_it_too(telemetry: Telemetry, accounts: Accounts) -> None:
    add(telemetry, "maria")
    token = telemetry("user", "token", "maria").out.splitlines()[-1]
    assert telemetry("user", "token-revoke", "maria", token).status == 0
    assert accounts.tokens.authenticate(token) is None


def test_tokens_of_an_unknown_user_are_refused_naming_it(telemetry: Telemetry) -> None:
    for argv in (["token", "ghost"], ["tokens", "ghost"], ["token-revoke", "ghost", "tlp_x"]):
        ran = telemetry("user", *argv)
        assert ran.status == 1, argv
        assert ran.err.startswith("telemetry: no user is named 'ghost'"), argv
