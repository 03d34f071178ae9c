"""The README's shell examples, run as a reader runs them, against a real server.

The rule: every shell block of README.md (fenced ```sh, bash, shell or console) has, on
the line just above its fence, one of two markers:

    <!-- example: runs against a server -->
    <!-- example: not run: WHY -->

"not run" is for what cannot run in a test (a server or agent that runs until stopped,
variables for the reader's own shell, installing on a Pi), and says why. A new example
is checked from the moment it is marked to run; an unmarked one fails this test.

The blocks marked to run are run in README order in one bash (`set -euo pipefail`), as a
reader types them into one terminal with `python3 dev.py serve` running in another; like
a reader, who takes a while to get to the next example, the test lets the server fold
what was stored into the history (within a second) before the next block. They run
against a real server on a fresh database, with `TELEMETRY_DATABASE_URL` naming it, the
README's http://127.0.0.1:8000 replaced by the server's address, `.venv/bin` being the
bin directory of the Python running the tests, and every other entry of the repository
at hand (they run in a scratch copy of the repository's top level, so the files they
write land there).

What an example shows it prints is checked too: `#` lines directly under a command, with
no blank line between, are its answer.

- `HTTP/1.1 201 Created` is the status line of `curl -i`, and `name: value` lines after
  it are headers the answer must carry, with those values;
- the rest is the body: JSON, in which `...` in an array stands for any number of
  elements and a time for any time (examples post at the current time, so the times
  they show are illustrations); or else text, which must be exactly what is printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select

from app.config import Settings
from app.telemetry.models import RollupPending
from tests.servers import run_live_server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RUN = "<!-- example: runs against a server -->"
NOT_RUN = re.compile(r"<!-- example: not run: \S.* -->")
FENCE = re.compile(r"```(sh|bash|shell|console)")
README_SERVER = "http://127.0.0.1:8000"
HEADER = re.compile(r"[A-Za-z][A-Za-z0-9-]*: ")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
ELIDED = "\u2026"  # what `...` in a shown array becomes, to parse as JSON
BLOCK_DONE = "@@ block done @@"  # what bash prints after each block
ELISION = re.compile(r"(?<=[\[,])\s*\.\.\.\s*(?=[,\]])")


@dataclass
class Block:
    """A shell block of the README: the marker above it, where it starts, its lines."""

    marker: str
    line: int
    lines: list[str]


@dataclass
class Command:
    """A command of a block (continuation lines included) and the answer shown under it."""

    first: int  # index in its block's lines
    last: int
    line: int  # in README.md, for messages
    shown: list[str] = field(default_factory=list)


def shell_blocks(markdown: str) -> list[Block]:
    lines = markdown.splitlines()
    blocks = []
    for start, line in enumerate(lines):
        if FENCE.fullmatch(line.strip()):
            end = lines.index("```", start + 1)
            above = lines[start - 1].strip() if start else ""
            blocks.append(Block(above, start + 2, lines[start + 1 : end]))
    return blocks


def commands(block: Block) -> list[Command]:
    found: list[Command] = []
    current: Command | None = None
    for index, line in enumerate(block.lines):
        if current is not None and block.lines[current.last].endswith("\\"):
            current.last = index
        elif line.startswith("#"):
            # Directly under its command, or under the answer's line before.
            if current is not None and index == current.last + 1 + len(current.shown):
                current.shown.append(line[1:].strip())
        elif not line.strip():
            current = None
        else:
            current = Command(first=index, last=index, line=block.line + index)
            found.append(current)
    return found


def scripts_of(blocks: list[Block], server: str, answers: Path) -> tuple[list[str], list[Command]]:
    """Each block's script against `server`; the Nth shown answer is saved as answers/N."""
    scripts = []
    checked: list[Command] = []
    for block in blocks:
        lines = list(block.lines)
        for command in commands(block):
            if command.shown:
                lines[command.first] = "{\n" + lines[command.first]
                lines[command.last] += f"\n}} > '{answers / str(len(checked))}'"
                checked.append(command)
        scripts.append("\n".join(lines).replace(README_SERVER, server))
    return scripts, checked


def run_in_one_shell(
    scripts: list[str], between: Callable[[], None], **popen: Any
) -> tuple[int, str]:
    """Run the scripts one after another in one bash, calling `between` after each.

    bash reads them from a pipe of its own, not from its stdin, so that no command of
    an example can swallow the next one. Returns bash's exit status and its output.
    """
    read, write = os.pipe()
    output: list[str] = []
    with subprocess.Popen(
        ["bash", f"/dev/fd/{read}"],
        pass_fds=(read,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    ) as bash:
        os.close(read)
        watchdog = threading.Timer(120, bash.kill)  # a hung example must not hang the tests
        watchdog.start()
        assert bash.stdout is not None
        with os.fdopen(write, "w") as pipe:
            pipe.write("set -euo pipefail\n")
            for script in scripts:
                pipe.write(f"{script}\necho '{BLOCK_DONE}'\n")
                pipe.flush()
                for line in bash.stdout:
                    if line.strip() == BLOCK_DONE:
                        break
                    output.append(line)
                else:
                    break  # bash stopped: a command failed
                between()
        output.append(bash.stdout.read())
        status = bash.wait()
        watchdog.cancel()
    return status, "".join(output)


def wait_for_history(engine: Engine) -> None:
    """Until the server has folded every stored value into the history (about a second).

    A reader takes longer than that to get from one example to the next; a script does
    not, and the history example reads what the examples before it posted.
    """
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            pending = conn.execute(select(func.count()).select_from(RollupPending)).scalar()
        if not pending:
            return
        assert time.monotonic() < deadline, "the server did not update the history"
        time.sleep(0.05)


def shown_json(lines: list[str]) -> Any:
    return json.loads(ELISION.sub(lambda _: json.dumps(ELIDED), " ".join(lines)))


def matches(shown: Any, actual: Any) -> bool:
    """`actual` is what `shown` shows, `...` in arrays and times standing for any."""
    if isinstance(shown, str) and TIME.fullmatch(shown):
        return isinstance(actual, str) and TIME.fullmatch(actual) is not None
    if isinstance(shown, dict):
        return (
            isinstance(actual, dict)
            and shown.keys() == actual.keys()
            and all(matches(value, actual[key]) for key, value in shown.items())
        )
    if isinstance(shown, list):
        return isinstance(actual, list) and _matches_items(shown, actual)
    return bool(shown == actual and type(shown) is type(actual))


def _matches_items(shown: list[Any], actual: list[Any]) -> bool:
    if not shown:
        return not actual
    if shown[0] == ELIDED:
        return any(_matches_items(shown[1:], actual[skip:]) for skip in range(len(actual) + 1))
    return bool(actual) and matches(shown[0], actual[0]) and _matches_items(shown[1:], actual[1:])


def abridged(text: str, keep: int = 300) -> str:
    return text if len(text) <= 2 * keep else f"{text[:keep]} [...] {text[-keep:]}"


def check_answer(command: Command, printed: str) -> None:
    where = f"README.md line {command.line}"
    body = command.shown
    if body[0].startswith("HTTP/"):
        head, _, printed = printed.replace("\r\n", "\n").partition("\n\n")
        status, *header_lines = head.splitlines()
        assert status.strip() == body[0], f"{where} shows {body[0]!r}; it printed {status!r}"
        headers = {}
        for header in header_lines:
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = body[1:]
        while body and HEADER.match(body[0]):
            name, _, value = body.pop(0).partition(":")
            assert headers.get(name.lower()) == value.strip(), (
                f"{where} shows {name}: {value.strip()}; it printed {headers.get(name.lower())}"
            )
    if not body:
        return
    if body[0].startswith(("{", "[")):
        shown = shown_json(body)
        assert matches(shown, json.loads(printed)), (
            f"{where} shows {body}; it printed {abridged(printed)}"
        )
    else:
        assert printed.strip() == "\n".join(body), (
            f"{where} shows {body}; it printed {abridged(printed)}"
        )


def scratch_checkout(directory: Path) -> Path:
    """The repository's top level, linked, with .venv/bin the running Python's bin."""
    directory.mkdir()
    for entry in ROOT.iterdir():
        if entry.name != ".venv":
            (directory / entry.name).symlink_to(entry)
    (directory / ".venv").mkdir()
    (directory / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    return directory


def test_every_shell_block_of_the_readme_says_whether_it_runs() -> None:
    blocks = shell_blocks(README.read_text())
    unmarked = [b.line for b in blocks if b.marker != RUN and not NOT_RUN.fullmatch(b.marker)]
    assert unmarked == [], (
        f"README.md: the shell blocks starting on lines {unmarked} need {RUN} or "
        "<!-- example: not run: WHY --> on the line above (tests/test_readme.py)"
    )


def test_the_readmes_examples_run_and_answer_as_shown(tmp_path: Path, sqlite_url: str) -> None:
    blocks = [b for b in shell_blocks(README.read_text()) if b.marker == RUN]
    assert shutil.which("curl"), "the README's examples use curl: apt-get install curl"
    answers = tmp_path / "answers"
    answers.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    environ["TELEMETRY_DATABASE_URL"] = sqlite_url
    # The README's server: `telemetry serve` with the default settings.
    engine = create_engine(sqlite_url)
    with run_live_server(Settings(database_url=sqlite_url)) as server:
        scripts, checked = scripts_of(blocks, server.url, answers)
        # Should the examples lose their markers, this test would check nothing.
        assert "telemetry device add" in scripts[0] and "/api/v1/measurements" in scripts[0]
        assert len(checked) >= 2
        status, output = run_in_one_shell(
            scripts,
            lambda: wait_for_history(engine),
            cwd=scratch_checkout(tmp_path / "checkout"),
            env=environ,
        )
    engine.dispose()
    assert status == 0, f"the README's examples failed:\n{abridged(output)}"
    for number, command in enumerate(checked):
        check_answer(command, (answers / str(number)).read_text())
