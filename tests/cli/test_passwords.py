"""A password asked for on a terminal: the command runs in a pseudo-terminal, as in a shell."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import AccountsAt
from tests.cli.test_tokens import run

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


class Terminal:
    """`telemetry ARGS` whose terminal the test types into."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
        environ["TELEMETRY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
        self.seen = ""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the terminal is its stdin, stdout, stderr and /dev/tty
            os.chdir(tmp_path)
            os.execve(sys.executable, [sys.executable, "-m", "app.cli", *args], environ)

    def expect(self, text: str, timeout: float = 30) -> None:
        """Read until `text` has been shown."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < deadline, f"never showed {text!r}; showed {self.seen!r}"
            if not self._read(deadline - time.monotonic()):
                break
        assert text in self.seen, f"never showed {text!r}; showed {self.seen!r}"

    def type(self, line: str) -> None:
        """Type a line and press Enter."""
        os.write(self.fd, line.encode() + b"\r")

    def finish(self) -> int:
        """Read what is left; the exit status."""
        while self._read(30):
            pass
        os.close(self.fd)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # Linux: EIO once the child has gone
            return False
        self.seen += chunk.decode(errors="replace")
        return bool(chunk)


def test_add_asks_for_the_password_twice_without_echoing_it(
    tmp_path: Path, accounts_at: AccountsAt
) -> None:
    terminal = Terminal(tmp_path, "user", "add", "maria", "--admin")
    terminal.expect("New password for maria: ")
    terminal.type("correct horse battery")
    terminal.expect("The same password again: ")
    terminal.type("correct horse battery")
    assert terminal.finish() == 0, terminal.seen
    assert "Added user 'maria' with the role admin." in terminal.seen
    assert "correct horse battery" not in terminal.seen
    assert accounts_at(tmp_path).users.authenticate("maria", "correct horse battery")


def test_differing_passwords_are_refused_and_nothing_changes(
    tmp_path: Path, accounts_at: AccountsAt
) -> None:
    terminal = Terminal(tmp_path, "user", "add", "maria", "--admin")
    terminal.expect("New password for maria: ")
    terminal.type("correct horse battery")
    terminal.expect("The same password again: ")
    terminal.type("correct horse batterz")
    assert terminal.finish() == 1
    assert "telemetry: the two passwords differ: nothing was changed" in terminal.seen
    assert "Traceback" not in terminal.seen
    assert accounts_at(tmp_path).users.list() == []


def test_passwd_asks_on_the_terminal_too(tmp_path: Path, accounts_at: AccountsAt) -> None:
    added = run(tmp_path, "user", "add", "ben", "--password-stdin", stdin="first passphrase\n")
    assert added.returncode == 0, added.stderr
    terminal = Terminal(tmp_path, "user", "passwd", "ben")
    terminal.expect("New password for ben: ")
    terminal.type("second passphrase")
    terminal.expect("The same password again: ")
    terminal.type("second passphrase")
    assert terminal.finish() == 0, terminal.seen
    assert "New password set for 'ben'" in terminal.seen
    assert accounts_at(tmp_path).users.authenticate("ben", "second passphrase")


def test_end_of_input_at_the_prompt_changes_nothing_and_shows_no_traceback(
    tmp_path: Path, accounts_at: AccountsAt
) -> None:
    terminal = Terminal(tmp_path, "user", "add", "maria")
    terminal.expect("New password for maria: ")
    os.write(terminal.fd, b"\x04")  # Ctrl-D
    assert terminal.finish() == 1
    assert "telemetry: no password was given: nothing was changed" in terminal.seen
    assert "Traceback" not in terminal.seen
    assert accounts_at(tmp_path).users.list() == []
