from __future__ import annotations

import json
import re

import pytest

from frugalml.cli.main import main
from frugalml.store import Store


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--task", "nope"], "digits-mlp"),
        ([], "--task"),
        (["--task", "iris-mlp", "--space", "big"], "'big'"),
        (["--task", "iris-mlp", "--sampler", "cmaes"], "'cmaes'"),
        (["--task", "iris-mlp", "--pruner", "asha"], "'asha'"),
        (["--task", "iris-mlp", "--objectives", "accuracy,speed"], "'speed'"),
        (["--task", "iris-mlp", "--trials", "0"], "--trials"),
        (["--task", "iris-mlp", "--budget-j", "0"], "--budget-j"),
        (["--task", "iris-mlp", "--budget-j", "-5"], "--budget-j"),
        (["--task", "iris-mlp", "--workers", "0"], "--workers"),
        (["--task", "iris-mlp", "--max-train-energy-j", "nan"], "--max-train-energy-j"),
        (
            [
                "--task",
                "iris-mlp",
                "--objectives",
                "accuracy,train_energy_j",
                "--pruner",
                "hyperband",
            ],
            "cannot prune multi-objective",
        ),
        (["--task", "iris-mlp", "--weight-sharing"], "--space nas"),
        (["--task", "iris-mlp", "--region", "atlantis"], "atlantis"),
        (["--task", "zipf-10k"], "no search space"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, needle, capsys, tmp_path):
    out = tmp_path / "out"
    code, _, err = run_cli(["search", *args, "--out", str(out)], capsys)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_unreachable_storage(capsys, tmp_path):
    url = f"postgresql://ann:pw123@/optuna?host={tmp_path / 'nowhere'}"
    code, _, err = run_cli(
        ["search", "--task", "iris-mlp", "--storage", url, "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2 and "Cannot reach the storage" in err and "pw123" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_search_then_report(capsys, tmp_path):
    out, db = tmp_path / "out", str(tmp_path / "r.db")
    code, stdout, _ = run_cli(
        [
            "search",
            "--task",
            "iris-mlp",
            "--space",
            "hpo",
            "--sampler",
            "grid",
            "--trials",
            "3",
            "--pruner",
            "hyperband",
            "--out",
            str(out),
            "--db",
            db,
        ],
        capsys,
    )
    assert code == 0, stdout
    data = json.loads((out / "search.json").read_text())
    assert len(data["trials"]) == 3 and data["pruner"] == "hyperband"
    # the printed sum adds up, and matches the stored total
    m = re.search(
        r"search energy: ([\d,.]+) J = ([\d,.]+) J in trials .* \+\s+([\d,.]+)\s+J", stdout, re.S
    )
    total, trials, overhead = (float(x.replace(",", "")) for x in m.groups())
    assert total == pytest.approx(trials + overhead, abs=1e-9)
    assert total == pytest.approx(round(data["total_energy_j"], 2))
    assert "results:" in stdout and "trials" in stdout
    runs = [r for r in Store(db).list_runs(limit=None, with_summary=True)]
    assert sorted(r.summary["tags"]["trial"] for r in runs) == ["0", "1", "2"]

    html = tmp_path / "r.html"
    code, stdout, err = run_cli(
        ["report", "--search", str(out), "--db", db, "-o", str(html)], capsys
    )
    assert code == 0, err
    text = html.read_text()
    assert 'id="search"' in text and "Best accuracy against the energy spent searching" in text
    code, stdout, err = run_cli(
        ["report", "--search", str(out), "--db", db, "--format", "json", "-o", "-"], capsys
    )
    report = json.loads(stdout)
    (row,) = report["search"]["searches"]
    assert row["study"] == "iris-mlp-hpo" and row["total_energy_j"] == pytest.approx(
        data["total_energy_j"]
    )
    assert report["summary"]["n_runs"] == 3  # the trials' registry runs


def test_help_and_light_import(capsys):
    import subprocess
    import sys

    code, out, _ = run_cli(["search", "--help"], capsys)
    assert code == 0 and "cannot prune multi-objective" in " ".join(out.split()).replace("- ", "-")
    code, out, _ = run_cli(["--help"], capsys)
    assert "search" in out
    probe = "import sys, frugalml.search; print('optuna' in sys.modules, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
