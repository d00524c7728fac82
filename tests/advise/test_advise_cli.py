"""``frugal advise``: a tracked run in a temp registry, JSON keys, tables, one-line errors."""

from __future__ import annotations

import json
import textwrap
import time

import pytest

from frugalml.cli.main import main
from frugalml.measure.tracker import Tracker
from frugalml.testing import ConstantPowerSensor

H = 3600

MODELS = textwrap.dedent(
    """
    import torch.nn as nn

    def tiny():
        return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    """
)


def run_main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    code = exc.value.code
    return 0 if code is None else int(code)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    db = f"sqlite:///{tmp_path_factory.mktemp('advise') / 'reg.db'}"
    sensors = [ConstantPowerSensor(40.0, "cpu"), ConstantPowerSensor(2.0, "dram")]
    with Tracker(
        "train", sensors=sensors, db=db, region="aws:us-east-1", interval_s=0.02,
        handle_signals=False,
    ) as run:  # fmt: skip
        time.sleep(0.1)
    return db, run.id


@pytest.fixture
def forecast_csv(tmp_path):
    """Hourly intensities from the current hour: a clean valley 3-4 h from now."""
    t0 = int(time.time()) // H * H
    values = [400, 380, 360, 120, 90, 300, 420, 450]
    path = tmp_path / "forecast.csv"
    path.write_text(
        "timestamp,g_per_kwh\n" + "".join(f"{t0 + i * H},{v}\n" for i, v in enumerate(values))
    )
    return path


def test_json_has_the_issue_keys(registry, forecast_csv, tmp_path, capsys) -> None:
    db, run_id = registry
    (tmp_path / "zoo.py").write_text(MODELS)
    args = ["advise", run_id[:8], "--db", db, "--intensity-csv", str(forecast_csv),
            "--model", f"{tmp_path / 'zoo.py'}:tiny", "--input", "32x16", "--format", "json",
            "--seconds", "0.02", "--repeats", "1"]  # fmt: skip
    assert run_main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"where", "when", "how"} <= set(data)
    assert data["run"]["id"] == run_id
    for item in data["where"]:
        assert {
            "region",
            "name",
            "intensity_g_per_kwh",
            "pue",
            "co2e_g",
            "ratio",
            "scope",
            "basis",
        } <= set(item)
    assert {i["scope"] for i in data["where"]} == {"overall", "same-provider", "same-country"}
    assert [i["co2e_g"] for i in data["where"]] == sorted(i["co2e_g"] for i in data["where"])
    for item in data["when"]:
        assert {"best_start", "co2e_g", "co2e_g_now", "saving_ratio", "basis"} <= set(item)
        assert "forecast.csv" in item["basis"]
    best = data["when"][0]
    assert best["saving_ratio"] > 0.5  # the 90 g/kWh hour against 400 now
    assert best["co2e_g"] == pytest.approx(best["co2e_g_now"] * (1 - best["saving_ratio"]))
    for item in data["how"]:
        assert {
            "technique",
            "infer_energy_j_per_1k",
            "ratio",
            "measured",
            "verify",
            "basis",
        } <= set(item)
    assert data["how"][0]["measured"] is True
    assert any(not i["measured"] and i["ratio"] is not None for i in data["how"])
    assert data["notes"] == []


def test_table_without_options_says_what_is_missing(registry, capsys) -> None:
    db, run_id = registry
    assert run_main(["advise", run_id, "--db", db]) == 0
    out = capsys.readouterr().out
    assert "Where:" in out and "aws:" in out
    assert "--intensity-csv FILE" in out and "--model MODULE:FN --input SHAPE" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--intensity-csv", "{tmp}/missing.csv"], "Cannot read intensity file"),
        (["--intensity-csv", "{tmp}/bad.csv"], "is not a timestamp"),
        (["--intensity-csv", "{tmp}/short.csv"], "covers at least"),
        (["--model", "{tmp}/zoo.py:tiny"], "--model needs --input"),
        (["--input", "1x16"], "--input needs --model"),
        (["--model", "{tmp}/zoo.py:nothing", "--input", "1x16"], "has no attribute"),
        (["--model", "{tmp}/zoo.py:tiny", "--input", "1xq"], "Bad --input shape"),
        (["--model", "{tmp}/zoo.py:tiny", "--input", "1x5"], "rejected input shape"),
        (["--sparsity", "1.5"], "sparsity"),
    ],
)
def test_bad_input_is_one_line_exit_2(registry, tmp_path, capsys, extra, message) -> None:
    db, run_id = registry
    (tmp_path / "zoo.py").write_text(MODELS)
    (tmp_path / "bad.csv").write_text("timestamp,g_per_kwh\nyesterday,300\n")
    (tmp_path / "short.csv").write_text(
        f"{time.time() - 7200:.0f},300\n{time.time() - 5400:.0f},200\n"
    )
    args = ["advise", run_id, "--db", db, *[a.format(tmp=tmp_path) for a in extra]]
    assert run_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("Error: ") and message in err


def test_unknown_run_is_one_line_exit_2(registry, capsys) -> None:
    db, _ = registry
    assert run_main(["advise", "ffffffffff", "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No run with id 'ffffffffff'" in err


def test_postgresql_registry(postgres_url, capsys) -> None:
    sensors = [ConstantPowerSensor(20.0, "cpu")]
    with Tracker(
        "pg-run", sensors=sensors, db=postgres_url, region="US-CAMX", interval_s=0.02,
        handle_signals=False,
    ) as run:  # fmt: skip
        time.sleep(0.05)
    assert run_main(["advise", run.id, "--db", postgres_url, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["id"] == run.id and data["run"]["region"] == "US-CAMX"
    assert {i["scope"] for i in data["where"]} == {"overall", "same-country"}
