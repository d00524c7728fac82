"""Sensor faults: one RAPL zone failing mid-run (issue #11, 8) and readings that are not
numbers (issue #10): the run keeps what still reads and says what happened."""

from __future__ import annotations

import json
import math
import shutil
import time

import pytest

from frugalml.measure.rapl import RaplSensor
from frugalml.measure.tracker import Tracker
from frugalml.store import Store
from frugalml.testing import ScriptedSensor, make_powercap_tree


# 8 -------------------------------------------------------------------------------------------
def test_08_rapl_package_fails_mid_run_dram_keeps_counting_cpu_falls_back(tmp_path):
    fake = make_powercap_tree(tmp_path, packages=1, dram=True)
    db = str(tmp_path / "r.db")
    tracker = Tracker(
        "zone",
        sensors=[RaplSensor(root=tmp_path)],
        db=db,
        scope="machine",
        interval_s=60,
        handle_signals=False,
    )
    run = tracker.start()
    fake.add_j("intel-rapl:0", 0.5)
    fake.add_j("intel-rapl:0:2", 5.0)
    tracker.sample()
    shutil.rmtree(fake.zone("intel-rapl:0"))  # the package zone is removed mid-run
    for _ in range(2):
        fake.add_j("intel-rapl:0:2", 5.0)
        time.sleep(0.3)  # the machine-scope CPU model integrates real time
        tracker.sample()
    run = tracker.stop()
    assert run.energy_j["dram"] == pytest.approx(15.0)  # the DRAM zone kept counting
    assert run.energy_j["cpu"] > 0.5  # the package's energy before it failed, then the model
    assert run.methods == {"cpu": "rapl+cpu-model", "dram": "rapl"}
    assert run.energy_method == "cpu-model+rapl" and not run.measured
    assert run.uncertainty["cpu"] > 0.05  # widened by the modelled part
    assert run.uncertainty["dram"] == pytest.approx(0.10)
    (error,) = [e for e in run.errors if e["source"] == "rapl"]
    assert "intel-rapl:0" in error["message"] and "cpu-model" in error["message"]
    assert "modelled" in error["message"] and "keep counting" in error["message"]
    samples = Store(db).samples(run.id)
    assert {s["method"] for s in samples if s["component"] == "dram"} == {"rapl"}
    assert "cpu-model" in {s["method"] for s in samples if s["component"] == "cpu"}


def test_08_one_package_of_two_fails_model_covers_its_share_only(tmp_path):
    fake = make_powercap_tree(tmp_path, packages=2, dram=False)
    tracker = Tracker(
        "half",
        sensors=[RaplSensor(root=tmp_path)],
        db=False,
        scope="machine",
        interval_s=60,
        handle_signals=False,
    )
    run = tracker.start()
    (fake.zone("intel-rapl:1") / "energy_uj").unlink()
    fake.add_j("intel-rapl:0", 30.0)
    tracker.sample()
    fake.add_j("intel-rapl:0", 30.0)
    run = tracker.stop()
    assert run.energy_j["cpu"] >= 60.0
    assert run.methods == {"cpu": "rapl+cpu-model"}
    assert any("share (1/2)" in e["message"] for e in run.errors)


# non-finite readings ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_reading_is_a_recorded_sensor_error_never_stored(tmp_path, bad):
    values = [0.0, 10.0, bad, 20.0]
    sensor = ScriptedSensor(lambda n: values[min(n, 3)], component="gpu:0", method="nvml-energy")
    out = tmp_path / "out"
    tracker = Tracker(
        "nan", sensors=[sensor], db=str(tmp_path / "r.db"), out_dir=out, interval_s=60
    )
    run = tracker.start()
    tracker.sample()
    tracker.sample()
    run = tracker.stop()
    assert run.energy_j["gpu:0"] == pytest.approx(20.0)
    assert all(math.isfinite(v) for v in run.energy_j.values())
    assert any("non-finite" in e["message"] for e in run.errors)
    stored = Store(str(tmp_path / "r.db")).samples(run.id)
    assert all(math.isfinite(s["energy_j"]) and math.isfinite(s["power_w"]) for s in stored)
    json.loads((out / "run.json").read_text(), parse_constant=_refuse)


def _refuse(name: str) -> float:
    raise AssertionError(f"run.json holds {name}")
