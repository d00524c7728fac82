"""SQLAlchemy engines for the registry, one kind per use.

- Network databases (PostgreSQL): a connect timeout and a statement timeout on every
  connection, and read-only sessions for readers.
- SQLite writers: WAL with ``synchronous=NORMAL`` (a commit survives the process being killed),
  a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions (marked with the execution
  option ``frugal_write``) so that two writers never deadlock upgrading a read lock.
- SQLite readers: the file opened ``mode=ro`` with ``query_only``; they never take the write
  lock, so they work on a read-only file and while a writer holds the lock.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

__all__ = ["network_engine", "sqlite_reader_engine", "sqlite_writer_engine"]

log = logging.getLogger(__name__)


def network_engine(
    url: str, *, readonly: bool, connect_timeout_s: float, statement_timeout_s: float
) -> Engine:
    """An engine whose connections give up connecting after ``connect_timeout_s`` (PostgreSQL
    counts whole seconds, at least 2) and cancel statements running over
    ``statement_timeout_s``; read-only sessions when ``readonly``."""
    options = f"-c statement_timeout={round(statement_timeout_s * 1000)}"
    if readonly:
        options += " -c default_transaction_read_only=on"
    args: dict[str, Any] = {"options": options}
    if make_url(url).get_backend_name() == "postgresql":
        args["connect_timeout"] = max(2, math.ceil(connect_timeout_s))
    return sa.create_engine(url, pool_pre_ping=True, connect_args=args)


def sqlite_writer_engine(url: str, *, busy_timeout_s: float) -> Engine:
    """An SQLite engine for writing (WAL, busy timeout, ``BEGIN IMMEDIATE`` writes)."""
    engine = sa.create_engine(
        url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False}
    )
    busy_ms = round(busy_timeout_s * 1000)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        except Exception:  # e.g. a read-only file: WAL needs a writable folder
            log.debug("could not switch %s to WAL", url, exc_info=True)
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("frugal_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def sqlite_reader_engine(url: str, path: str | None, *, busy_timeout_s: float) -> Engine:
    """An SQLite engine that reads ``path`` without ever writing or locking it for writing."""
    import sqlite3

    if path is None:  # an in-memory database: nothing to protect
        return sa.create_engine(url)
    state = {"immutable": False}

    def connect() -> sqlite3.Connection:
        base = f"file:{quote(os.path.abspath(path))}?mode=ro"
        for immutable in (state["immutable"], True):
            uri = base + ("&immutable=1" if immutable else "")
            conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, check_same_thread=False)
            try:
                conn.execute("PRAGMA query_only=1")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                state["immutable"] = immutable
                return conn
            except sqlite3.OperationalError as e:
                conn.close()
                # A WAL file in a folder we may not write (no -shm to create): read the
                # file as it is, which is safe because no one can write it there either.
                if immutable or not any(k in str(e) for k in ("unable to open", "readonly")):
                    raise
        raise AssertionError("unreachable")

    return sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.QueuePool)
