"""The dependency rules of DESIGN.md, checked by import-linter (contracts in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_dependencies_point_one_way() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is part of the dev dependencies"
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_is_built_at_import_time(tmp_path: Path) -> None:
    # Importing the app must not read settings, open databases or build an app.
    database = tmp_path / "never.db"
    code = (
        "import app.main, app.cli, app.db, app.web.ingest, sys;"
        "assert not hasattr(app.main, 'app'), 'app.main built an app on import'"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"TELEMETRY_DATABASE_URL": f"sqlite:///{database}"},
        check=True,
    )
    assert not database.exists(), "importing the app opened the database"


def test_no_module_of_the_server_or_the_agent_is_over_300_lines() -> None:
    # Past that, a module holds more than one thing: split it along its seams.
    long = {
        str(path.relative_to(ROOT)): lines
        for folder in ("app", "device")
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 300
    }
    assert long == {}
