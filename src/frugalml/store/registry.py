"""The run registry on SQLAlchemy Core: SQLite by default (WAL), PostgreSQL by URL.

Two modes. A *writer* (``Store(url)``) creates the database when missing, creates or migrates
the schema (safely when several processes do it at once) and imports runs waiting in the spool;
SQLite writes use ``BEGIN IMMEDIATE`` transactions (no lock-upgrade deadlocks) and retry on
"database is locked". A *reader* (``Store(url, readonly=True)``, what ``frugal runs/show/report``
use) never creates anything and never takes a write lock: SQLite is opened ``mode=ro`` with
``query_only`` (it works on a read-only file and while a writer holds the lock), PostgreSQL
sessions are read-only. Network databases get a connect timeout and a statement timeout.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from frugalml.config import load_config, spool_dir
from frugalml.errors import (
    ConfigError,
    MissingDependencyError,
    RegistryNotFoundError,
    StoreError,
)
from frugalml.store import schema
from frugalml.store.backend import (
    RunWriter,
    describe_db_error,
    effective_status,
    new_run_row,
    safe_url,
)
from frugalml.store.columns import encode_run
from frugalml.store.engine import network_engine, sqlite_reader_engine, sqlite_writer_engine
from frugalml.store.migrations import read_version, upgrade
from frugalml.store.queries import escape_like, filtered, insert_rows, update_run
from frugalml.store.url import default_db_url, resolve_db_url, sqlite_path

__all__ = ["OldSchemaError", "RunRecord", "Store", "effective_status"]

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_STATEMENT_TIMEOUT_S = 30.0
# pg_advisory_xact_lock key serialising schema creation/migration ("frugalml" in ASCII).
_SCHEMA_LOCK = 0x66727567616C6D6C


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
    parent_id: str | None = None
    kind: str | None = None  # job / host / rank (v3); None for a lone run
    #: a job's host rows, a host's rank rows (folded, see frugalml.store.tree)
    children: list[RunRecord] = field(default_factory=list, repr=False)

    @property
    def kwh(self) -> float:
        return self.energy_j / 3.6e6


class OldSchemaError(StoreError):
    """A reader found a registry of an older schema version (a writer can upgrade it)."""


class Store(RunWriter):
    """Open the registry at ``url`` to write (creating or upgrading it) or to read.

    Args:
        url: a path or SQLAlchemy URL; ``None`` uses the one resolver (``FRUGAL_DB``, the
            config file's ``db``, ``~/.frugal/frugal.db``).
        readonly: read without ever writing or creating (see :func:`open_registry`).
        connect_timeout_s: network databases: give up connecting after this (default: the
            config file's ``db_connect_timeout_s``, else 5 s; PostgreSQL counts whole seconds,
            at least 2).
        statement_timeout_s: network databases: cancel a statement running longer (default:
            ``db_statement_timeout_s``, else 30 s).
        busy_timeout_s: SQLite: how long to wait for another writer's lock (default 30 s for
            writers, 5 s for readers, which a writer blocks only outside WAL mode).
        import_spool: writers import the runs waiting in the spool for this registry.

    Example:
        >>> store = Store("sqlite://")  # in-memory
        >>> store.list_runs()
        []
    """

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        readonly: bool = False,
        connect_timeout_s: float | None = None,
        statement_timeout_s: float | None = None,
        busy_timeout_s: float | None = None,
        import_spool: bool = True,
    ) -> None:
        config = load_config()
        self.url = resolve_db_url(url, config=config)
        self.readonly = readonly
        self.connect_timeout_s = float(
            connect_timeout_s or config.get("db_connect_timeout_s", DEFAULT_CONNECT_TIMEOUT_S)
        )
        self.statement_timeout_s = float(
            statement_timeout_s or config.get("db_statement_timeout_s", DEFAULT_STATEMENT_TIMEOUT_S)
        )
        self.busy_timeout_s = float(busy_timeout_s or (5.0 if readonly else 30.0))
        try:
            parsed = make_url(self.url)
        except ArgumentError as e:
            raise ConfigError(
                f"Malformed registry URL {safe_url(self.url)!r}: {e}. Use sqlite:////abs/path.db or "
                "postgresql://user:pass@host/dbname."
            ) from e
        self._sqlite = parsed.get_backend_name() == "sqlite"
        self._path = sqlite_path(self.url)
        if self._sqlite and parsed.database not in (None, "", ":memory:") and self._path is None:
            self._path = str(Path(str(parsed.database)).expanduser())
        if readonly and self._path is not None:
            try:
                os.stat(self._path)
            except FileNotFoundError:
                raise _not_found(self.url, self._path) from None
            except OSError as e:
                raise StoreError(
                    f"Cannot reach the registry {self._path}: {e.strerror}. Check the "
                    "permissions of the file and its folders."
                ) from None
        if not readonly and self._path is not None:
            try:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"Cannot create the registry folder for {self._path}: {e.strerror}. "
                    "Set FRUGAL_DB or --db to a writable location."
                ) from e
        try:
            self.engine = self._make_engine()
        except NoSuchModuleError as e:
            raise ConfigError(
                f"Unknown database kind in registry URL {safe_url(self.url)!r}. "
                "Use sqlite:/// or postgresql://."
            ) from e
        except ImportError as e:
            raise MissingDependencyError(
                f"The registry URL {safe_url(self.url)!r} needs a database driver that is not "
                f"installed ({e}). For PostgreSQL: pip install 'frugalml[postgres]'."
            ) from e
        # Writes go through this view of the engine: its transactions take the write lock first.
        self._writes = self.engine.execution_options(frugal_write=True)
        if readonly:
            self._check_readable()
        else:
            self._retry(self._ensure_schema)
            if import_spool:
                from frugalml.store.spool import import_spooled

                import_spooled(self, spool_dir(config=config))

    # -- setup ---------------------------------------------------------------------------
    def _make_engine(self) -> Engine:
        if not self._sqlite:
            return network_engine(
                self.url,
                readonly=self.readonly,
                connect_timeout_s=self.connect_timeout_s,
                statement_timeout_s=self.statement_timeout_s,
            )
        if self.readonly:
            return sqlite_reader_engine(self.url, self._path, busy_timeout_s=self.busy_timeout_s)
        return sqlite_writer_engine(self.url, busy_timeout_s=self.busy_timeout_s)

    def _check_readable(self) -> None:
        try:
            with self.engine.connect() as conn:
                version = read_version(conn)
        except SQLAlchemyError as e:
            raise describe_db_error(self.url, e, busy_s=self.busy_timeout_s) from e
        if version is None:
            raise RegistryNotFoundError(
                f"{safe_url(self.url)} holds no frugalml registry (no frugalml tables). Check "
                "--db / FRUGAL_DB, or record a run there first: frugal run --db URL -- CMD."
            )
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"The registry {safe_url(self.url)} has schema version {version}, newer than this "
                f"frugalml understands ({schema.SCHEMA_VERSION}). Upgrade frugalml: pip install -U frugalml."
            )
        if version < schema.SCHEMA_VERSION:
            raise OldSchemaError(
                f"The registry {safe_url(self.url)} has schema version {version}; this frugalml "
                f"reads version {schema.SCHEMA_VERSION}. Open it once with write access to "
                "upgrade it (any `frugal run --db ...` does)."
            )

    def _ensure_schema(self) -> None:
        try:  # the usual case, without a write lock: already at this version
            with self.engine.connect() as conn:
                if read_version(conn) == schema.SCHEMA_VERSION:
                    return
        except SQLAlchemyError:
            pass  # no tables yet, or a real problem that the locked attempt reports
        with self._writes.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            before, after = upgrade(conn, self.url)
        if before is not None and before != after:
            log.warning(
                "frugalml upgraded the registry %s from schema version %d to %d",
                safe_url(self.url),
                before,
                after,
            )

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            version = read_version(conn)
        assert version is not None
        return version

    def _retry(self, fn: Any, *args: Any, attempts: int | None = None) -> Any:
        """Run ``fn``; writers retry when SQLite reports a lock; failures become one-line
        :class:`StoreError`."""
        attempts = attempts or (1 if self.readonly else 8)
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
                raise describe_db_error(self.url, e, busy_s=self.busy_timeout_s) from e
            except SQLAlchemyError as e:
                raise describe_db_error(self.url, e) from e
        raise AssertionError("unreachable")

    # -- writes --------------------------------------------------------------------------
    def _check_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{safe_url(self.url)} was opened read-only; open a writer to write.")

    def create_run(self, row: dict[str, Any]) -> None:
        """Insert a new run (``id``, ``name``, ``started_at`` ... as in ``schema.runs``)."""
        self._check_writable()
        values = new_run_row(row)

        def _do() -> None:
            with self._writes.begin() as conn:
                conn.execute(sa.insert(schema.runs).values(**values))

        self._retry(_do)

    def ensure_runs(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert each row whose ``id`` is not there yet, leave the others (see
        :meth:`RunWriter.ensure_runs`)."""
        self._check_writable()
        if not rows:
            return
        values = [new_run_row(r) for r in rows]

        def _do() -> None:
            with self._writes.begin() as conn:
                for v in values:
                    if conn.dialect.name == "postgresql":
                        from sqlalchemy.dialects.postgresql import insert as pg_insert

                        stmt: Any = pg_insert(schema.runs).values(**v).on_conflict_do_nothing()
                    else:
                        stmt = sa.insert(schema.runs).values(**v).prefix_with("OR IGNORE")
                    conn.execute(stmt)

        self._retry(_do)

    def write(
        self,
        run_id: str,
        *,
        samples: Sequence[dict[str, Any]] = (),
        metrics: Sequence[dict[str, Any]] = (),
        forecasts: Sequence[dict[str, Any]] = (),
        update: dict[str, Any] | None = None,
    ) -> None:
        """Append samples, metrics and forecasts and update the run row, in one transaction."""
        self._check_writable()
        update = encode_run(update or {})

        def _do() -> None:
            with self._writes.begin() as conn:
                insert_rows(conn, run_id, samples, metrics, forecasts)
                if update:
                    conn.execute(update_run(tuple(sorted(update))), {"_run_id": run_id, **update})

        self._retry(_do)

    def replace_run(
        self,
        row: dict[str, Any],
        samples: Sequence[dict[str, Any]],
        metrics: Sequence[dict[str, Any]],
        forecasts: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Replace a whole run (row, samples, metrics, forecasts) in one transaction (spool
        import)."""
        self._check_writable()
        values = new_run_row(row)
        run_id = values["id"]

        def _do() -> None:
            with self._writes.begin() as conn:
                conn.execute(sa.delete(schema.forecasts).where(schema.forecasts.c.run_id == run_id))
                conn.execute(sa.delete(schema.metrics).where(schema.metrics.c.run_id == run_id))
                conn.execute(sa.delete(schema.samples).where(schema.samples.c.run_id == run_id))
                conn.execute(sa.delete(schema.runs).where(schema.runs.c.id == run_id))
                conn.execute(sa.insert(schema.runs).values(**values))
                insert_rows(conn, run_id, samples, metrics, forecasts)

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
        it holds ``*`` or ``?`` (see :func:`frugalml.store.queries.name_pattern`).
        """
        from frugalml.store.tree import fold_records

        cols = [c for c in schema.runs.c if with_summary or c.name != "summary"]
        q = filtered(sa.select(*cols), name, name_like, status)
        q = q.order_by(schema.runs.c.started_at.desc(), schema.runs.c.id)
        if ids is not None:
            q = q.where(schema.runs.c.id.in_(list(ids)))
        else:  # a distributed job is listed once, as its job row
            q = q.where(schema.runs.c.parent_id.is_(None))
        if limit is not None and status is None:
            q = q.limit(limit).offset(offset)

        def _do() -> list[RunRecord]:
            with self.engine.connect() as conn:
                return [_record(row._mapping) for row in conn.execute(q)]

        records: list[RunRecord] = fold_records(self, self._retry(_do))
        if status is not None:  # the effective or folded status needs each row
            records = [r for r in records if r.status == status]
            records = records[offset : None if limit is None else offset + limit]
        return records

    def count_runs(
        self, *, name: str | None = None, name_like: str | None = None, status: str | None = None
    ) -> int:
        """How many runs match (all by default); filters as for :meth:`list_runs`."""
        if status is not None:  # the effective or folded status needs each row
            return len(self.list_runs(limit=None, name=name, name_like=name_like, status=status))
        q = filtered(sa.select(sa.func.count()).select_from(schema.runs), name, name_like, None)
        q = q.where(schema.runs.c.parent_id.is_(None))

        def _do() -> int:
            with self.engine.connect() as conn:
                return int(conn.execute(q).scalar_one())

        result: int = self._retry(_do)
        return result

    def get_run(self, run_id: str) -> RunRecord:
        """The run whose id is ``run_id`` or starts with it (unique prefix)."""
        q = (
            sa.select(schema.runs)
            .where(schema.runs.c.id.like(f"{escape_like(run_id)}%", escape="\\"))
            .limit(3)
        )

        def _do() -> list[RunRecord]:
            with self.engine.connect() as conn:
                return [_record(row._mapping) for row in conn.execute(q)]

        found: list[RunRecord] = self._retry(_do)
        if not found:
            raise ConfigError(
                f"No run with id {run_id!r} in {safe_url(self.url)}. List runs with: frugal runs"
            )
        if len(found) > 1:
            raise ConfigError(
                f"Run id prefix {run_id!r} is ambiguous ({', '.join(r.id for r in found)}...). Give more characters."
            )
        from frugalml.store.tree import fold_records

        return fold_records(self, found[:1])[0]

    def samples(self, run_id: str) -> list[dict[str, Any]]:
        """A run's samples, oldest first; a distributed job's are every rank's."""
        job = self._aggregate(run_id)
        if job is not None:
            from frugalml.store.tree import leaf_rows

            return leaf_rows(self, job, "samples")
        q = (
            sa.select(schema.samples)
            .where(schema.samples.c.run_id == run_id)
            .order_by(schema.samples.c.id)
        )
        return self._rows(q)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        """A run's metrics, in the order logged; a distributed job's are its first rank's."""
        job = self._aggregate(run_id)
        if job is not None:
            from frugalml.store.tree import leaf_rows

            return leaf_rows(self, job, "metrics")
        q = (
            sa.select(schema.metrics)
            .where(schema.metrics.c.run_id == run_id)
            .order_by(schema.metrics.c.id)
        )
        return self._rows(q)

    def forecasts(self, run_id: str) -> list[dict[str, Any]]:
        """The forecasts made at the run's epoch ends, in order (``frugalml.epoch_end``)."""
        q = (
            sa.select(schema.forecasts)
            .where(schema.forecasts.c.run_id == run_id)
            .order_by(schema.forecasts.c.id)
        )
        return self._rows(q)

    def _aggregate(self, run_id: str) -> RunRecord | None:
        """The job or host row ``run_id`` (its figures come from the rows under it), else None."""
        q = sa.select(schema.runs).where(
            schema.runs.c.id == run_id, schema.runs.c.kind.in_(["job", "host"])
        )

        def _do() -> RunRecord | None:
            with self.engine.connect() as conn:
                row = conn.execute(q).first()
            return None if row is None else _record(row._mapping)

        found: RunRecord | None = self._retry(_do)
        return found

    def _rows(self, q: Any) -> list[dict[str, Any]]:
        def _do() -> list[dict[str, Any]]:
            with self.engine.connect() as conn:
                return [dict(row._mapping) for row in conn.execute(q)]

        result: list[dict[str, Any]] = self._retry(_do)
        return result

    def close(self) -> None:
        self.engine.dispose()


def _not_found(url: str, path: str) -> RegistryNotFoundError:
    if url == default_db_url():
        return RegistryNotFoundError(
            f"No registry yet at {path}: nothing has been measured with this account. "
            "Measure a run first: frugal run -- python train.py"
        )
    return RegistryNotFoundError(
        f"The registry {path} does not exist. Check --db, FRUGAL_DB or the config file's db, "
        "or record a run there first: frugal run --db PATH -- CMD."
    )


def _record(m: Any) -> RunRecord:
    data = dict(m)
    data["methods"] = json.loads(data.get("methods") or "{}")
    summary = data.pop("summary", None)
    data["summary"] = json.loads(summary) if summary else {}
    data["status"] = effective_status(data)
    return RunRecord(**data)
