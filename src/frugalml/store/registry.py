"""The run registry on SQLAlchemy Core: SQLite by default (WAL), PostgreSQL by URL.

Several processes may write to one SQLite file at once: WAL journaling, a 30 s busy timeout,
``BEGIN IMMEDIATE`` write transactions (no lock-upgrade deadlocks) and a retry on "database is
locked" keep every run and sample.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from frugalml.errors import ConfigError, MissingDependencyError, StoreError
from frugalml.store import schema
from frugalml.store.url import resolve_db_url

__all__ = ["RunRecord", "Store"]

log = logging.getLogger(__name__)
T = TypeVar("T")
HOST = socket.gethostname()


@dataclass
class RunRecord:
    """One row of ``runs`` with its effective status (a dead writer shows ``interrupted``)."""

    id: str
    name: str
    status: str
    started_at: float
    ended_at: float | None
    heartbeat_at: float
    duration_s: float
    energy_j: float
    co2e_g: float
    methods: dict[str, str]
    uncertainty: float | None
    region: str | None
    intensity_g_per_kwh: float | None
    pue: float | None
    scope: str | None
    interval_s: float | None
    exit_code: int | None
    host: str | None
    pid: int | None
    error: str | None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def kwh(self) -> float:
        return self.energy_j / 3.6e6


class Store:
    """Open (and create or upgrade) the registry at ``url``.

    Args:
        url: a path or SQLAlchemy URL; ``None`` uses ``FRUGAL_DB`` or ``~/.frugal/frugal.db``.

    Example:
        >>> store = Store("sqlite://")  # in-memory
        >>> store.list_runs()
        []
    """

    def __init__(self, url: str | os.PathLike[str] | None = None) -> None:
        self.url = resolve_db_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as e:
            raise ConfigError(
                f"Malformed registry URL {self.url!r}: {e}. Use sqlite:////abs/path.db or "
                "postgresql://user:pass@host/dbname."
            ) from e
        self._sqlite = parsed.get_backend_name() == "sqlite"
        if self._sqlite and parsed.database not in (None, "", ":memory:"):
            try:
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"Cannot create the registry folder for {parsed.database}: {e.strerror}. "
                    "Set FRUGAL_DB or --db to a writable location."
                ) from e
        try:
            self.engine = self._create_engine()
        except NoSuchModuleError as e:
            raise ConfigError(
                f"Unknown database kind in registry URL {self.url!r}. Use sqlite:/// or postgresql://."
            ) from e
        except ImportError as e:
            raise MissingDependencyError(
                f"The registry URL {self.url!r} needs a database driver that is not installed ({e}). "
                "For PostgreSQL: pip install 'frugalml[postgres]'."
            ) from e
        self._retry(self._create_schema)

    # -- setup ---------------------------------------------------------------------------
    def _create_engine(self) -> Engine:
        if not self._sqlite:
            return sa.create_engine(self.url, pool_pre_ping=True, future=True)
        engine = sa.create_engine(
            self.url, connect_args={"timeout": 30, "check_same_thread": False}
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            try:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            except Exception:  # e.g. a read-only file: WAL needs a writable folder
                log.debug("could not switch %s to WAL", self.url, exc_info=True)
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def _create_schema(self) -> None:
        with self.engine.begin() as conn:
            schema.metadata.create_all(conn)
            row = conn.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
            ).first()
            if row is None:
                conn.execute(
                    sa.insert(schema.meta).values(
                        key="schema_version", value=str(schema.SCHEMA_VERSION)
                    )
                )
            elif int(row[0]) > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"The registry {self.url} has schema version {row[0]}, newer than this frugalml "
                    f"understands ({schema.SCHEMA_VERSION}). Upgrade frugalml: pip install -U frugalml."
                )

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
            ).scalar_one()
        return int(value)

    def _retry(self, fn: Any, *args: Any, attempts: int = 8) -> Any:
        """Run ``fn``; retry when SQLite reports a lock; wrap other failures in StoreError."""
        delay = 0.05
        for attempt in range(attempts):
            try:
                return fn(*args)
            except OperationalError as e:
                locked = "locked" in str(e).lower() or "busy" in str(e).lower()
                if locked and attempt < attempts - 1:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                raise StoreError(
                    f"Registry {self.url} failed: {e.orig}. Check the file/server and its permissions."
                ) from e
            except SQLAlchemyError as e:
                raise StoreError(
                    f"Registry {self.url} failed: {e}. Check the file/server and its permissions."
                ) from e
        raise AssertionError("unreachable")

    # -- writes --------------------------------------------------------------------------
    def create_run(self, row: dict[str, Any]) -> None:
        """Insert a new run (``id``, ``name``, ``started_at`` ... as in ``schema.runs``)."""
        values = {"status": "running", "heartbeat_at": row["started_at"], "host": HOST, **row}
        values = _encode(values)

        def _do() -> None:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(schema.runs).values(**values))

        self._retry(_do)

    def write(
        self,
        run_id: str,
        *,
        samples: Sequence[dict[str, Any]] = (),
        metrics: Sequence[dict[str, Any]] = (),
        update: dict[str, Any] | None = None,
    ) -> None:
        """Append samples and metrics and update the run row, in one transaction."""
        update = _encode(update or {})

        def _do() -> None:
            with self.engine.begin() as conn:
                if samples:
                    conn.execute(
                        sa.insert(schema.samples), [{"run_id": run_id, **s} for s in samples]
                    )
                if metrics:
                    conn.execute(
                        sa.insert(schema.metrics), [{"run_id": run_id, **m} for m in metrics]
                    )
                if update:
                    conn.execute(_update_run(tuple(sorted(update))), {"_run_id": run_id, **update})

        self._retry(_do)

    # -- reads ---------------------------------------------------------------------------
    def list_runs(
        self,
        limit: int | None = 50,
        offset: int = 0,
        *,
        name: str | None = None,
        name_like: str | None = None,
        status: str | None = None,
        ids: Iterable[str] | None = None,
        with_summary: bool = False,
    ) -> list[RunRecord]:
        """Runs, newest first.

        ``name`` is an exact name; ``name_like`` a case-insensitive substring, or a glob when
        it holds ``*`` or ``?`` (see :func:`name_pattern`).
        """
        cols = [c for c in schema.runs.c if with_summary or c.name != "summary"]
        q = _filtered(sa.select(*cols), name, name_like, status)
        q = q.order_by(schema.runs.c.started_at.desc(), schema.runs.c.id)
        if ids is not None:
            q = q.where(schema.runs.c.id.in_(list(ids)))
        if limit is not None and status not in ("interrupted", "running"):
            q = q.limit(limit).offset(offset)

        def _do() -> list[RunRecord]:
            with self.engine.connect() as conn:
                return [_record(row._mapping) for row in conn.execute(q)]

        records: list[RunRecord] = self._retry(_do)
        if status in ("interrupted", "running"):
            records = [r for r in records if r.status == status]
            records = records[offset : None if limit is None else offset + limit]
        return records

    def count_runs(
        self, *, name: str | None = None, name_like: str | None = None, status: str | None = None
    ) -> int:
        """How many runs match (all by default); filters as for :meth:`list_runs`."""
        if status in ("interrupted", "running"):  # the effective status needs each row
            return len(self.list_runs(limit=None, name=name, name_like=name_like, status=status))
        q = _filtered(sa.select(sa.func.count()).select_from(schema.runs), name, name_like, status)

        def _do() -> int:
            with self.engine.connect() as conn:
                return int(conn.execute(q).scalar_one())

        result: int = self._retry(_do)
        return result

    def get_run(self, run_id: str) -> RunRecord:
        """The run whose id is ``run_id`` or starts with it (unique prefix)."""
        q = (
            sa.select(schema.runs)
            .where(schema.runs.c.id.like(f"{_escape_like(run_id)}%", escape="\\"))
            .limit(3)
        )

        def _do() -> list[RunRecord]:
            with self.engine.connect() as conn:
                return [_record(row._mapping) for row in conn.execute(q)]

        found: list[RunRecord] = self._retry(_do)
        if not found:
            raise ConfigError(
                f"No run with id {run_id!r} in {self.url}. List runs with: frugal runs"
            )
        if len(found) > 1:
            raise ConfigError(
                f"Run id prefix {run_id!r} is ambiguous ({', '.join(r.id for r in found)}...). Give more characters."
            )
        return found[0]

    def samples(self, run_id: str) -> list[dict[str, Any]]:
        q = (
            sa.select(schema.samples)
            .where(schema.samples.c.run_id == run_id)
            .order_by(schema.samples.c.id)
        )
        return self._rows(q)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        q = (
            sa.select(schema.metrics)
            .where(schema.metrics.c.run_id == run_id)
            .order_by(schema.metrics.c.id)
        )
        return self._rows(q)

    def _rows(self, q: Any) -> list[dict[str, Any]]:
        def _do() -> list[dict[str, Any]]:
            with self.engine.connect() as conn:
                return [dict(row._mapping) for row in conn.execute(q)]

        result: list[dict[str, Any]] = self._retry(_do)
        return result

    def close(self) -> None:
        self.engine.dispose()


@functools.lru_cache(maxsize=32)
def _update_run(columns: tuple[str, ...]) -> sa.Update:
    """One UPDATE of ``runs`` per column set, built once: the sampler writes every second and
    building a statement costs more than executing it."""
    return (
        sa.update(schema.runs)
        .where(schema.runs.c.id == sa.bindparam("_run_id"))
        .values({c: sa.bindparam(c) for c in columns})
    )


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in ("methods", "summary"):
        if key in out and not isinstance(out[key], str | None):
            out[key] = json.dumps(out[key], default=str)
    return out


def name_pattern(pattern: str) -> str:
    r"""The SQL LIKE pattern (escape ``\``) for a name filter: a substring, or a glob with
    ``*`` (any text) and ``?`` (one character) that must match the whole name.

    Example:
        >>> print(name_pattern("bert"), name_pattern("train-*"), name_pattern("50%"))
        %bert% train-% %50\%%
    """
    if "*" not in pattern and "?" not in pattern:
        return f"%{_escape_like(pattern)}%"
    return _escape_like(pattern).replace("*", "%").replace("?", "_")


def _filtered(q: Any, name: str | None, name_like: str | None, status: str | None) -> Any:
    if name is not None:
        q = q.where(schema.runs.c.name == name)
    if name_like is not None:
        q = q.where(schema.runs.c.name.ilike(name_pattern(name_like), escape="\\"))
    if status == "interrupted":  # stored as such, or a "running" row whose writer died
        q = q.where(schema.runs.c.status.in_(["interrupted", "running"]))
    elif status is not None:
        q = q.where(schema.runs.c.status == status)
    return q


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _record(m: Any) -> RunRecord:
    data = dict(m)
    data["methods"] = json.loads(data.get("methods") or "{}")
    summary = data.pop("summary", None)
    data["summary"] = json.loads(summary) if summary else {}
    data["status"] = effective_status(data)
    return RunRecord(**data)


def effective_status(row: dict[str, Any], now: float | None = None) -> str:
    """``running`` rows whose writer is gone are ``interrupted``.

    On this host the writer's pid is checked (and its start time, against pid reuse);
    elsewhere a heartbeat older than five intervals (at least 60 s) means it died.
    """
    status = str(row["status"])
    if status != "running":
        return status
    now = time.time() if now is None else now
    if row.get("host") == HOST and row.get("pid"):
        import psutil

        try:
            proc = psutil.Process(int(row["pid"]))
            if (
                proc.create_time() <= float(row["started_at"]) + 1.0
                and proc.status() != psutil.STATUS_ZOMBIE
            ):
                return "running"
        except psutil.Error:
            pass
        return "interrupted"
    stale_after = max(60.0, 5 * float(row.get("interval_s") or 1.0))
    return "running" if now - float(row["heartbeat_at"]) < stale_after else "interrupted"
