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


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_place_labels_never_overlap_even_when_points_coincide():
    from frugalml.report.plots import place_labels

    points = [(300.0, 150.0)] * 12 + [(302.0, 151.0), (60.0, 40.0), (620.0, 280.0)]
    sizes = [(70.0 + 5 * i, 12.5) for i in range(len(points))]
    area = (50.0, 30.0, 630.0, 290.0)
    boxes = place_labels(points, sizes, area)
    assert all(b is not None for b in boxes)
    placed = [b.box for b in boxes if b is not None]
    for i, a in enumerate(placed):
        assert area[0] <= a[0] and a[2] <= area[2] and area[1] <= a[1] and a[3] <= area[3]
        assert not any(_overlap(a, b) for b in placed[i + 1 :]), (i, a)
    assert boxes[0] is not None and not boxes[0].leader  # the first takes the best place
    assert any(b is not None and b.leader for b in boxes)  # crowded ones get a leader line


def test_pareto_svg_labels_do_not_overlap():
    """Baseline and a technique at almost the same point: their labels used to overlap."""
    import re

    from frugalml.report.plots import text_width

    names = ["baseline", "int8-dynamic", "int8-static", "fp16", "bf16", "qat"]
    pts = [(100.0 + i, 0.95 - 0.001 * i) for i in range(len(names))]
    fig = Figure(
        "p",
        "Pareto",
        series=[Series("techniques", list(pts), mode="points", labels=names)],
        x_log=True,
    )
    svg = render_svg(fig)
    found = re.findall(r'<text class="label" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]+)<', svg)
    assert sorted(t for _, _, t in found) == sorted(names)
    boxes = [
        (float(x) - 1, float(y) - 9.5, float(x) - 1 + text_width(t, 10), float(y) + 3.0)
        for x, y, t in found
    ]
    for i, a in enumerate(boxes):
        assert not any(_overlap(a, b) for b in boxes[i + 1 :])
