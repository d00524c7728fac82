"""The run registry: every run, its samples and metrics (SQLite by default, any SQLAlchemy URL).

Importing this package is cheap: :class:`Store` (which imports SQLAlchemy, ~0.15 s) loads on
first use. The tracker writes from a background thread, through the standard library's sqlite3
for SQLite files, so that starting and stopping a run never waits for SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from frugalml._lazy import lazy_exports
from frugalml.store.url import default_db_url, resolve_db_url

if TYPE_CHECKING:
    from frugalml.store.access import open_registry
    from frugalml.store.registry import RunRecord, Store

__all__ = ["RunRecord", "Store", "default_db_url", "open_registry", "resolve_db_url"]

_LAZY = {
    "RunRecord": "frugalml.store.registry",
    "Store": "frugalml.store.registry",
    "open_registry": "frugalml.store.access",
}

__getattr__, __dir__ = lazy_exports("frugalml.store", _LAZY, globals(), __all__)
