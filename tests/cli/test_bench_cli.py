from __future__ import annotations

import pytest

from frugalml.cli.main import main


@pytest.mark.parametrize(
    "args, needle",
    [
        (["bench", "--task", "nope"], "digits-mlp"),
        (["bench", "--task", "iris-mlp", "--techniques", "int8-dynamic,bogus"], "bogus"),
        (["bench", "--suite", "huge"], "huge"),
        (["bench", "--repeats", "0"], "--repeats"),
        (["bench", "--out", "/proc/nope/x"], "--out"),
        (["bench", "--region", "atlantis"], "atlantis"),
    ],
)
def test_bad_input_exit_2(args, needle, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(
            [*args, "--db", str(tmp_path / "r.db")]
            if "--out" in args
            else [*args, "--out", str(tmp_path / "o")]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_list(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--list"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "digits-cnn" in out and "magnitude-prune" in out
    assert list(tmp_path.iterdir()) == []  # no ./frugal-out/bench made to list names


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--task", "nope"], "nope"),
        (["--task", "iris-mlp", "--techniques", "bogus"], "bogus"),
        (["--techniques", ",,"], "names nothing"),
        (["--task", ","], "names nothing"),
        (["--db", "postgres ql://x"], "registry URL"),
        (["--region", "atlantis"], "atlantis"),
        (["--techniques", "nope+int8-static"], "'nope'"),
        (["--techniques", "distill(student_width=-1)+qat"], "student_width"),
        (["--techniques", "distill(foo=1)"], "'foo'"),
        (["--techniques", "distill+"], "Cannot read the step"),
    ],
)
def test_bad_input_creates_nothing(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "new" / "bench"
    with pytest.raises(SystemExit) as exc:
        main(["bench", *args, "--out", str(out)] if "--db" in args else ["bench", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # neither ./frugal-out/bench nor --out


def _results():
    row = {
        "name": "baseline",
        "status": "ok",
        "accuracy": 0.95,
        "ratios": {"accuracy_delta_pt": 0.0, "train_energy": 1.0},
        "train_energy_j": 4.5,
        "infer_energy_j_per_1k": 0.01,
        "latency_ms": {"batch_256": 0.2},
        "params_nonzero": 4675,
        "size_bytes": 21397,
        "macs": 4544,
        "energy_method": "cpu-model+ram-model",
    }
    long_name = "a-technique-with-a-long-registered-name-x"
    return {
        "config": {
            "repeats": 1,
            "latency_batch": 256,
            "duration_s": 1.0,
            "energy_method": "cpu-model",
            "region": "FR",
            "intensity_g_per_kwh": 44.18,
            "pue": 1.0,
        },
        "tasks": {
            "iris-mlp": {
                "task": {"model": "mlp", "n_test": 38},
                "baseline": row,
                "techniques": {
                    long_name: {
                        **row,
                        "name": long_name,
                        "status": "failed",
                        "reason": "TechniqueError: [red]boom[/red]",
                    }
                },
            }
        },
    }


@pytest.mark.parametrize("fmt", ["table", "tsv", "json"])
def test_summary_formats_piped_in_full(fmt, monkeypatch, tmp_path):
    import json

    from click.testing import CliRunner

    import frugalml.bench
    from frugalml.cli.main import cli

    monkeypatch.setattr(frugalml.bench, "run_bench", lambda *a, **k: _results())
    res = CliRunner().invoke(cli, ["bench", "--out", str(tmp_path), "--format", fmt])
    assert res.exit_code == 0, res.output
    name = "a-technique-with-a-long-registered-name-x"
    if fmt == "json":
        data = json.loads(res.stdout)
        assert name in data["tasks"]["iris-mlp"]["techniques"]
    elif fmt == "tsv":
        lines = res.stdout.splitlines()
        assert lines[0].startswith("task\trow\tstatus") and len(lines) == 3
        assert lines[2].split("\t")[1] == name
    else:
        assert name in res.stdout and "[red]boom[/red]" in res.stdout  # whole, literal
        assert "…" not in res.stdout


def test_demo_passes_one_bench_config_and_writes_the_report(tmp_path, monkeypatch, capsys):
    """frugal demo builds the BenchConfig the bench takes (here shrunk to one tiny row)."""
    import dataclasses

    from frugalml.cli import bench as bench_cli

    seen = []
    original = bench_cli.run_and_print

    def tiny(config, how="table"):
        seen.append(config)
        small = dataclasses.replace(config, tasks=["iris-mlp"], techniques=["int8-dynamic"])
        return original(small, how)

    monkeypatch.setattr(bench_cli, "run_and_print", tiny)
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(tmp_path / "demo"), "--seed", "3", "--region", "FR"])
    assert exc.value.code == 0
    (config,) = seen
    assert (config.suite, config.seed, config.region) == ("quick", 3, "FR")
    assert (tmp_path / "demo" / "bench" / "results.json").exists()
    assert (tmp_path / "demo" / "report.html").exists()
    assert "report:" in capsys.readouterr().out


def test_verdicts_and_best_rows_are_printed_under_each_table(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import frugalml.bench
    from frugalml.cli.main import cli

    results = _results()
    task = results["tasks"]["iris-mlp"]
    task["task"].update(tolerance_pt=1.0, test_sample_pt=2.63)
    task["techniques"] = {
        "fp16": {
            **task["baseline"],
            "name": "fp16",
            "verdict": "loss",
            "verdict_purpose": "inference-energy",
            "verdict_reason": "5x more inference energy; this CPU has no fp16 arithmetic",
        }
    }
    task["summary"] = ["best for size: fp16 (2x less, +0.00 pt)"]
    monkeypatch.setattr(frugalml.bench, "run_bench", lambda *a, **k: results)
    res = CliRunner().invoke(cli, ["bench", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "verdicts at 1 pt tolerance" in res.stdout
    assert "loss (inference)" in res.stdout and "reference" in res.stdout
    assert (
        "fp16: loss at inference energy: 5x more inference energy; this CPU has no fp16 "
        "arithmetic" in res.stdout
    )
    assert "best for size: fp16 (2x less, +0.00 pt)" in res.stdout
    res = CliRunner().invoke(cli, ["bench", "--out", str(tmp_path), "--format", "tsv"])
    head, _, fp16 = res.stdout.splitlines()
    cols = dict(zip(head.split("\t"), fp16.split("\t")))
    assert cols["verdict"] == "loss" and cols["verdict_purpose"] == "inference-energy"
    assert cols["verdict_reason"].startswith("5x more")
