"""``frugal report``: real tracked runs (constant-power sensors), files written, bad input."""

from __future__ import annotations

import json
import time

import pytest

from frugalml.cli.main import main
from frugalml.measure.tracker import Tracker
from frugalml.testing import ConstantPowerSensor

XSS = "<script>alert(1)</script>"


def run_main(args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    # sampled every 0.1 s: slow enough that a loaded machine does not turn every interval
    # into a gap (more than twice the interval), which would leave no power timeline to draw
    url = f"sqlite:///{tmp_path_factory.mktemp('report-cli') / 'reg.db'}"
    for name, watts in ((XSS, 30.0), ("second", 10.0)):
        sensors = [ConstantPowerSensor(watts, "cpu"), ConstantPowerSensor(2.0, "dram")]
        with Tracker(
            name, sensors=sensors, db=url, region="FR", interval_s=0.1, handle_signals=False
        ) as run:
            time.sleep(0.35)
            run.log_metric("accuracy", 0.9 if watts > 20 else 0.8)
    return url


def test_report_html_md_json(db, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert run_main(["report", "--db", db, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert "France" in html and "co2_eq_emissions:" in html and "Power per component" in html
    assert run_main(["report", "--db", db, "-o", str(tmp_path / "r.md")]) == 0
    assert (tmp_path / "r_files").is_dir() and "&lt;script&gt;" in (tmp_path / "r.md").read_text()
    capsys.readouterr()
    assert run_main(["report", "--db", db, "--format", "json", "-o", "-", "--last", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs_total"] == 1 and data["runs"][0]["name"] == "second"
    lb = data["leaderboards"][0]
    assert [r["name"] for r in lb["by_accuracy_per_kwh"]] == ["second"]


def test_report_by_run_id_prefix(db, tmp_path, capsys):
    assert run_main(["runs", "--db", db, "--json"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])["id"]
    out = tmp_path / "one.json"
    assert run_main(["report", first[:6], "--db", db, "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [r["id"] for r in data["runs"]] == [first] and data["title"].startswith(
        "frugalml report:"
    )


def test_default_out_name(db, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_main(["report", "--db", db, "--format", "md"]) == 0
    assert (tmp_path / "frugal-report.md").is_file()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["report", "nope"], "nope"),
        (["report", "--bench", "{tmp}"], "results.json"),
        (["report", "--format", "pdf"], "--format"),
        (["report", "--out", "{tmp}/no/such/dir/r.html"], "--out"),
        (["report", "--out", "{tmp}"], "--out"),
        (["report", "--page", "0"], "--page"),
        (["report", "x", "--bench", "{tmp}"], "not both"),
    ],
)
def test_bad_input_one_line_exit_2(db, tmp_path, args, needle, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[1] == "x":
        (tmp_path / "results.json").write_text(
            json.dumps({"schema": "frugalml.bench/1", "tasks": {}})
        )
    assert run_main([*args, "--db", db]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("Error")]) == 1


def test_empty_registry_exit_2(tmp_path, capsys):
    from frugalml.store import Store

    Store(tmp_path / "empty.db").close()  # exists, holds no run (a missing one: tests/faults)
    assert (
        run_main(["report", "--db", str(tmp_path / "empty.db"), "-o", str(tmp_path / "r.html")])
        == 2
    )
    assert "No runs" in capsys.readouterr().err
