"""The SQL statements of the registry that several operations share: row inserts, the run
update, and the name / status filters of the listings (SQLAlchemy Core, any dialect)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from frugalml.store import schema

__all__ = ["escape_like", "filtered", "insert_rows", "name_pattern", "update_run"]


@functools.lru_cache(maxsize=32)
def update_run(columns: tuple[str, ...]) -> sa.Update:
    """One UPDATE of ``runs`` per column set, built once: the sampler writes every second and
    building a statement costs more than executing it."""
    return (
        sa.update(schema.runs)
        .where(schema.runs.c.id == sa.bindparam("_run_id"))
        .values({c: sa.bindparam(c) for c in columns})
    )


def insert_rows(
    conn: sa.Connection,
    run_id: str,
    samples: Sequence[dict[str, Any]],
    metrics: Sequence[dict[str, Any]],
    forecasts: Sequence[dict[str, Any]] = (),
) -> None:
    if samples:
        conn.execute(sa.insert(schema.samples), [{"run_id": run_id, **s} for s in samples])
    if metrics:
        conn.execute(sa.insert(schema.metrics), [{"run_id": run_id, **m} for m in metrics])
    if forecasts:
        conn.execute(sa.insert(schema.forecasts), [{"run_id": run_id, **f} for f in forecasts])


def name_pattern(pattern: str) -> str:
    r"""The SQL LIKE pattern (escape ``\``) for a name filter: a substring, or a glob with
    ``*`` (any text) and ``?`` (one character) that must match the whole name.

    Example:
        >>> print(name_pattern("bert"), name_pattern("train-*"), name_pattern("50%"))
        %bert% train-% %50\%%
    """
    if "*" not in pattern and "?" not in pattern:
        return f"%{escape_like(pattern)}%"
    return escape_like(pattern).replace("*", "%").replace("?", "_")


def filtered(q: Any, name: str | None, name_like: str | None, status: str | None) -> Any:
    if name is not None:
        q = q.where(schema.runs.c.name == name)
    if name_like is not None:
        q = q.where(schema.runs.c.name.ilike(name_pattern(name_like), escape="\\"))
    if status is None:
        return q
    match: Any
    if status == "interrupted":  # stored as such, or a "running" row whose writer died
        match = schema.runs.c.status.in_(["interrupted", "running"])
    else:
        match = schema.runs.c.status == status
    # a job's status is folded from its ranks: every job row is a candidate
    return q.where(sa.or_(match, schema.runs.c.kind == "job"))


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
