#!/usr/bin/env python3
"""Development tasks, with nothing but Python 3.11+ installed.

    python3 dev.py serve [ARGS]   install into .venv, migrate and run the server
                                  (ARGS go to `telemetry serve`); while no user exists,
                                  it first prints the address that creates the first admin
    python3 dev.py check          install with dev tools; format check, lint, types, imports, tests
    python3 dev.py test [ARGS]    only the tests (ARGS go to pytest)
    python3 dev.py fmt            format and fix what ruff can fix
    python3 dev.py bench NAME [ARGS]  run bench/NAME.py (see bench/README.md)
    python3 dev.py assets         fetch the pinned front-end packages (static/vendor/package.json)
                                  from the npm registry and copy their files into static/vendor

Each task creates .venv on first use and reinstalls only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project (with `extras`) unless already done."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / ".installed"
    installed = stamp.read_text().split() if stamp.exists() else []
    if digest in installed:
        return
    target = f".[{extras}]" if extras else "."
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(" ".join([*installed, digest]))


def serve(args: list[str]) -> None:
    ensure_venv("")
    os.execv(BIN / "telemetry", [str(BIN / "telemetry"), "serve", *args])


def check(_: list[str]) -> None:
    ensure_venv("dev")
    _run(BIN / "ruff", "format", "--check", ".")
    _run(BIN / "ruff", "check", ".")
    _run(BIN / "mypy")
    _run(BIN / "lint-imports")
    _run(BIN / "python", "-m", "pytest")


def test(args: list[str]) -> None:
    ensure_venv("dev")
    _run(BIN / "python", "-m", "pytest", *args)


def fmt(_: list[str]) -> None:
    ensure_venv("dev")
    _run(BIN / "ruff", "check", "--fix", ".")
    _run(BIN / "ruff", "format", ".")


def bench(args: list[str]) -> None:
    ensure_venv("dev")
    if not args or not (ROOT / "bench" / f"{args[0]}.py").exists():
        names = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_"))
        sys.exit(f"usage: python3 dev.py bench NAME [ARGS], NAME one of: {', '.join(names)}")
    _run(BIN / "python", f"bench/{args[0]}.py", *args[1:])


# package in node_modules -> (file inside it, name in static/vendor)
VENDORED = {
    "htmx.org": [("dist/htmx.min.js", "htmx.min.js"), ("LICENSE", "LICENSE.htmx")],
    "htmx-ext-sse": [
        ("dist/sse.min.js", "htmx-ext-sse.min.js"),
        ("LICENSE", "LICENSE.htmx-ext-sse"),
    ],
    # The API documentation's page (/docs). Apache-2.0 asks for its NOTICE to travel
    # with it; the bundle names its own third-party licenses file, kept under that name.
    "swagger-ui-dist": [
        ("swagger-ui-bundle.js", "swagger-ui-bundle.js"),
        ("swagger-ui-bundle.js.LICENSE.txt", "swagger-ui-bundle.js.LICENSE.txt"),
        ("swagger-ui.css", "swagger-ui.css"),
        ("LICENSE", "LICENSE.swagger-ui"),
        ("NOTICE", "NOTICE.swagger-ui"),
    ],
    "uplot": [
        ("dist/uPlot.iife.min.js", "uPlot.iife.min.js"),
        ("dist/uPlot.min.css", "uPlot.min.css"),
        ("LICENSE", "LICENSE.uplot"),
    ],
}


def assets(_: list[str]) -> None:
    """Install the exact versions of package-lock.json in a scratch directory, copy files."""
    import shutil
    import tempfile

    vendor = ROOT / "static" / "vendor"
    if shutil.which("npm") is None:
        sys.exit("npm is needed to fetch the front-end packages (it is not needed to run)")
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(vendor / name, Path(scratch) / name)
        _run("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", scratch)
        for package, files in VENDORED.items():
            for source, target in files:
                shutil.copy(Path(scratch) / "node_modules" / package / source, vendor / target)
                print(f"static/vendor/{target}  <-  {package}/{source}")


TASKS = {
    "serve": serve,
    "check": check,
    "test": test,
    "fmt": fmt,
    "bench": bench,
    "assets": assets,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        sys.exit(__doc__)
    TASKS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
