"""Schema creation and ordered migrations, safe under concurrent first writers.

``upgrade(conn)`` runs inside one write transaction that the caller has made exclusive (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level advisory lock taken first), so when several
processes open a new or old registry at once, one creates or migrates it and the others find
it done. DDL is transactional on both databases: a failed migration leaves the old version.

Adding a version is one entry in :data:`MIGRATIONS`, keyed by the version it produces, built
from the helpers below so that later changes stay one line each::

    MIGRATIONS[3] = create_tables("forecasts")           # a new table of schema.py
    MIGRATIONS[4] = add_columns("runs", "parent_id")     # new columns of schema.py's tables
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from frugalml.store import schema
from frugalml.store.backend import newer_schema_error

__all__ = [
    "MIGRATIONS",
    "add_columns",
    "create_indexes",
    "create_tables",
    "read_version",
    "steps",
    "upgrade",
]

Migration = Callable[[sa.Connection], None]


def add_columns(table: str, *columns: str) -> Migration:
    """A step adding ``columns`` (as declared in ``schema.py``) to an existing table; a column
    already there is skipped, so a step interrupted half-way can run again."""

    def step(conn: sa.Connection) -> None:
        existing = {c["name"] for c in sa.inspect(conn).get_columns(table)}
        t = schema.metadata.tables[table]
        for name in columns:
            if name in existing:
                continue
            ddl = sa.schema.CreateColumn(t.c[name]).compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {ddl}")

    return step


def create_tables(*tables: str) -> Migration:
    """A step creating new tables of ``schema.py`` (with their indexes), if missing."""

    def step(conn: sa.Connection) -> None:
        schema.metadata.create_all(
            conn, tables=[schema.metadata.tables[t] for t in tables], checkfirst=True
        )

    return step


def create_indexes(table: str, *indexes: str) -> Migration:
    """A step creating indexes of ``schema.py``'s ``table`` (by name), if missing."""

    def step(conn: sa.Connection) -> None:
        for index in schema.metadata.tables[table].indexes:
            if index.name in indexes:
                index.create(conn, checkfirst=True)

    return step


def steps(*parts: Migration) -> Migration:
    """One version made of several steps, run in order."""

    def step(conn: sa.Connection) -> None:
        for part in parts:
            part(conn)

    return step


#: version -> the step that brings the previous version to it.
MIGRATIONS: dict[int, Migration] = {
    2: add_columns("samples", "method"),
    3: create_tables("forecasts"),
    4: steps(add_columns("runs", "parent_id", "kind"), create_indexes("runs", "ix_runs_parent")),
}


def read_version(conn: sa.Connection) -> int | None:
    """The recorded schema version, or None when the database has no frugalml tables."""
    if not sa.inspect(conn).has_table("frugal_meta"):
        return None
    value = conn.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
    ).scalar()
    return None if value is None else int(value)


def upgrade(conn: sa.Connection, url: str) -> tuple[int | None, int]:
    """Create or migrate the schema to ``SCHEMA_VERSION``; returns (from, to).

    Call inside an exclusive write transaction (see the module docstring).
    """
    version = read_version(conn)
    if version is not None and version > schema.SCHEMA_VERSION:
        raise newer_schema_error(url, version)
    if version == schema.SCHEMA_VERSION:
        return version, version
    if version is None:
        schema.metadata.create_all(conn, checkfirst=True)
        conn.execute(
            sa.insert(schema.meta).values(key="schema_version", value=str(schema.SCHEMA_VERSION))
        )
        return None, schema.SCHEMA_VERSION
    for target in range(version + 1, schema.SCHEMA_VERSION + 1):
        MIGRATIONS[target](conn)
    conn.execute(
        sa.update(schema.meta)
        .where(schema.meta.c.key == "schema_version")
        .values(value=str(schema.SCHEMA_VERSION))
    )
    return version, schema.SCHEMA_VERSION
