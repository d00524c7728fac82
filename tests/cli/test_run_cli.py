from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from frugalml.cli.main import cli, main
from frugalml.store import Store

FRUGAL = [sys.executable, "-m", "frugalml"]


def run_main(args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--region", "atlantis", "--", "true"], "atlantis"),
        (["run", "--pue", "-1", "--", "true"], "PUE"),
        (["run", "--interval", "0", "--", "true"], "--interval"),
        (["run", "--bogus", "--", "true"], "--bogus"),
        (["run", "--"], "COMMAND"),
        (["run", "--out", "/proc/no/such", "--", "true"], "--out"),
        (["run", "--db", "postgres ql://x", "--", "true"], "registry URL"),
        (["run", "--", "no-such-command-xyz"], "no-such-command-xyz"),
        (["show", "nope"], "nope"),
    ],
)
def test_bad_input_one_line_exit_2(args, needle, capsys):
    if args[0] == "show":
        Store(os.environ["FRUGAL_DB"]).close()  # an existing registry without that run
    assert run_main(args) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("Error")]) == 1


def test_run_exits_with_child_code_and_writes_files(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run(
        [
            *FRUGAL,
            "run",
            "--name",
            "x",
            "--region",
            "FR",
            "--out",
            str(out),
            "--interval",
            "0.1",
            "--",
            sys.executable,
            "-c",
            "import sys; sum(range(3_000_000)); sys.exit(7)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 7, r.stderr
    data = json.loads((out / "run.json").read_text())
    assert data["exit_code"] == 7 and data["status"] == "failed"
    assert data["region"] == "FR" and data["energy_j"]["cpu"] > 0
    assert (out / "samples.csv").exists()
    assert "FR" in r.stderr  # the summary


def test_runs_and_show(tmp_path):
    db = str(tmp_path / "r.db")
    r = subprocess.run(
        [*FRUGAL, "run", "--db", db, "-q", "--name", "<b>bold</b>", "--", "true"], timeout=60
    )
    assert r.returncode == 0
    runner = CliRunner()
    res = runner.invoke(cli, ["runs", "--db", db, "--json"])
    assert res.exit_code == 0
    row = json.loads(res.output.splitlines()[0])
    assert row["name"] == "<b>bold</b>" and row["status"] == "finished"
    res = runner.invoke(cli, ["show", row["id"][:8], "--db", db])
    assert (
        res.exit_code == 0 and "<b>bold</b>" in res.output and "cpu-model" in res.output
    ) or "rapl" in res.output
    res = runner.invoke(cli, ["runs", "--db", db])
    assert res.exit_code == 0 and row["id"][:6] in res.output


def _burn_cmd(duty: float, seconds: float) -> list[str]:
    """A child busy ``duty`` of each 10 ms until it has used ``duty * seconds`` CPU-seconds:
    a fixed amount of work, whatever else the machine runs (on a loaded machine a "full
    core" for a fixed wall time is less than a core)."""
    code = (
        "import time\n"
        f"while time.process_time() < {duty * seconds}:\n"
        "    t = time.monotonic()\n"
        f"    while time.monotonic() - t < 0.01 * {duty}: pass\n"
        f"    time.sleep(0.01 * (1 - {duty}))\n"
    )
    return [sys.executable, "-c", code]


@pytest.mark.slow
def test_process_attribution_one_core_twice_half_core(tmp_path):
    energies = {}
    for duty in (1.0, 0.5):
        out = tmp_path / f"d{duty}"
        r = subprocess.run(
            [*FRUGAL, "run", "-q", "--out", str(out), "--", *_burn_cmd(duty, 2.0)], timeout=60
        )
        assert r.returncode == 0
        energies[duty] = json.loads((out / "run.json").read_text())["energy_j"]["cpu"]
    ratio = energies[1.0] / energies[0.5]
    assert 1.6 < ratio < 2.4, energies
