"""The run registry: every run, its samples and metrics (SQLite by default, any SQLAlchemy URL).

Importing this package imports SQLAlchemy (~0.2 s); the tracker opens the store from its
background thread so that starting a run stays fast.
"""

from frugalml.store.registry import RunRecord, Store
from frugalml.store.url import default_db_url, resolve_db_url

__all__ = ["RunRecord", "Store", "default_db_url", "resolve_db_url"]
