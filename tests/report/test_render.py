from __future__ import annotations

import json
import re

import pytest

from frugalml.errors import InputError, MissingDependencyError
from frugalml.report import build_report, render_html, render_json, render_markdown, write_report
from frugalml.report.markdown import md_escape

from .conftest import T0, XSS, add_run


@pytest.fixture
def report(store, bench_dir):
    add_run(
        store,
        "aaaa1111",
        XSS,
        started_at=T0,
        metrics=[(XSS, 1.0, 2.0), ("accuracy", 0.9, 5.0)],
        tags={XSS: XSS},
    )
    add_run(
        store,
        "bbbb2222",
        "pipe | and `tick` [link](x) *b*",
        started_at=T0 + 50,
        status="running",
        sample_times=[1, 2, 8],
    )
    return build_report(store=store)


def test_html_escapes_every_user_string(report):
    html = render_html(report)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h3>&lt;script&gt;alert(1)&lt;/script&gt;" in html  # run name in the timeline heading
    assert "Metric: &lt;script&gt;" in html  # the metric name


def test_html_is_offline_and_self_contained(report):
    html = render_html(report)
    assert not re.search(r"<(img|link|iframe|object|embed)\b", html)
    assert not re.search(r"\bsrc\s*=", html) and "@import" not in html and "url(" not in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith(("#", "https://")) for h in hrefs)
    assert html.count("<svg") == html.count('class="plot"') >= 4
    assert "@media print" in html and 'name="viewport"' in html


def test_html_marks_gaps(report):
    html = render_html(report)
    assert (
        "interrupted" in html and "gap 6.0 s" in html and "No samples from t = 2 s to 8 s" in html
    )


def test_markdown_escapes(report):
    md = render_markdown(report)
    assert "<script" not in md.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "pipe \\| and \\`tick\\` \\[link\\](x) \\*b\\*" in md
    header = next(line for line in md.splitlines() if line.startswith("| id | name |"))
    row = next(line for line in md.splitlines() if line.startswith("| bbbb2222"))
    assert row.count(" | ") == header.count(" | ")  # an escaped | does not add a column


def test_md_escape_examples():
    assert md_escape("a\nb") == "a b"
    assert md_escape("$x$ & ~y~") == "\\$x\\$ &amp; \\~y\\~"


def test_markdown_writes_png_plots(report, tmp_path):
    path = write_report(tmp_path / "rep.md", report=report)
    md = path.read_text()
    images = re.findall(r"!\[[^\]]*\]\(<([^>]+)>\)", md)
    assert images and all((tmp_path / p).is_file() for p in images)
    assert all(p.startswith("rep_files/") and p.endswith(".png") for p in images)
    assert (tmp_path / images[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_falls_back_to_svg_without_matplotlib(report, tmp_path, monkeypatch):
    import frugalml.report.png as png

    def missing(module, purpose):
        raise MissingDependencyError(f"{purpose} needs matplotlib")

    monkeypatch.setattr(png, "require", missing)
    md = write_report(tmp_path / "r.md", report=report).read_text()
    assert "r_files/overview.svg" in md and "PNG needs matplotlib" in md
    assert (tmp_path / "r_files" / "overview.svg").read_text().startswith("<?xml")


def test_json_is_strict_and_complete(report):
    data = json.loads(render_json(report))
    assert data["schema"] == "frugalml.report/1"
    assert data["runs_paging"] == {
        "page": 1,
        "page_size": 50,
        "total": 2,
        "pages": 1,
        "on_this_page": 2,
    }
    assert data["runs"][1]["name"] == XSS  # data, not markup: consumers escape
    assert data["leaderboards"][0]["pages"] == 1
    assert data["model_card"]["co2_eq_emissions"]["emissions"] > 0
    figs = [f for t in data["timelines"] for f in t["figures"]]
    assert figs and all(f["series"] for f in figs if f["kind"] == "xy")


def test_write_report_formats_and_errors(report, tmp_path):
    assert (
        write_report(tmp_path / "a.html", report=report).read_text().startswith("<!doctype html>")
    )
    assert json.loads(write_report(tmp_path / "a.json", report=report).read_text())["title"]
    assert write_report(tmp_path / "a.txt", "json", report=report).read_text().startswith("{")
    with pytest.raises(InputError, match="format"):
        write_report(tmp_path / "a.pdf", "pdf", report=report)
    with pytest.raises(InputError, match="Cannot write"):
        write_report(tmp_path / "missing" / "a.html", report=report)
