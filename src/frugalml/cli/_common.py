"""Options and helpers shared by several commands: the registry option, output formats
(table, TSV, JSON), consoles that never cut a value, and folder checks that create nothing."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from frugalml import _fmt as fmt

__all__ = [
    "OUTPUT_FORMATS",
    "PAGE",
    "cell",
    "console",
    "db_option",
    "format_options",
    "output_format",
    "print_tsv",
    "writable_folder",
]

OUTPUT_FORMATS = ("table", "tsv", "json")
# Pages and counts large enough for any registry, small enough that an SQL OFFSET/LIMIT
# computed from them stays a 64-bit integer.
PAGE = click.IntRange(min=1, max=10**9)
# Width of a console that is not a terminal (a pipe, a log file): tables take their natural
# width instead of being cut to 80 columns.
UNBOUNDED_WIDTH = 100_000


def db_option(f: Any) -> Any:
    return click.option(
        "--db",
        metavar="URL",
        default=None,
        help="Registry: a path or SQLAlchemy URL (default FRUGAL_DB or ~/.frugal/frugal.db).",
    )(f)


def format_options(f: Any) -> Any:
    """``--format table|tsv|json`` and its alias ``--json``."""
    f = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(f)
    return click.option(
        "--format",
        "out_format",
        type=click.Choice(OUTPUT_FORMATS),
        default=None,
        help="table (default; full width when piped), tsv (tab-separated, one header line) "
        "or json.",
    )(f)


def output_format(out_format: str | None, as_json: bool) -> str:
    """The format asked for by ``--format`` / ``--json`` (a usage error if they disagree)."""
    if as_json and out_format not in (None, "json"):
        raise click.UsageError(
            f"--json means --format json; drop one of --json, --format {out_format}."
        )
    return "json" if as_json else out_format or "table"


def console(stderr: bool = False) -> Any:
    """A Rich console; when it is not a terminal, wide enough that nothing is cut or wrapped."""
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        out = Console(stderr=stderr, highlight=False, width=UNBOUNDED_WIDTH)
    return out


def cell(value: object, style: str = "") -> Any:
    """A table cell that Rich shows literally: no markup, controls made visible."""
    from rich.text import Text

    return Text(fmt.safe(value), style=style)


def print_tsv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Tab-separated values with one header line; tabs, newlines and other controls inside a
    value are shown as escapes (``\\x09``), so every row is one line of as many fields."""
    click.echo("\t".join(headers))
    for row in rows:
        click.echo("\t".join("" if v is None else fmt.safe(v) for v in row))


def print_json_lines(rows: Iterable[dict[str, Any]]) -> None:
    for row in rows:
        click.echo(json.dumps(row, default=str))


def writable_folder(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: check that the folder exists and is writable, or could be created.

    Nothing is created here (the command creates the folder when it writes its first file),
    so a command that stops on other bad input leaves nothing behind.
    """
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise click.BadParameter(f"{value!r} is a file, not a folder. Choose a folder.")
    nearest = path
    while not nearest.exists() and nearest.parent != nearest:
        nearest = nearest.parent
    try:
        if not nearest.is_dir():
            raise NotADirectoryError(20, "a file is in the way", str(nearest))
        fd, probe = tempfile.mkstemp(prefix=".frugal-write-test-", dir=nearest)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise click.BadParameter(
            f"{value!r} is not a writable folder ({e.strerror or e}: {nearest}). "
            "Choose another folder."
        ) from None
    return value
