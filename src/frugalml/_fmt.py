"""Numbers for humans: the one place that converts units for display (J -> Wh/kWh, g -> kg,
s -> min), used by the CLI and the reports.

Every function returns plain text; renderers escape it like any other string.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = ["co2e", "duration", "energy", "g", "kwh", "num", "pct", "ratio", "size", "when"]

J_PER_KWH = 3.6e6
DASH = "—"


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def num(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, thousands separated; ``—`` when unknown."""
    if not _finite(x):
        return DASH
    assert x is not None
    if x == 0:
        return "0"
    if 1e-6 <= abs(x) < 1e6:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
        return f"{x:,.{decimals}f}"
    return f"{x:.{digits - 1}e}"


def energy(j: float | None) -> str:
    """Joules below 1 kJ, else Wh below 1 kWh, else kWh."""
    if not _finite(j):
        return DASH
    assert j is not None
    if abs(j) < 1000:
        return f"{num(j)} J"
    wh = j / 3600
    return f"{num(wh)} Wh" if abs(wh) < 1000 else f"{num(wh / 1000)} kWh"


def kwh(j: float | None) -> str:
    """Always in kWh (the unit papers and model cards use)."""
    return DASH if not _finite(j) else f"{num(j / J_PER_KWH)} kWh"  # type: ignore[operator]


def co2e(g: float | None) -> str:
    if not _finite(g):
        return DASH
    assert g is not None
    return f"{num(g)} g" if abs(g) < 1000 else f"{num(g / 1000)} kg"


def duration(s: float | None) -> str:
    if not _finite(s):
        return DASH
    assert s is not None
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(s, 60)
    if m < 60:
        return f"{int(m)} min {int(sec)} s"
    h, m = divmod(m, 60)
    return f"{int(h)} h {int(m)} min"


def pct(rel: float | None) -> str:
    """A relative uncertainty as ``±12 %``; ``n/a`` when unknown."""
    return "n/a" if not _finite(rel) else f"±{rel * 100:.0f} %"  # type: ignore[operator]


def ratio(x: float | None) -> str:
    """A technique / baseline ratio as ``0.42×``."""
    return DASH if not _finite(x) else f"{num(x, 2)}×"


def when(ts: float | None) -> str:
    """Unix seconds as ``2025-01-31 14:02 UTC``."""
    if not _finite(ts):
        return DASH
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")  # type: ignore[arg-type]


def size(n: float | None) -> str:
    """Bytes as B / KiB / MiB / GiB."""
    if not _finite(n):
        return DASH
    assert n is not None
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= div:
            return f"{num(n / div)} {unit}"
    return f"{int(n)} B"


def g(x: float | None) -> str:
    """Up to 4 significant digits without trailing zeros (``3``, ``10.5``, ``0.0312``)."""
    return DASH if not _finite(x) else f"{x:.4g}"
