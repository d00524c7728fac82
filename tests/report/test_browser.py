"""The HTML report in a real browser: headless Chromium (Debian's ``chromium`` package).

No browser-driver package: Chromium runs as a subprocess on a ``file://`` URL. ``--dump-dom``
returns the DOM after a check script (added to a copy of the report, at the end of <body>)
has measured every plot and written its verdict into ``<body data-*>``; ``--enable-logging``
puts the page's console messages on stderr; ``--screenshot`` takes a picture.
"""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from frugalml.report import build_report, render_html

from .conftest import T0, XSS, add_run, bench_results, bench_row

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium; "
    "make test installs it)",
)

CHECK = """<script>
window.addEventListener('load', function () {
  var plots = document.querySelectorAll('svg.plot'), bad = [];
  plots.forEach(function (svg) {
    var g = svg.querySelector('g.data');
    var box = g ? g.getBoundingClientRect() : {width: 0, height: 0};
    var r = svg.getBoundingClientRect();
    var marks = parseInt(svg.getAttribute('data-marks') || '0', 10);
    if (!g || marks < 1 || g.childElementCount < 1 || r.width < 100 || r.height < 50 ||
        (box.width <= 0 && box.height <= 0)) bad.push(svg.id);
  });
  var labels = 0, overlaps = [];
  plots.forEach(function (svg) {
    var texts = Array.prototype.slice.call(svg.querySelectorAll('text.label'));
    var boxes = texts.map(function (t) { return t.getBoundingClientRect(); });
    labels += boxes.length;
    for (var i = 0; i < boxes.length; i++) {
      for (var j = i + 1; j < boxes.length; j++) {
        var a = boxes[i], b = boxes[j];
        if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
          overlaps.push(svg.id + ': ' + texts[i].firstChild.nodeValue + ' / ' +
                        texts[j].firstChild.nodeValue);
        }
      }
    }
  });
  var d = document.body.dataset;
  d.labels = String(labels);
  d.labelOverlaps = overlaps.join(' | ');
  d.plots = String(plots.length);
  d.badPlots = bad.join(' ');
  d.resources = performance.getEntriesByType('resource')
    .map(function (e) { return e.name; }).join(' ');
  d.scripts = String(document.scripts.length);
  d.loaders = String(document.querySelectorAll(
    'img, link, iframe, object, embed, video, audio, source, script[src], image, use, feImage'
  ).length);
  d.overflow = document.documentElement.scrollWidth > window.innerWidth + 1 ? 'yes' : 'no';
});
</script>"""

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
]


def chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}", *args]
    env = {**os.environ, "HOME": str(tmp)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def check_in_browser(html: str, tmp: Path, min_plots: int, min_labels: int = 0) -> None:
    page = tmp / "report.html"
    page.write_text(html)
    checked = tmp / "checked.html"
    checked.write_text(html.replace("</body>", CHECK + "</body>"))
    # a phone-sized window: nothing may stick out sideways (tables scroll in their own box)
    res = chromium(
        [
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=390,844",
            "--dump-dom",
            checked.as_uri(),
        ],
        tmp,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", res.stdout)
    assert body, res.stdout[:500]
    attrs = {
        k: html_lib.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1))
    }
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    assert int(attrs["plots"]) >= min_plots
    assert attrs["bad-plots"] == "", f"plots drawn empty: {attrs['bad-plots']}"
    assert attrs["resources"] == "", f"the report loaded: {attrs['resources']}"
    assert attrs["loaders"] == "0", "the report has elements that load resources"
    assert attrs["scripts"] == "1"  # only the check script: no user text became a script
    assert attrs["overflow"] == "no"
    # point labels (bench Pareto plots) are placed so that no two overlap
    assert int(attrs["labels"]) >= min_labels
    assert attrs["label-overlaps"] == "", f"labels overlap: {attrs['label-overlaps']}"
    shot = tmp / "shot.png"
    res = chromium(["--window-size=1200,3000", f"--screenshot={shot}", page.as_uri()], tmp)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    image = pytest.importorskip("PIL.Image").open(shot).convert("RGB")
    assert image.size == (1200, 3000)
    colors = image.getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 50  # text, plots and tables, not one flat colour
    white = sum(n for n, c in colors if min(c) > 245)
    assert white < 0.97 * image.size[0] * image.size[1]
    pdf = tmp / "print.pdf"  # printable: the print stylesheet lays it out on pages
    res = chromium(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()], tmp)
    assert res.returncode == 0 and pdf.read_bytes()[:5] == b"%PDF-", res.stderr[-2000:]
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes())) >= 2


def test_runs_report_in_chromium(store, tmp_path):
    add_run(
        store, "aaaa1111", XSS, started_at=T0, metrics=[("loss", 1.0, 2.0), ("accuracy", 0.9, 5.0)]
    )
    add_run(
        store,
        "bbbb2222",
        "gappy",
        started_at=T0 + 50,
        status="running",
        sample_times=[1, 2, 8],
        metrics=[("accuracy", 0.5, 8.0)],
    )
    add_run(store, "cccc3333", "silent", started_at=T0 + 90, sample_times=[])
    check_in_browser(render_html(build_report(store=store)), tmp_path, min_plots=8)


def test_hand_built_bench_report_in_chromium(store, tmp_path):
    import json

    results = bench_results()
    task = results["tasks"]["iris-mlp"]
    base = task["baseline"]
    # a crowd: techniques within a few percent of the baseline on both axes
    for i, name in enumerate(["int8-static", "fp16", "bf16", "qat", "weight-cluster"]):
        task["techniques"][name] = bench_row(name, 0.95 - 0.001 * i, 2.0 + i, 1.9, base=base)
    (tmp_path / "results.json").write_text(json.dumps(results))
    report = build_report(bench=tmp_path, store=store)
    check_in_browser(render_html(report), tmp_path, min_plots=4, min_labels=2 * 8)


@pytest.mark.slow
def test_real_bench_report_in_chromium(tmp_path):
    """A real (tiny) bench run: iris MLP baseline and int8 dynamic quantisation, one repeat."""
    bench = pytest.importorskip("frugalml.bench")
    pytest.importorskip("sklearn")
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    bench.run_bench(
        bench.BenchConfig(
            tasks=["iris-mlp"],
            techniques=["int8-dynamic"],
            repeats=1,
            out_dir=tmp_path / "out",
            db=url,
        )
    )
    report = build_report(bench=tmp_path / "out", store=url)
    assert report.runs_total >= 2 and report.timelines and report.bench is not None
    check_in_browser(render_html(report), tmp_path, min_plots=8, min_labels=4)
