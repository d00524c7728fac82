"""Render a :class:`~frugalml.report.plots.Figure` to a PNG file with matplotlib (Markdown reports).

Same data and marks as the SVG renderer. matplotlib is optional (the ``bench`` extra) and
imported here only; figures are built on ``matplotlib.figure.Figure`` directly, so no pyplot
global state and no GUI backend are involved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from frugalml._fmt import safe
from frugalml._lazy import require
from frugalml.report.plots import GREY, PALETTE, Figure, place_labels, short_label, text_width

__all__ = ["render_png"]

DPI = 110
LABEL_PT = 7


def _t(s: str) -> str:
    """matplotlib parses ``$...$`` as mathtext; user text must stay literal (and controls
    visible)."""
    return safe(s, multiline=True).replace("$", r"\$")


def render_png(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` as PNG and return the path.

    Raises:
        MissingDependencyError: matplotlib is not installed (``pip install 'frugalml[bench]'``).
    """
    require("matplotlib", "PNG plots of the Markdown report")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    n_bars = len(fig.bars)
    height = 3.2 if fig.kind != "bars" else 0.9 + 0.28 * max(n_bars, 1)
    mfig = MplFigure(figsize=(7.0, height), dpi=dpi)
    FigureCanvasAgg(mfig)
    ax = mfig.add_subplot(1, 1, 1)
    if fig.kind == "bars":
        labels = [_t(b.label) for b in fig.bars]
        ax.barh(
            range(n_bars),
            [b.value for b in fig.bars],
            color=[PALETTE[b.color % len(PALETTE)] for b in fig.bars],
        )
        ax.set_yticks(range(n_bars), labels, fontsize=8)
        ax.invert_yaxis()
        vmax = max((b.value for b in fig.bars), default=0.0) or 1.0
        for i, b in enumerate(fig.bars):
            ax.text(max(b.value, 0) + vmax * 0.01, i, _t(b.text), va="center", fontsize=8)
        ax.set_xlim(0, vmax * 1.45)
        ax.set_xlabel(_t(fig.x_label))
    else:
        _xy(ax, fig)
    ax.set_title(_t(fig.title), fontsize=10, loc="left")
    mfig.tight_layout()
    if fig.kind != "bars":
        _labels(ax, fig, dpi)
    out = Path(path)
    mfig.savefig(out, format="png")
    return out


def _xy(ax: Any, fig: Figure) -> None:
    for band in fig.bands:
        ax.axvspan(band.x0, band.x1, color=GREY, alpha=0.18, lw=0)
        ax.annotate(
            _t(band.label),
            xy=((band.x0 + band.x1) / 2, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="bottom",
            fontsize=7,
            color="#555",
        )
    for s in fig.series:
        color = PALETTE[s.color % len(PALETTE)]
        style = "--" if s.dashed else "-"
        first = True
        if s.mode in ("line", "both"):
            for seg in s.segments():
                ax.plot(
                    [x for x, _ in seg],
                    [y for _, y in seg],
                    style,
                    color=color,
                    lw=1.6,
                    label=_t(s.name) if first else None,
                    marker="o" if s.mode == "both" and len(seg) <= 150 else None,
                    ms=3,
                )
                first = False
        elif s.mode == "step":
            xy = sorted(s.xy())
            ax.plot(
                [x for x, _ in xy],
                [y for _, y in xy],
                style,
                drawstyle="steps-post",
                color=color,
                lw=1.6,
                label=_t(s.name),
                marker="o" if len(xy) <= 40 else None,
                mfc="none",
            )
        elif s.mode == "points":
            xy = s.xy()
            ax.scatter(
                [x for x, _ in xy],
                [y for _, y in xy],
                color=color,
                s=18,
                label=_t(s.name),
                zorder=3,
            )
    if fig.use_log_x():
        ax.set_xscale("log")
    if fig.x_range is not None:
        ax.set_xlim(*fig.x_range)
    if fig.y_range is not None:
        ax.set_ylim(*fig.y_range)
    ax.set_xlabel(_t(fig.x_label), fontsize=9)
    ax.set_ylabel(_t(fig.y_label), fontsize=9)
    ax.grid(True, color="#e0e0e0", lw=0.6)
    if fig.series:
        ax.legend(fontsize=7, loc="best")


def _labels(ax: Any, fig: Figure, dpi: int) -> None:
    """Point labels placed in display pixels (after the layout is final) so that none
    overlaps another; a label moved away from its point gets a thin leader line."""
    items = [(x, y, lab) for s in fig.series for x, y, lab in s.labelled()]
    if not items:
        return
    height = ax.figure.bbox.height
    to_px = ax.transData.transform
    pts = [tuple(to_px((x, y))) for x, y, _ in items]
    down = [(px, height - py) for px, py in pts]  # place_labels works with y growing downwards
    font_px = LABEL_PT * dpi / 72
    texts = [safe(short_label(lab)) for _, _, lab in items]
    sizes = [(text_width(t, font_px), font_px * 1.3) for t in texts]
    bb = ax.bbox
    area = (bb.x0, height - bb.y1, bb.x1, height - bb.y0)
    to_data = ax.transData.inverted().transform
    for (px, py), text, box in zip(down, texts, place_labels(down, sizes, area)):
        if box is None:
            continue
        anchor = to_data((box.x0 + 1, height - box.y1))
        ax.annotate(
            text.replace("$", r"\$"),
            xy=to_data((px, height - py)),
            xytext=anchor,
            ha="left",
            va="bottom",
            fontsize=LABEL_PT,
            arrowprops={"arrowstyle": "-", "color": "#888", "lw": 0.6} if box.leader else None,
        )
