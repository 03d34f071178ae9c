"""No private name of a third-party package is used, but for the one documented fast path.

app/web/direct_write.py reads uvicorn's internals on purpose, and says which and why;
nothing else may lean on a library's private names, which change without notice.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"app", "device", "tests", "bench", "docs", "migrations", "dev"}
FAST_PATH = ROOT / "app" / "web" / "direct_write.py"
# What direct_write.py reads of uvicorn: public-looking names that are internals all the same.
UVICORN_INTERNALS = ("chunked_encoding", "httptools_impl", ".disconnected", "__self__")


def _sources() -> list[Path]:
    paths = [ROOT / "dev.py"]
    for folder in ("app", "device", "tests", "bench", "docs", "migrations"):
        paths.extend((ROOT / folder).rglob("*.py"))
    return [p for p in paths if p != FAST_PATH]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _third_party(module: str) -> bool:
    top = module.split(".")[0]
    return top not in OURS and top not in sys.stdlib_module_names and top != "__future__"


def private_uses(path: Path) -> list[str]:
    """`from lib import _x`, `import lib._x`, and `lib._x` where lib is a third party."""
    tree = ast.parse(path.read_text(), str(path))
    foreign: set[str] = set()  # local names bound to third-party modules or their members
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and _third_party(node.module):
            if any(_private(part) for part in node.module.split(".")):
                found.append(f"{path}:{node.lineno}: from {node.module} import ...")
            for alias in node.names:
                foreign.add(alias.asname or alias.name)
                if _private(alias.name):
                    found.append(f"{path}:{node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _third_party(alias.name):
                    foreign.add((alias.asname or alias.name).split(".")[0])
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{path}:{node.lineno}: import {alias.name}")
    found.extend(
        f"{path}:{node.lineno}: {node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and _private(node.attr)
        and isinstance(node.value, ast.Name)
        and node.value.id in foreign
    )
    return found


def test_no_private_name_of_a_third_party_package_is_used() -> None:
    found = [use for path in _sources() for use in private_uses(path)]
    assert found == []


def test_uvicorns_internals_are_read_only_in_the_fast_path_module() -> None:
    found = [
        f"{path}: {name}"
        for path in _sources()
        if path.is_relative_to(ROOT / "app")
        for name in UVICORN_INTERNALS
        if name in path.read_text()
    ]
    assert found == []
    fast_path = FAST_PATH.read_text()
    assert all(name in fast_path for name in UVICORN_INTERNALS), "the list above is stale"


def test_the_checks_above_would_see_a_private_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from sse_starlette.sse import _send_with_timeout\n"
        "import starlette\n"
        "starlette._private_thing\n"
        "from sse_starlette import sse as s\n"
        "s._listen_for_disconnect\n"
    )
    assert len(private_uses(sample)) == 3
