"""Options and helpers shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["console", "db_option", "writable_folder"]


def db_option(f: Any) -> Any:
    return click.option(
        "--db",
        metavar="URL",
        default=None,
        help="Registry: a path or SQLAlchemy URL (default FRUGAL_DB or ~/.frugal/frugal.db).",
    )(f)


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def writable_folder(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: create the folder and check it can be written, else a usage error."""
    if value is None:
        return None
    try:
        Path(value).mkdir(parents=True, exist_ok=True)
        probe = Path(value) / ".frugal-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise click.BadParameter(
            f"{value!r} is not a writable folder ({e.strerror}). Choose another folder."
        ) from None
    return value
