"""Reports a researcher pastes into a paper or model card and a team lead reads at a glance.

``build_report`` gathers runs from the registry and/or a bench ``results.json`` into a
:class:`Report`; ``render_html`` (single offline file, inline SVG), ``render_markdown`` (PNG
plots beside it) and ``render_json`` lay it out; ``write_report`` does both and writes a file.

Example:
    >>> from frugalml.report import write_report
    >>> path = write_report("report.html", bench="bench-out/")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from frugalml._fs import write_text_atomic
from frugalml.errors import InputError
from frugalml.report.build import DEFAULT_LAST, TIMELINE_MAX_RUNS, build_report
from frugalml.report.html import render_html
from frugalml.report.jsonout import render_json
from frugalml.report.leaderboard import runs_leaderboard
from frugalml.report.markdown import render_markdown
from frugalml.report.model import Report

__all__ = [
    "DEFAULT_LAST",
    "FORMATS",
    "TIMELINE_MAX_RUNS",
    "Report",
    "build_report",
    "format_for",
    "render_html",
    "render_json",
    "render_markdown",
    "runs_leaderboard",
    "write_report",
]

FORMATS = ("html", "md", "json")
_SUFFIX = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".json": "json"}


def format_for(path: str | os.PathLike[str]) -> str:
    """The format a file name asks for (``.md`` -> ``md``, ``.json`` -> ``json``, else ``html``)."""
    return _SUFFIX.get(Path(path).suffix.lower(), "html")


def _assets_dir_for(path: Path) -> Path:
    """Where the Markdown report's plots go: ``report_files/`` beside ``report.md``."""
    return path.with_name(f"{path.stem}_files")


def write_report(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    report: Report | None = None,
    **build_args: Any,
) -> Path:
    """Build (unless ``report`` is given) and write a report; return its path.

    Args:
        path: output file. Markdown also writes its plots to ``<stem>_files/`` beside it.
        fmt: ``html``, ``md`` or ``json``; default from the file suffix (else ``html``).
        report: an already built report.
        **build_args: passed to :func:`build_report` (``runs``, ``bench``, ``store``, ``last``...).

    Raises:
        InputError: unknown format, or the file cannot be written.

    Example:
        >>> write_report("bench.html", bench="out/", store=False)  # doctest: +SKIP
        PosixPath('bench.html')
    """
    out = Path(path)
    fmt = fmt or format_for(out)
    if fmt not in FORMATS:
        raise InputError(f"Unknown report format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if report is None:
        report = build_report(**build_args)
    try:
        if fmt == "md":
            assets = _assets_dir_for(out)
            text = render_markdown(report, assets, assets.name)
        else:
            text = render_html(report) if fmt == "html" else render_json(report)
        write_text_atomic(out, text)
    except OSError as e:
        raise InputError(
            f"Cannot write the report to {out}: {e.strerror or e}. Choose another --out."
        ) from e
    return out
