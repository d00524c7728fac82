"""``frugal run`` budgets and forecasts: the command's ``frugalml.epoch_end()`` reaches the outer
run, ``--on-budget stop`` ends it (exit 124, ``budget-stopped``), bad values are one line; the
forecast history in ``frugal show``, ``runs --status`` and the report, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import warnings

import pytest
from click.testing import CliRunner

import frugalml
from frugalml.cli.main import cli, main
from frugalml.errors import BudgetWarning
from frugalml.report import build_report
from frugalml.store import open_registry
from frugalml.testing import ScriptedSensor

FRUGAL = [sys.executable, "-m", "frugalml"]

#: A training loop: epochs of busy CPU, each reported with frugalml.epoch_end(); argv: epochs,
#: seconds per epoch, and "ignore-term" to ignore SIGTERM (frugal run must then SIGKILL it).
CHILD = """
import signal, sys, time
import frugalml
epochs, busy_s = int(sys.argv[1]), float(sys.argv[2])
if "ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
for epoch in range(1, epochs + 1):
    end = time.perf_counter() + busy_s
    while time.perf_counter() < end:
        pass
    frugalml.epoch_end(epoch, epochs)
print("trained", flush=True)
"""


def frugal_run(tmp_path, *options: str, epochs: int = 4, busy_s: float = 0.1, extra=()):
    script = tmp_path / "train.py"
    script.write_text(CHILD)
    db = tmp_path / "r.db"
    cmd = [*FRUGAL, "run", "--db", str(db), "--region", "FR", *options, "--"]
    cmd += [sys.executable, str(script), str(epochs), str(busy_s), *extra]
    started = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    r.elapsed_s = time.monotonic() - started  # type: ignore[attr-defined]
    store = open_registry(str(db))
    (listed,) = store.list_runs()
    return r, store, store.get_run(listed.id)


def test_epoch_ends_of_the_command_forecast_in_the_outer_run(tmp_path):
    r, store, run = frugal_run(tmp_path, epochs=4)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "trained\n"  # the command's output is untouched
    assert "frugal: forecast: " in r.stderr and ", done\n" in r.stderr  # the last epoch's line
    history = store.forecasts(run.id)
    assert [f["epochs_seen"] for f in history] == [1, 2, 3, 4]
    assert all(f["total_epochs"] == 4 for f in history)
    assert history[-1]["method"] == "done"
    spent = [f["energy_j_so_far"] for f in history]
    assert spent == sorted(spent) and spent[-1] <= run.energy_j
    assert run.status == "finished" and run.summary["forecast"]["epochs_seen"] == 4


def test_on_budget_stop_sigterms_the_command_records_and_exits_124(tmp_path):
    r, _, run = frugal_run(
        tmp_path, "--budget-j", "0.5", "--on-budget", "stop", "--grace", "5", epochs=10_000
    )
    assert r.returncode == 124, r.stderr
    assert "trained" not in r.stdout  # stopped before the end of its training
    lines = [line for line in r.stderr.splitlines() if line.startswith("frugal: budget:")]
    assert len(lines) <= 2 and "energy budget spent" in lines[-1] and "SIGTERM" in lines[-1]
    if len(lines) == 2:  # the forecast saw it coming first (an early warning)
        assert "exceeds the 0.500 J energy budget" in lines[0] or "exceeds" in lines[0]
    assert run.status == "budget-stopped" and run.exit_code == 124
    assert run.energy_j >= 0.5
    assert "the command exited 143" in run.error  # SIGTERM ended it
    assert run.summary["tags"]["budget_reached"] == "stop"
    assert run.summary["config"]["budget_j"] == 0.5


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    r, _, run = frugal_run(
        tmp_path,
        "--budget-j",
        "0.3",
        "--on-budget",
        "stop",
        "--grace",
        "0.5",
        epochs=10_000,
        extra=("ignore-term",),
    )
    assert r.returncode == 124
    assert run.status == "budget-stopped" and "the command exited 137" in run.error


def test_on_budget_warn_says_it_and_lets_the_command_finish(tmp_path):
    r, _, run = frugal_run(tmp_path, "--budget-j", "0.01", epochs=3)
    assert r.returncode == 0 and "trained" in r.stdout
    budget_lines = [line for line in r.stderr.splitlines() if line.startswith("frugal: budget:")]
    assert len(budget_lines) in (1, 2)  # the early warning (when a forecast came first), spent
    assert "spent" in budget_lines[-1]
    assert run.status == "finished" and run.summary["tags"]["budget_reached"] == "warn"


@pytest.mark.parametrize(
    "options, needle",
    [
        (["--budget-j", "-1"], "--budget-j"),
        (["--budget-j", "0"], "--budget-j"),
        (["--budget-kwh", "abc"], "'abc' is not a valid float"),
        (["--budget-co2e-g", "nan"], "--budget-co2e-g"),
        (["--budget-kwh", "1", "--budget-j", "5"], "give one of them"),
        (["--budget-j", "5", "--on-budget", "explode"], "'explode' is not one of"),
        (["--on-budget", "stop"], "--on-budget needs a budget"),
        (["--budget-j", "5", "--grace", "-1"], "--grace"),
    ],
)
def test_bad_budgets_are_one_line_exit_2_and_nothing_runs(options, needle, tmp_path, capsys):
    marker = tmp_path / "ran"
    with pytest.raises(SystemExit) as exc:
        main(["run", *options, "--", "touch", str(marker)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("Error")]) == 1
    assert not marker.exists()
    assert not os.path.exists(os.environ["FRUGAL_DB"])  # no run recorded


def _tracked_run(db: str, **budget) -> str:
    """A run of four epochs (100 J an epoch, exact) with a forecast at each in ``db``."""
    with (
        warnings.catch_warnings(),
        contextlib.suppress(frugalml.BudgetExceeded),
        frugalml.track(
            "fit",
            sensors=[ScriptedSensor(lambda n: 100.0 * n)],
            db=db,
            region="FR",
            interval_s=60.0,
            total_epochs=4,
            echo=False,
            **budget,
        ) as run,
    ):
        warnings.simplefilter("ignore", BudgetWarning)
        for _ in range(4):
            frugalml.epoch_end()
    return run.id


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_show_runs_and_report_know_forecasts_and_the_new_status(backend, tmp_path, request):
    db = str(tmp_path / "r.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    run_id = _tracked_run(db)
    stopped_id = _tracked_run(db, budget_j=250.0, on_budget="stop")
    store = open_registry(db)
    assert store.get_run(stopped_id).status == "budget-stopped"
    runner = CliRunner()
    shown = runner.invoke(cli, ["show", run_id, "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "forecast at each epoch end (4 in all)" in shown.output
    assert "vs final" in shown.output and "done" in shown.output
    data = json.loads(runner.invoke(cli, ["show", run_id, "--db", db, "--json"]).output)
    assert [f["epochs_seen"] for f in data["forecasts"]] == [1, 2, 3, 4]
    final = store.get_run(run_id).energy_j  # the stop's reading adds one more 100 J
    assert data["forecasts"][0]["error_vs_final"] == pytest.approx(400.0 / final - 1)
    stopped = runner.invoke(cli, ["show", stopped_id, "--db", db])
    assert "forecast at each epoch end (3 in all)" in stopped.output
    assert "vs final" not in stopped.output  # a stopped run never ran what was forecast
    listed = runner.invoke(cli, ["runs", "--db", db, "--status", "budget-stopped", "--json"])
    ids = [json.loads(line)["id"] for line in listed.output.splitlines()]
    assert stopped_id in ids and run_id not in ids
    report = build_report(runs=[run_id], store=db)
    (figure,) = [f for f in report.timelines[0].figures if f.id.endswith("-forecast")]
    assert figure.series[0].name == "forecast of the total"
    assert "final" in [s.name for s in figure.series]
    assert f"{abs(400.0 / final - 1) * 100:.1f} % after the first epoch end" in figure.caption
    stopped_report = build_report(runs=[stopped_id], store=db)
    assert "1 run(s) were stopped at their energy or carbon budget" in " ".join(
        stopped_report.summary.notes
    )
    assert "energy budget spent" in " ".join(stopped_report.runs[0].notes)
