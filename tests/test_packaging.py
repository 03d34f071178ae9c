"""The server as a built wheel: migrations, templates and front-end assets travel with it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import sys
from pathlib import Path
from starlette.testclient import TestClient
import app
from app.config import Settings
from app.main import create_app
from app.resources import resource_path
from app.schema_migrations import upgrade

installed = Path(sys.argv[1]).resolve()
assert Path(app.__file__).resolve().is_relative_to(installed), app.__file__
for name in ("templates", "static", "migrations", "alembic.ini"):
    assert resource_path(name).is_relative_to(installed), resource_path(name)
url = "sqlite:///" + sys.argv[2]
upgrade(url)
with TestClient(create_app(Settings(database_url=url))) as client:
    login = client.get("/", follow_redirects=True)
    assert login.status_code == 200 and "Sign in" in login.text, login.text[:300]
with TestClient(create_app(Settings(database_url=url, public_dashboard=True))) as client:
    page = client.get("/")
    assert page.status_code == 200 and "No devices yet" in page.text, page.text[:300]
    script = client.get("/static/vendor/htmx.min.js")
    assert script.status_code == 200 and len(script.content) > 10_000
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui-bundle.js" in docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get("/static/vendor/" + asset).status_code == 200, asset
print("ok")
"""


@pytest.mark.slow
def test_an_installed_wheel_migrates_and_serves_its_pages_from_anywhere(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", tmp_path, ROOT],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("telemetry*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "app/templates/base.html",
        "app/static/vendor/htmx.min.js",
        "app/static/vendor/uPlot.iife.min.js",
        "app/static/vendor/swagger-ui-bundle.js",
        "app/static/vendor/LICENSE.swagger-ui",
        "app/migrations/env.py",
        "app/alembic.ini",
        "device/cli.py",
    ):
        assert expected in names, f"the wheel lacks {expected}"
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "-t", target, wheel],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The installed copy comes first on the path, before this checkout's editable install;
    # the working directory is neither.
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(target)!r})\n{CHECK}",
         str(target), str(tmp_path / "t.db")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
