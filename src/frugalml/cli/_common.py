"""Options and helpers shared by several commands."""

from __future__ import annotations

import math
from typing import Any

import click

__all__ = ["console", "db_option", "fmt_co2e", "fmt_duration", "fmt_energy"]


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


def fmt_energy(j: float) -> str:
    """Human energy: J below 1 kJ, else Wh / kWh."""
    if not math.isfinite(j):
        return "-"
    if j < 1000:
        return f"{j:.3g} J"
    wh = j / 3600
    return f"{wh:.3g} Wh" if wh < 1000 else f"{wh / 1000:.3g} kWh"


def fmt_co2e(g: float) -> str:
    if not math.isfinite(g):
        return "-"
    return f"{g:.3g} g" if g < 1000 else f"{g / 1000:.3g} kg"


def fmt_duration(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{int(m)} min {int(s)} s"
    h, m = divmod(m, 60)
    return f"{int(h)} h {int(m)} min"
