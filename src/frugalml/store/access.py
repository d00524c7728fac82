"""How every command and the API reach the registry: :func:`open_registry`.

One resolver gives the URL (flag, ``FRUGAL_DB``, the config file's ``db``, the default). A
reader (``frugal runs``, ``show``, ``report``, ``advise``) creates nothing and never waits for a
writer's lock; before reading, it imports the runs waiting in the spool for that registry, and
upgrades a registry of an older schema, when either can be done without waiting.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from frugalml.config import load_config, spool_dir
from frugalml.errors import StoreError
from frugalml.store.backend import safe_url
from frugalml.store.registry import OldSchemaError, Store
from frugalml.store.url import resolve_db_url, sqlite_path

__all__ = ["open_registry"]

log = logging.getLogger(__name__)


def open_registry(db: str | os.PathLike[str] | None = None, *, write: bool = False) -> Store:
    """The registry a command works on, from the one resolver (flag, ``FRUGAL_DB``, config
    file, default).

    Read mode (``runs``, ``show``, ``report``) creates nothing: a registry that does not exist
    is an error naming it. Before reading, runs waiting in the spool for this registry are
    imported if that can be done without waiting for a lock, and a registry of an older schema
    is upgraded the same way; otherwise the reader works on what is there.

    Example:
        >>> open_registry("/nonexistent/frugal.db")
        Traceback (most recent call last):
        ...
        frugalml.errors.RegistryNotFoundError: The registry /nonexistent/frugal.db does not exist. ...
    """
    config = load_config()
    url = resolve_db_url(db, config=config)
    if write:
        return Store(url)
    path = sqlite_path(url)
    if path is None or os.path.exists(path):
        _import_nowait(url, config)
    try:
        return Store(url, readonly=True)
    except OldSchemaError as old:
        try:
            Store(url, busy_timeout_s=0.5, import_spool=False).close()
        except StoreError as e:
            raise StoreError(f"{old} Upgrading it failed: {e}") from e
        return Store(url, readonly=True)


def _import_nowait(url: str, config: dict[str, Any]) -> None:
    from frugalml.store.spool import import_spooled, pending_journals

    spool = spool_dir(config=config)
    if not pending_journals(url, spool):
        return
    try:
        writer = Store(url, busy_timeout_s=0.2, import_spool=False)
    except StoreError as e:
        log.warning("frugalml: spooled runs wait for %s (%s)", safe_url(url), e)
        return
    try:
        import_spooled(writer, spool)
    finally:
        writer.close()
