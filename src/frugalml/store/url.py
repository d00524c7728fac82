"""Where the registry lives: ``--db``/``db=`` > ``FRUGAL_DB`` > config file > ~/.frugal/frugal.db.

One resolver for every command and the API (writers and readers alike). Kept free of
SQLAlchemy so the CLI and the tracker can resolve (and validate) the URL cheaply.

A bare ``postgresql://`` (or ``postgres://``) URL is mapped to the psycopg 3 driver that the
``postgres`` extra installs, whatever SQLAlchemy's own default for the bare name is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from frugalml.errors import ConfigError

__all__ = ["default_db_url", "resolve_db_url", "sqlite_path"]

_URL = re.compile(r"^[a-z][a-z0-9+]*://", re.I)
_SCHEME_LIKE = re.compile(r"^[a-z][a-z0-9+.-]+:", re.I)  # "sqlite:x.db": a URL gone wrong
_EXAMPLES = "Use a path, sqlite:////abs/path/frugal.db or postgresql://user:pass@host/dbname."
_POSTGRES_BARE = re.compile(r"^postgres(?:ql)?://", re.I)


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

    Args:
        db: the flag or argument (a path or URL); ``None`` falls back to ``FRUGAL_DB``, then
            the config file's ``db`` (read here when ``config`` is not given), then the default.
        env: environment to read (default ``os.environ``).
        config: the config file's settings, if the caller has them already.

    Example:
        >>> resolve_db_url("/tmp/x.db")
        'sqlite:////tmp/x.db'
        >>> resolve_db_url("postgresql://me@db.example/frugal")
        'postgresql+psycopg://me@db.example/frugal'
    """
    env = os.environ if env is None else env
    value: object = db
    if value is None:
        value = env.get("FRUGAL_DB")
    if value is None or value == "":
        if config is None:
            from frugalml.config import load_config

            config = load_config(env)
        value = config.get("db")
    if value is None or value == "":
        return default_db_url()
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if _URL.match(text):
        if text.lower().startswith("sqlite") and not text.lower().startswith("sqlite://"):
            raise ConfigError(f"Malformed registry URL {text!r}. {_EXAMPLES}")
        if _POSTGRES_BARE.match(text):
            return "postgresql+psycopg://" + text.split("://", 1)[1]
        return text
    if "://" in text or _SCHEME_LIKE.match(text) or text.strip() != text or not text:
        raise ConfigError(f"Malformed registry URL {text!r}. {_EXAMPLES}")
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def sqlite_path(url: str) -> str | None:
    """The file of a plain ``sqlite:///path`` URL, or None (in-memory, URI options, another
    database, another SQLite driver).

    Example:
        >>> sqlite_path("sqlite:////tmp/r.db"), sqlite_path("sqlite://"), sqlite_path("postgresql://h/d")
        ('/tmp/r.db', None, None)
    """
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    from urllib.parse import unquote

    path = unquote(url[len("sqlite:///") :])
    if path in ("", ":memory:"):
        return None
    return str(Path(path).expanduser())
