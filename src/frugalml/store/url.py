"""Where the registry lives: ``--db``/``db=`` > ``FRUGAL_DB`` > config file > ~/.frugal/frugal.db.

Kept free of SQLAlchemy so the CLI and tracker can resolve (and validate) it cheaply.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from frugalml.errors import ConfigError

__all__ = ["default_db_url", "resolve_db_url"]

_URL = re.compile(r"^[a-z][a-z0-9+]*://", re.I)
_SCHEME_LIKE = re.compile(r"^[a-z][a-z0-9+.-]+:", re.I)  # "sqlite:x.db": a URL gone wrong
_EXAMPLES = "Use a path, sqlite:////abs/path/frugal.db or postgresql://user:pass@host/dbname."


def default_db_url() -> str:
    """``sqlite:///~/.frugal/frugal.db`` expanded."""
    return f"sqlite:///{Path.home() / '.frugal' / 'frugal.db'}"


def resolve_db_url(
    db: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config: Mapping[str, object] | None = None,
) -> str:
    """Turn the user's registry setting into an SQLAlchemy URL, validating its shape.

    Example:
        >>> resolve_db_url("/tmp/x.db")
        'sqlite:////tmp/x.db'
    """
    env = os.environ if env is None else env
    value: object = db
    if value is None:
        value = env.get("FRUGAL_DB") or (config or {}).get("db")
    if value is None or value == "":
        return default_db_url()
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if _URL.match(text):
        if text.lower().startswith("sqlite") and not text.lower().startswith("sqlite://"):
            raise ConfigError(f"Malformed registry URL {text!r}. {_EXAMPLES}")
        return text
    if "://" in text or _SCHEME_LIKE.match(text) or text.strip() != text or not text:
        raise ConfigError(f"Malformed registry URL {text!r}. {_EXAMPLES}")
    return f"sqlite:///{Path(text).expanduser().resolve()}"
