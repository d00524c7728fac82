"""Numbers for humans: the one place that converts units for display (J -> Wh/kWh, g -> kg,
s -> min), used by the CLI and the reports.

Every function returns plain text; renderers escape it like any other string. :func:`safe`
makes user and data text harmless to a terminal or a reader (control sequences and bidi
overrides shown as escapes).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

__all__ = [
    "co2e",
    "duration",
    "energy",
    "g",
    "kwh",
    "num",
    "pct",
    "ratio",
    "safe",
    "size",
    "when",
]

J_PER_KWH = 3.6e6
DASH = "—"

# C0 and C1 controls (ESC starts terminal sequences: colours, OSC title sets, clear-screen),
# DEL, and the Unicode bidi controls that reorder what a reader sees (U+202E and friends).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_INLINE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _visible(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def safe(text: object, *, multiline: bool = False) -> str:
    r"""``text`` with control characters and bidi overrides shown as escapes (``\x1b``).

    Run names, metric names and error messages come from users and their programs: printed
    raw, an ESC sequence could retitle or clear the reader's terminal and U+202E could
    reverse what they read. The stored value is never changed, only what is shown.

    Args:
        text: anything; ``str(text)`` is shown.
        multiline: keep newlines and tabs (for blocks of text); by default they are escaped
            too, so one value stays on one line.

    Example:
        >>> print(safe("run\x1b]0;pwned\x07 \u202egnp.exe"))
        run\x1b]0;pwned\x07 \u202egnp.exe
    """
    return (_UNSAFE_INLINE if multiline else _UNSAFE).sub(_visible, str(text))


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
    for unit, div in (
        ("PiB", 2**50),
        ("TiB", 2**40),
        ("GiB", 2**30),
        ("MiB", 2**20),
        ("KiB", 2**10),
    ):
        if abs(n) >= div:
            return f"{num(n / div)} {unit}"
    return f"{int(n)} B"


def g(x: float | None) -> str:
    """Up to 4 significant digits without trailing zeros (``3``, ``10.5``, ``0.0312``)."""
    return DASH if not _finite(x) else f"{x:.4g}"
