"""Render a :class:`~frugalml.report.plots.Figure` as a self-contained inline SVG string.

No fonts, scripts or external references: generic ``sans-serif`` text, a ``viewBox`` so the
plot scales with the page, and every piece of text escaped. Data marks live in
``<g class="data">``; the root carries ``data-marks`` (how many points or bars were drawn).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

from frugalml._fmt import safe as fmt_safe
from frugalml.report.plots import (
    GREY,
    PALETTE,
    Figure,
    Series,
    axis_range,
    log_ticks,
    nice_ticks,
    place_labels,
    short_label,
    text_width,
)

__all__ = ["render_svg", "tick_label"]

W = 640
XY_H = 300
L, R, B = 64, 18, 46
BAR_STEP, BAR_THICK = 22, 14
MAX_MARKERS = 150  # above this many points a line is drawn without point markers
MAX_STEP_MARKERS = 40
LABEL_PX = 10


def _e(s: object) -> str:
    return escape(fmt_safe(s, multiline=True), quote=True)


def tick_label(t: float) -> str:
    """Compact tick text: ``0.25``, ``1200``, ``1e5``."""
    s = f"{t:.4g}"
    if "e" in s:
        mantissa, exp = s.split("e")
        s = f"{mantissa}e{int(exp)}"
    return s


def _legend(fig: Figure, width: int) -> tuple[list[str], int]:
    """Legend items laid out left to right, wrapping; returns the SVG parts and its height."""
    parts, x, y = [], float(L), 14.0
    for s in fig.series:
        w = 26 + 6.4 * len(s.name)
        if x + w > width - R and x > L:
            x, y = float(L), y + 16
        color = PALETTE[s.color % len(PALETTE)]
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        if s.mode == "points":
            parts.append(f'<circle cx="{x + 7:.1f}" cy="{y - 4:.1f}" r="3.5" fill="{color}"/>')
        else:
            parts.append(
                f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 16:.1f}" y2="{y - 4:.1f}" '
                f'stroke="{color}" stroke-width="2.5"{dash}/>'
            )
        parts.append(f'<text x="{x + 20:.1f}" y="{y:.1f}">{_e(s.name)}</text>')
        x += w + 8
    return parts, int(y + 10)


def _axis(lo: float, hi: float, log: bool) -> tuple[float, float, list[float]]:
    if log:
        a, b = math.log10(lo), math.log10(hi)
        pad = (b - a) * 0.05 or 0.5
        lo, hi = 10 ** (a - pad), 10 ** (b + pad)
        return lo, hi, log_ticks(lo, hi)
    return lo, hi, nice_ticks(lo, hi)


def _xy(fig: Figure) -> str:
    legend, top = _legend(fig, W)
    top = max(top, 24)
    pw, ph = W - L - R, XY_H - top - B
    xs = [x for s in fig.series for x, _ in s.xy()]
    ys = [y for s in fig.series for _, y in s.xy()]
    log = fig.use_log_x()
    if log:
        x0, x1 = (min(xs), max(xs)) if fig.x_range is None else fig.x_range
    else:
        x0, x1 = axis_range(xs, fig.x_range)
    x0, x1, xt = _axis(x0, x1, log)
    y0, y1 = axis_range(ys, fig.y_range, pad=0.08)
    yt = nice_ticks(y0, y1)

    def sx(x: float) -> float:
        if log:
            return L + (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) * pw
        return L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = ['<g class="axes" stroke="#d8d8d8" fill="#333">']
    for t in yt:
        out.append(f'<line x1="{L}" y1="{sy(t):.1f}" x2="{L + pw}" y2="{sy(t):.1f}"/>')
        out.append(
            f'<text x="{L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" '
            f'stroke="none">{_e(tick_label(t))}</text>'
        )
    for t in xt:
        out.append(f'<line x1="{sx(t):.1f}" y1="{top}" x2="{sx(t):.1f}" y2="{top + ph}"/>')
        out.append(
            f'<text x="{sx(t):.1f}" y="{top + ph + 16}" text-anchor="middle" stroke="none">'
            f"{_e(tick_label(t))}</text>"
        )
    out.append(f'<rect x="{L}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    out.append(
        f'<text x="{L + pw / 2:.1f}" y="{XY_H - 8}" text-anchor="middle" stroke="none" '
        'font-size="12">'
        f"{_e(fig.x_label)}{' (log scale)' if log else ''}</text>"
    )
    out.append(
        f'<text transform="translate(14 {top + ph / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'stroke="none" font-size="12">{_e(fig.y_label)}</text></g>'
    )
    out.append('<g class="bands">')
    for band in fig.bands:
        a, b = max(sx(band.x0), L), min(sx(band.x1), L + pw)
        out.append(
            f'<rect x="{a:.1f}" y="{top}" width="{max(b - a, 2):.1f}" height="{ph}" fill="{GREY}" '
            f'fill-opacity="0.18"/><text x="{(a + b) / 2:.1f}" y="{top + 12}" text-anchor="middle" '
            f'font-size="10" fill="#555">{_e(band.label)}</text>'
        )
    out.append("</g>")
    out.append('<g class="data">')
    for s in fig.series:
        out += _series(s, sx, sy)
    out.append("</g>")
    out += _labels(fig, sx, sy, (L, top, L + pw, top + ph))
    return "".join(legend) + "".join(out)


def _labels(
    fig: Figure,
    sx: Callable[[float], float],
    sy: Callable[[float], float],
    area: tuple[float, float, float, float],
) -> list[str]:
    """Point labels where none overlaps another (see :func:`place_labels`), each joined to
    its point by a thin line when it had to move away from it."""
    items = [(sx(x), sy(y), lab) for s in fig.series for x, y, lab in s.labelled()]
    if not items:
        return []
    texts = [fmt_safe(short_label(lab)) for _, _, lab in items]
    sizes = [(text_width(t, LABEL_PX), LABEL_PX * 1.25) for t in texts]
    boxes = place_labels([(x, y) for x, y, _ in items], sizes, area)
    out = ['<g class="labels" font-size="10" fill="#222">']
    for (px, py, lab), text, box in zip(items, texts, boxes):
        if box is None:
            continue
        if box.leader:
            lx, ly = min(max(px, box.x0), box.x1), min(max(py, box.y0), box.y1)
            out.append(
                f'<line x1="{px:.1f}" y1="{py:.1f}" x2="{lx:.1f}" y2="{ly:.1f}" stroke="#888" '
                'stroke-width="0.8"/>'
            )
        out.append(
            f'<text class="label" x="{box.x0 + 1:.1f}" y="{box.y0 + LABEL_PX * 0.95:.1f}" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">{_e(text)}'
            f"<title>{_e(lab)}</title></text>"
        )
    missing = [lab for (_, _, lab), box in zip(items, boxes) if box is None]
    if missing:
        out.append(f"<desc>Not labelled (no room): {_e(', '.join(missing))}</desc>")
    out.append("</g>")
    return out


def _series(s: Series, sx: Callable[[float], float], sy: Callable[[float], float]) -> list[str]:
    color = PALETTE[s.color % len(PALETTE)]
    dash = ' stroke-dasharray="5 3"' if s.dashed else ""
    out = []
    if s.mode in ("line", "both"):
        for seg in s.segments():
            pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in seg)
            if len(seg) == 1:
                out.append(
                    f'<circle cx="{sx(seg[0][0]):.1f}" cy="{sy(seg[0][1]):.1f}" r="2.5" '
                    f'fill="{color}"/>'
                )
            else:
                out.append(
                    f'<polyline points="{pts}" fill="none" stroke="{color}" '
                    f'stroke-width="2"{dash}/>'
                )
    if s.mode == "step":
        seg = sorted(s.xy())
        if seg:
            d = [f"M{sx(seg[0][0]):.1f},{sy(seg[0][1]):.1f}"]
            for x, y in seg[1:]:
                d.append(f"H{sx(x):.1f}V{sy(y):.1f}")
            out.append(
                f'<path d="{"".join(d)}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
            )
            if len(seg) <= MAX_STEP_MARKERS:
                out += [
                    f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="none" stroke="{color}" '
                    'stroke-width="1.5"/>'
                    for x, y in seg
                ]
    xy = s.xy()
    if s.mode == "points" or (s.mode == "both" and len(xy) <= MAX_MARKERS):
        for x, y in xy:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}"/>')
    return out


def _bars(fig: Figure) -> tuple[str, int]:
    n = len(fig.bars)
    top = 12
    height = top + n * BAR_STEP + 34
    longest = max((len(b.label) for b in fig.bars), default=4)
    label_w = min(int(W * 0.42), 12 + int(6.2 * longest))
    text_w = 12 + int(6.2 * max((len(b.text) for b in fig.bars), default=4))
    pw = max(80, W - label_w - R - text_w)
    vmax = max((b.value for b in fig.bars), default=0.0) or 1.0
    out = ['<g class="axes" fill="#333">']
    out.append(
        f'<line x1="{label_w}" y1="{top - 4}" x2="{label_w}" y2="{top + n * BAR_STEP}" '
        'stroke="#999"/>'
    )
    out.append(
        f'<text x="{label_w + pw / 2:.1f}" y="{height - 8}" text-anchor="middle" font-size="12">'
        f'{_e(fig.x_label)}</text></g><g class="data">'
    )
    max_chars = max(4, int((label_w - 12) / 6.2))
    for i, b in enumerate(fig.bars):
        y = top + i * BAR_STEP
        w = max(1.5, b.value / vmax * pw) if b.value > 0 else 1.5
        label = b.label if len(b.label) <= max_chars else b.label[: max_chars - 1] + "…"
        color = PALETTE[b.color % len(PALETTE)]
        out.append(
            f'<text x="{label_w - 6}" y="{y + BAR_THICK - 3}" text-anchor="end" '
            f'fill="#222">{_e(label)}'
            f"<title>{_e(b.label)}</title></text>"
        )
        out.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{BAR_THICK}" fill="{color}"/>'
        )
        out.append(
            f'<text x="{label_w + w + 5:.1f}" y="{y + BAR_THICK - 3}" '
            f'fill="#222">{_e(b.text)}</text>'
        )
    out.append("</g>")
    return "".join(out), height


def render_svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element (no XML declaration: it is inlined in HTML)."""
    if fig.kind == "bars":
        body, height = _bars(fig)
    elif fig.n_marks == 0:
        body, height = f'<text x="{W / 2}" y="60" text-anchor="middle">no data</text>', 100
    else:
        body, height = _xy(fig), XY_H
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" id="fig-{_e(fig.id)}" '
        f'viewBox="0 0 {W} {height}" role="img" aria-label="{_e(fig.title)}" '
        f'data-marks="{fig.n_marks}" '
        f'font-family="sans-serif" font-size="11"><title>{_e(fig.title)}</title>{body}</svg>'
    )
