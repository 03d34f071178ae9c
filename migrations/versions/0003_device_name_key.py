"""device names unique without regard to case

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 01:40:00

Adds devices.name_key, the name case-folded, with a unique index: "Greenhouse" and
"greenhouse" can no longer both exist. A database that already holds names differing
only in case is refused, before anything changes, with the names and what to do.

The column is added in place (SQLite: ALTER TABLE ... ADD COLUMN with a default, which
stays in SQLite's schema), never by rebuilding the table: with foreign keys on, SQLite
drops a rebuilt table's rows first and would cascade to every series and reading.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.schema_migrations import MigrationRefused

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_devices = sa.table("devices", sa.column("id"), sa.column("name"), sa.column("name_key"))


def _key(name: str) -> str:
    # As app.telemetry.models.device_name_key was when this migration was written.
    return unicodedata.normalize("NFC", name.casefold())


def _refuse_clashes(rows: list[tuple[int, str]]) -> None:
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for device_id, name in rows:
        groups[_key(name)].append((device_id, name))
    clashes = [group for group in groups.values() if len(group) > 1]
    if not clashes:
        return
    listed = "; ".join(" and ".join(f"{name!r} (id {i})" for i, name in g) for g in clashes)
    device_id, name = clashes[0][1]
    # Shown for a person to run; nothing here executes it.
    suffix = f"-{device_id}"
    renamed = name[: 64 - len(suffix)] + suffix  # names are at most 64 characters
    quoted = renamed.replace("'", "''")  # an SQL string literal, as the reader will paste it
    example = f"UPDATE devices SET name = '{quoted}' WHERE id = {device_id};"  # noqa: S608
    raise MigrationRefused(
        "device names are now unique without regard to case, and these names differ only "
        f"in case: {listed}. Rename all but one of each, for example with {example} "
        "then migrate again (tokens and readings stay as they are). Nothing was changed."
    )


def upgrade() -> None:
    conn = op.get_bind()
    rows = [(row.id, row.name) for row in conn.execute(sa.select(_devices.c.id, _devices.c.name))]
    _refuse_clashes(rows)
    op.add_column(
        "devices",
        sa.Column("name_key", sa.String(length=192), nullable=False, server_default=""),
    )
    if rows:
        conn.execute(
            _devices.update()
            .where(_devices.c.id == sa.bindparam("device_id"))
            .values(name_key=sa.bindparam("key")),
            [{"device_id": device_id, "key": _key(name)} for device_id, name in rows],
        )
    if conn.dialect.name != "sqlite":  # SQLite cannot drop a default in place
        op.alter_column("devices", "name_key", server_default=None)
    op.create_index(op.f("ix_devices_name_key"), "devices", ["name_key"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_devices_name_key"), table_name="devices")
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite 3.35+), not by rebuilding the table: see the module's docstring.
        op.execute("ALTER TABLE devices DROP COLUMN name_key")
    else:
        op.drop_column("devices", "name_key")
