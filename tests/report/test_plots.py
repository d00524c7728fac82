from __future__ import annotations

import pytest

from frugalml.report.plots import Figure, Series, axis_range, log_ticks, nice_ticks
from frugalml.report.svg import render_svg, tick_label


def test_nice_ticks_are_round_and_inside():
    assert nice_ticks(0, 1) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ticks = nice_ticks(3.7, 97.2)
    assert ticks == [20, 40, 60, 80]
    assert all(3.7 <= t <= 97.2 for t in ticks)


def test_log_ticks_powers_of_ten():
    assert log_ticks(0.5, 2000) == [1, 10, 100, 1000]
    assert log_ticks(3, 60) == [5, 10, 20, 50]


def test_axis_range_never_empty():
    assert axis_range([5.0, 5.0]) == (4.5, 5.5)
    assert axis_range([]) == (0.0, 1.0)
    assert axis_range([1.0], given=(0.0, 2.0)) == (0.0, 2.0)


def test_series_segments_break_at_none():
    s = Series("x", [(0, 1), (1, 2), None, (5, 1), None, None, (7, 0)])
    assert s.segments() == [[(0, 1), (1, 2)], [(5, 1)], [(7, 0)]]


def test_log_x_only_when_positive_and_wide():
    wide = Figure("f", "t", series=[Series("s", [(1, 0), (1000, 1)])], x_log=True)
    narrow = Figure("f", "t", series=[Series("s", [(1, 0), (2, 1)])], x_log=True)
    zero = Figure("f", "t", series=[Series("s", [(0, 0), (1000, 1)])], x_log=True)
    assert wide.use_log_x() and not narrow.use_log_x() and not zero.use_log_x()


def test_tick_label_compact():
    assert [tick_label(t) for t in (0.25, 1200.0, 1e5, 0.0)] == ["0.25", "1200", "1e5", "0"]


def test_svg_escapes_text_and_counts_marks():
    fig = Figure(
        "f1",
        "<b>t</b>",
        x_label="x&y",
        y_label="y",
        series=[
            Series("<script>s</script>", [(0, 1), (1, 2)], mode="both", labels=["<i>a</i>", "b"])
        ],
    )
    svg = render_svg(fig)
    assert "<script>" not in svg and "<b>" not in svg and "<i>" not in svg
    assert "&lt;script&gt;s&lt;/script&gt;" in svg and "x&amp;y" in svg
    assert 'data-marks="2"' in svg and svg.count("<circle") >= 2
    assert 'viewBox="0 0 640' in svg
