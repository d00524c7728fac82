"""Where a study lives: Optuna storages chosen by URL, opened with a bounded connect time.

- nothing given: a journal file ``<out_dir>/search.journal`` (Optuna's ``JournalFileBackend``:
  appends under a file lock, safe for several local processes; SQLite is not, under a
  concurrent search);
- a path without a scheme: a journal file there;
- ``postgresql://...``, ``mysql://...``, ``sqlite:///...``: Optuna's ``RDBStorage``. A bare
  ``postgresql://`` uses psycopg 3 when it is installed, else psycopg2. Connecting gives up
  after :data:`CONNECT_TIMEOUT_S` seconds;
- ``redis://...``: Optuna's ``JournalRedisBackend`` (needs the ``redis`` package).

Passwords never leave this module: :func:`redact` is what outputs show.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frugalml._lazy import require
from frugalml.errors import InputError

__all__ = ["CONNECT_TIMEOUT_S", "StorageSpec", "open_storage", "redact", "resolve_storage"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
JOURNAL_NAME = "search.journal"
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.I)
_RDB = ("postgresql", "postgres", "mysql", "sqlite", "mariadb", "oracle", "mssql")


@dataclass(frozen=True)
class StorageSpec:
    """A resolved storage: ``kind`` is ``journal``, ``rdb`` or ``redis``; ``target`` the path
    or URL to open; ``shown`` the same with any password replaced by ``***``."""

    kind: str
    target: str
    shown: str

    @property
    def exists(self) -> bool:
        """False only for a journal file not created yet (nothing to load from it)."""
        return self.kind != "journal" or Path(self.target).is_file()


def redact(url: str) -> str:
    """``url`` with the password replaced by ``***``.

    Example:
        >>> redact("postgresql://ann:s3cret@db.lan/optuna")
        'postgresql://ann:***@db.lan/optuna'
    """
    return re.sub(r"^([a-z][a-z0-9+.-]*://[^:/@]*):[^@]*@", r"\1:***@", url, flags=re.I)


def _pg_driver(url: str) -> str:
    """A bare ``postgresql://`` with the installed driver: psycopg 3 first, else psycopg2."""
    head, sep, rest = url.partition("://")
    if head.lower() not in ("postgresql", "postgres"):
        return url
    for module, dialect in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"{dialect}{sep}{rest}"
    raise InputError(
        "A postgresql:// storage needs a PostgreSQL driver: pip install 'frugalml[postgres]'."
    )


def resolve_storage(storage: str | None, out_dir: str | None) -> StorageSpec:
    """Decide what ``storage`` means without opening anything.

    Example:
        >>> resolve_storage(None, "out").target
        'out/search.journal'
    """
    if storage is None or storage == "":
        if out_dir is None:
            raise InputError("No storage and no output folder: pass --storage URL or --out DIR.")
        path = str(Path(out_dir) / JOURNAL_NAME)
        return StorageSpec("journal", path, f"journal:{path}")
    m = _SCHEME.match(storage)
    if m is None:
        if storage.strip() != storage or (storage.startswith("journal:") and not storage[8:]):
            raise InputError(f"Malformed storage {storage!r}: give a journal file path or a URL.")
        path = storage[8:] if storage.startswith("journal:") else storage
        return StorageSpec("journal", path, f"journal:{path}")
    scheme = m.group(1).lower()
    if scheme.startswith("redis"):
        return StorageSpec("redis", storage, redact(storage))
    if scheme.split("+")[0] in _RDB:
        return StorageSpec("rdb", _pg_driver(storage), redact(storage))
    raise InputError(
        f"Unknown storage kind {scheme!r} in {redact(storage)!r}. Use postgresql://user:pass@host/db, "
        "sqlite:///path.db, redis://host or a journal file path."
    )


def _connect_args(url: str) -> dict[str, Any]:
    scheme = url.split("://", 1)[0].lower()
    if scheme.startswith(("postgresql", "postgres", "mysql", "mariadb")):
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    if scheme.startswith("sqlite"):
        return {"timeout": 30}
    return {}


def open_storage(spec: StorageSpec) -> Any:
    """Open the Optuna storage of ``spec``.

    Raises:
        InputError: the storage cannot be reached or opened (message names it, redacted).
    """
    optuna = require("optuna", "frugal search")
    if spec.kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        try:
            return optuna.storages.JournalStorage(JournalFileBackend(spec.target))
        except OSError as e:
            raise InputError(
                f"Cannot open the journal storage {spec.target}: {e.strerror or e}. Choose "
                "another --out or --storage."
            ) from e
    if spec.kind == "redis":
        require("redis", "a redis:// storage")
        from optuna.storages.journal import JournalRedisBackend

        try:
            return optuna.storages.JournalStorage(JournalRedisBackend(spec.target))
        except Exception as e:
            raise InputError(_unreachable(spec, e)) from e
    import sqlalchemy.exc

    try:
        return optuna.storages.RDBStorage(
            spec.target, engine_kwargs={"connect_args": _connect_args(spec.target)}
        )
    except sqlalchemy.exc.ArgumentError as e:
        raise InputError(f"Malformed storage URL {spec.shown!r}: {_first_line(e)}.") from e
    except (ImportError, sqlalchemy.exc.NoSuchModuleError) as e:
        raise InputError(
            f"The storage {spec.shown!r} needs a database driver that is not installed "
            f"({_first_line(e)}). For PostgreSQL: pip install 'frugalml[postgres]'."
        ) from e
    except Exception as e:  # OperationalError and friends: unreachable, refused, no such db
        raise InputError(_unreachable(spec, e)) from e


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return (text.splitlines() or [type(e).__name__])[0].rstrip(".")


def _unreachable(spec: StorageSpec, e: BaseException) -> str:
    return (
        f"Cannot reach the storage {spec.shown} (gave up after at most {CONNECT_TIMEOUT_S} s): "
        f"{redact(_first_line(e))}. Check that the server runs and the URL is right."
    )
