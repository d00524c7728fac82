"""Writing runs into a registry: the interface the tracker's writer thread uses, and its
SQLite implementation on the standard library's ``sqlite3``.

:class:`RunWriter` is what a registry backend offers a writer: create a run, append its
samples and metrics while updating its row, replace a whole run (importing a spooled run,
re-creating one in a registry file that was replaced), and close. :func:`open_writer` picks the
backend: a plain SQLite file gets :class:`SqliteWriter` (``sqlite3`` imports in milliseconds
and a commit costs a fraction of SQLAlchemy's, which is what keeps a tracked run cheap); any
other URL gets :class:`frugalml.store.Store` (SQLAlchemy: PostgreSQL, other SQLite URLs).
Both create and migrate the schema through the same code (``frugalml.store.migrations``).
"""

from __future__ import annotations

import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frugalml.errors import RegistryCorruptError, StoreError
from frugalml.store.columns import (
    FORECAST_COLUMNS,
    METRIC_COLUMNS,
    SAMPLE_COLUMNS,
    SCHEMA_VERSION,
    encode_run,
)
from frugalml.store.url import sqlite_path

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "HOST",
    "RunWriter",
    "SqliteWriter",
    "describe_db_error",
    "effective_status",
    "new_run_row",
    "newer_schema_error",
    "open_writer",
    "safe_url",
]

HOST = os.uname().nodename  # socket.gethostname(), without importing socket

_CORRUPT = ("file is not a database", "malformed", "file is encrypted", "not a database")


class RunWriter(ABC):
    """What a registry offers the tracker's writer. Every method raises
    :class:`~frugalml.errors.StoreError` on failure, with a one-line message."""

    url: str

    @abstractmethod
    def create_run(self, row: dict[str, Any]) -> None:
        """Insert a new run (columns of ``runs``; status ``running`` unless given)."""

    @abstractmethod
    def ensure_runs(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert each row whose ``id`` is not there yet, in one transaction, leaving existing
        ones untouched: the job and host rows that every rank of a distributed job creates,
        whoever comes first."""

    @abstractmethod
    def write(
        self,
        run_id: str,
        *,
        samples: Sequence[dict[str, Any]] = (),
        metrics: Sequence[dict[str, Any]] = (),
        forecasts: Sequence[dict[str, Any]] = (),
        update: dict[str, Any] | None = None,
    ) -> None:
        """Append samples, metrics and forecasts and update the run's row, in one
        transaction."""

    @abstractmethod
    def replace_run(
        self,
        row: dict[str, Any],
        samples: Sequence[dict[str, Any]],
        metrics: Sequence[dict[str, Any]],
        forecasts: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Replace the run ``row["id"]`` (row, samples, metrics, forecasts) in one
        transaction: importing it twice leaves one copy."""

    def file_changed(self) -> str | None:
        """Why the registry file is no longer the one opened (``deleted``/``replaced``), or None."""
        return None

    def reopen(self) -> None:  # noqa: B027 - only file-backed registries can be replaced
        """Open the registry again (after :meth:`file_changed` said it changed)."""

    def maintain(self) -> None:  # noqa: B027 - most registries need no upkeep
        """Upkeep after writes, off the critical path (the tracker calls it after a commit,
        never while someone waits for that commit)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


def open_writer(
    url: str, *, connect_timeout_s: float = 5.0, statement_timeout_s: float = 30.0
) -> RunWriter:
    """The fastest writer for ``url``: :class:`SqliteWriter` for a plain SQLite file, else a
    :class:`~frugalml.store.Store` (SQLAlchemy) in write mode."""
    path = sqlite_path(url)
    if path is not None:
        return SqliteWriter(url, path)
    from frugalml.store.registry import Store

    return Store(url, connect_timeout_s=connect_timeout_s, statement_timeout_s=statement_timeout_s)


class SqliteWriter(RunWriter):
    """Writes runs into an SQLite file with ``sqlite3``: WAL, ``synchronous=NORMAL`` (a commit
    survives the process being killed; only a power cut can lose the last ones), ``BEGIN
    IMMEDIATE`` transactions. Its connection pins the file it opened, so a file deleted or
    moved away and another put at its path are told apart (``file_changed``) even when the
    new file would have reused the inode number. Creates the file and its folder when missing; creates or migrates
    the schema through SQLAlchemy only when the file is new or older (once per file).

    Args:
        url: the registry URL (for messages and the spool).
        path: the SQLite file.
        busy_timeout_s: how long a write waits for another writer's lock. The tracker's writer
            runs in a background thread, so waiting never reaches the user's code.
    """

    def __init__(self, url: str, path: str, *, busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._ident: tuple[int, int] | None = None
        self._conn: sqlite3.Connection | None = None
        self._open()

    # -- connection ------------------------------------------------------------------------
    def _connect(self, *, create: bool) -> sqlite3.Connection:
        import sqlite3
        from urllib.parse import quote

        if create:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"Cannot create the registry folder for {self.path}: {e.strerror}. "
                    "Set FRUGAL_DB or --db to a writable location."
                ) from e
        uri = f"file:{quote(os.path.abspath(self.path))}?mode={'rwc' if create else 'rw'}"
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=self.busy_timeout_s,
                isolation_level=None,  # we issue BEGIN IMMEDIATE ourselves
                check_same_thread=False,
            )
        except sqlite3.Error as e:
            raise describe_db_error(self.url, e) from e
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as e:
            conn.close()
            raise describe_db_error(self.url, e) from e
        return conn

    def _open(self) -> None:
        import sqlite3

        conn = self._connect(create=True)
        try:
            version = _sqlite_version(conn)
        except sqlite3.Error as e:
            conn.close()
            raise describe_db_error(self.url, e) from e
        if version is None or version < SCHEMA_VERSION:
            conn.close()
            from frugalml.store.registry import Store  # create / migrate: once per file

            Store(self.url, import_spool=False).close()
            conn = self._connect(create=False)
        elif version > SCHEMA_VERSION:
            conn.close()
            raise newer_schema_error(self.url, version)
        self._conn = conn
        st = os.stat(self.path)
        self._ident = (st.st_dev, st.st_ino)

    def file_changed(self) -> str | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return None
        return None if (st.st_dev, st.st_ino) == self._ident else "replaced"

    def reopen(self) -> None:
        self.close()
        self._open()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._ident = None

    def _tx(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        import sqlite3

        if self._conn is None:
            self._open()
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise describe_db_error(self.url, e) from e

    def maintain(self) -> None:
        """Move the WAL into the file and truncate it, when that needs no waiting. Between
        commits (every few seconds) the file is then whole on its own: copied or moved, it
        carries everything, and no stale WAL is left beside a file put at its path."""
        import sqlite3

        conn = self._conn
        if conn is None:
            return
        try:
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # busy: other connections; the next commit tries again
        finally:
            conn.execute(f"PRAGMA busy_timeout={round(self.busy_timeout_s * 1000)}")

    # -- writes --------------------------------------------------------------------------
    def create_run(self, row: dict[str, Any]) -> None:
        values = new_run_row(row)
        self._tx(lambda conn: _insert(conn, "runs", values))

    def ensure_runs(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        values = [new_run_row(r) for r in rows]

        def _do(conn: sqlite3.Connection) -> None:
            for v in values:
                _insert(conn, "runs", v, verb="INSERT OR IGNORE")

        self._tx(_do)

    def write(
        self,
        run_id: str,
        *,
        samples: Sequence[dict[str, Any]] = (),
        metrics: Sequence[dict[str, Any]] = (),
        forecasts: Sequence[dict[str, Any]] = (),
        update: dict[str, Any] | None = None,
    ) -> None:
        values = encode_run(update or {})

        def _do(conn: sqlite3.Connection) -> None:
            _insert_rows(conn, "samples", SAMPLE_COLUMNS, run_id, samples)
            _insert_rows(conn, "metrics", METRIC_COLUMNS, run_id, metrics)
            _insert_rows(conn, "forecasts", FORECAST_COLUMNS, run_id, forecasts)
            if values:
                cols = sorted(values)
                conn.execute(
                    f"UPDATE runs SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                    [values[c] for c in cols] + [run_id],
                )

        self._tx(_do)

    def replace_run(
        self,
        row: dict[str, Any],
        samples: Sequence[dict[str, Any]],
        metrics: Sequence[dict[str, Any]],
        forecasts: Sequence[dict[str, Any]] = (),
    ) -> None:
        values = new_run_row(row)
        run_id = values["id"]

        def _do(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM forecasts WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM samples WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            _insert(conn, "runs", values)
            _insert_rows(conn, "samples", SAMPLE_COLUMNS, run_id, samples)
            _insert_rows(conn, "metrics", METRIC_COLUMNS, run_id, metrics)
            _insert_rows(conn, "forecasts", FORECAST_COLUMNS, run_id, forecasts)

        self._tx(_do)


def new_run_row(row: dict[str, Any]) -> dict[str, Any]:
    """A new run's ``runs`` values: defaults for what ``row`` leaves out, JSON encoded."""
    return encode_run(
        {
            "status": "running",
            "heartbeat_at": row["started_at"],
            "host": HOST,
            "duration_s": 0.0,
            "energy_j": 0.0,
            "co2e_g": 0.0,
            "methods": "{}",
            **row,
        }
    )


def _insert(
    conn: sqlite3.Connection, table: str, values: dict[str, Any], verb: str = "INSERT"
) -> None:
    cols = list(values)  # checked against RUN_COLUMNS by encode_run
    conn.execute(
        f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [values[c] for c in cols],
    )


def _insert_rows(
    conn: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    run_id: str,
    rows: Sequence[dict[str, Any]],
) -> None:
    if rows:
        conn.executemany(
            f"INSERT INTO {table} (run_id, {', '.join(columns)}) "
            f"VALUES (?, {', '.join('?' for _ in columns)})",
            [(run_id, *(r.get(c) for c in columns)) for r in rows],
        )


def _sqlite_version(conn: sqlite3.Connection) -> int | None:
    """The schema version recorded in the file, or None when it has no frugalml tables yet."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'frugal_meta'"
    ).fetchone()
    if not has_meta:
        return None
    row = conn.execute("SELECT value FROM frugal_meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else int(row[0])


def newer_schema_error(url: str, version: int) -> StoreError:
    return StoreError(
        f"The registry {safe_url(url)} has schema version {version}, newer than this frugalml "
        f"understands ({SCHEMA_VERSION}). Upgrade frugalml: pip install -U frugalml."
    )


def safe_url(url: str) -> str:
    """``url`` without its password, for messages.

    Example:
        >>> safe_url("postgresql+psycopg://me:secret@db/frugal")
        'postgresql+psycopg://me:***@db/frugal'
    """
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def describe_db_error(url: str, error: BaseException, *, busy_s: float | None = None) -> StoreError:
    """One line saying what went wrong with the registry and what to do (never the SQL)."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    low = text.lower()
    where = safe_url(url)
    path = sqlite_path(url)
    if path is not None:
        where = path
    if any(k in low for k in _CORRUPT):
        return RegistryCorruptError(
            f"The registry {where} is corrupt or not a frugalml database ({text}). Point --db or "
            "FRUGAL_DB at the right file, or move this one away to start a new registry."
        )
    if "locked" in low or "busy" in low:
        waited = f" for more than {busy_s:g} s" if busy_s else ""
        return StoreError(
            f"The registry {where} is locked by another process{waited} ({text}). Try again when "
            "that process has finished writing."
        )
    if "readonly" in low or "read-only" in low:
        return StoreError(
            f"The registry {where} is read-only ({text}). Make it writable or choose another "
            "with --db or FRUGAL_DB."
        )
    if "unable to open" in low:
        return StoreError(
            f"Cannot open the registry {where} ({text}). Check that its folder exists and is "
            "readable (writable to record runs)."
        )
    if "timeout" in low or "timed out" in low:
        return StoreError(
            f"The registry {where} did not answer in time ({text}). Check the server and the "
            "network, or raise db_connect_timeout_s / db_statement_timeout_s in the config file."
        )
    return StoreError(
        f"Registry {where} failed: {text}. Check the file or server and its permissions."
    )


def effective_status(row: dict[str, Any], now: float | None = None) -> str:
    """``running`` rows whose writer is gone are ``interrupted``.

    On this host the writer's pid is checked (and its start time, against pid reuse);
    elsewhere a heartbeat older than five intervals (at least 120 s: four times the period at
    which the tracker commits, see ``frugalml.measure.writer.COMMIT_EVERY_S``) means it died.
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
    stale_after = max(120.0, 5 * float(row.get("interval_s") or 1.0))
    return "running" if now - float(row["heartbeat_at"]) < stale_after else "interrupted"
