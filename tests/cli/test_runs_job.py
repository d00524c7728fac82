"""A distributed job in ``frugal runs``, ``show`` and ``report``: one row, totals summing the
ranks once, the tree of hosts and ranks."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tests.measure.test_distributed import simulated_job

from frugalml.cli.main import cli


def test_runs_show_and_report_count_every_rank_once(tmp_path):
    db, runs = simulated_job(tmp_path)
    total = sum(r.energy_j["total"] for r in runs)
    runner = CliRunner()
    res = runner.invoke(cli, ["runs", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    (row,) = [json.loads(line) for line in res.output.splitlines()]
    assert row["kind"] == "job" and row["energy_j"] == pytest.approx(total)
    res = runner.invoke(cli, ["runs", "--db", str(db)])
    assert "sim [2 hosts, 4 ranks]" in res.output
    res = runner.invoke(cli, ["show", row["id"], "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "host node0" in res.output and "host node1" in res.output
    assert "rank 3 (local 1)" in res.output and "the sum of 4 rank runs" in res.output
    out = tmp_path / "report.json"
    res = runner.invoke(cli, ["report", "--db", str(db), "--format", "json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert report["runs_total"] == 1
    assert report["runs"][0]["energy_j"] == pytest.approx(total)
