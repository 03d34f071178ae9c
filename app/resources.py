"""Where the migrations, templates and static assets are, in a checkout or an installed wheel.

In the repository they sit next to the `app` package; a wheel ships them inside it
(see `force-include` in pyproject.toml). Nothing here depends on the working directory.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """The directory or file `name` (migrations, templates, static, alembic.ini)."""
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"{name} is missing from {_PACKAGE_DIR} and its parent; reinstall telemetry-dashboard"
    )
