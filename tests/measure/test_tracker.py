from __future__ import annotations

import csv
import json
import os
import signal
import time

import pytest

import frugalml
from frugalml.measure.tracker import Tracker
from frugalml.store import Store
from frugalml.testing import ConstantPowerSensor, NullSensor, ScriptedSensor


def scripted(**kw):
    return ScriptedSensor(lambda n: 10.0 * n, **kw)


def test_context_manager_measures_counter_energy():
    sensor = scripted()
    with frugalml.track("ctx", sensors=[sensor], db=False, interval_s=60) as run:
        assert run.status == "running"
    # first read at start (0 J), last read at stop (10 J): 10 J in between
    assert run.energy_j == {"cpu": 10.0, "total": 10.0}
    assert run.status == "finished"
    assert run.methods == {"cpu": "scripted"}
    assert sensor.closed


def test_power_is_integrated_trapezoidally():
    clock_power = iter([100.0, 300.0])
    sensor = ScriptedSensor(
        lambda n: next(clock_power), power=True, component="gpu:0", method="nvml-power"
    )
    t0 = time.monotonic()
    with Tracker("p", sensors=[sensor], db=False, interval_s=60) as run:
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    # mean of 100 W and 300 W over the run's duration
    assert run.energy_j["gpu:0"] == pytest.approx(200.0 * run.duration_s, rel=1e-6)
    assert 0.2 <= run.duration_s <= elapsed


def test_decorator_makes_one_run_per_call(tmp_path):
    db = tmp_path / "r.db"
    calls = []

    @frugalml.track(sensors=[NullSensor()], db=str(db), interval_s=60)
    def job(x):
        calls.append(x)
        return x * 2

    assert job(2) == 4
    assert job(3) == 6
    runs = Store(str(db)).list_runs()
    assert [r.name for r in runs] == ["test_decorator_makes_one_run_per_call.<locals>.job"] * 2
    assert len({r.id for r in runs}) == 2


def test_start_stop_and_metrics_persisted(tmp_path):
    db = tmp_path / "r.db"
    tracker = Tracker("explicit", sensors=[scripted()], db=str(db), interval_s=60)
    run = tracker.start()
    run.log_metric("loss", 0.5, step=1)
    run.log_metric("accuracy", 0.9, step=1)
    run.log_metric("loss", float("nan"))  # recorded as an error, never raised
    tracker.stop()
    store = Store(str(db))
    rec = store.get_run(run.id[:6])
    assert rec.status == "finished"
    assert rec.energy_j == pytest.approx(10.0)
    metrics = store.metrics(run.id)
    assert [(m["name"], m["value"], m["step"]) for m in metrics] == [
        ("loss", 0.5, 1),
        ("accuracy", 0.9, 1),
    ]
    assert any("loss" in e["message"] for e in run.errors)
    assert rec.summary["metrics"] == {"loss": 0.5, "accuracy": 0.9}


def test_sensor_failing_mid_run_never_reaches_user_code(tmp_path):
    good = ConstantPowerSensor(50.0)
    bad = ScriptedSensor(lambda n: 5.0 * n, component="gpu:0", method="nvml-energy", fail_from=2)
    with Tracker("faulty", sensors=[good, bad], db=str(tmp_path / "r.db"), interval_s=0.05) as run:
        time.sleep(0.4)  # several samples after the failure
    assert run.status == "finished"
    assert run.energy_j["gpu:0"] == pytest.approx(5.0)  # read 0 -> read 1, then failures
    assert run.energy_j["system"] > 0
    failures = [e for e in run.errors if e["source"] == "scripted"]
    assert len(failures) == 1 and "SensorError" in failures[0]["message"]
    rec = Store(str(tmp_path / "r.db")).get_run(run.id)
    assert rec.summary["errors"][0]["source"] == "scripted"


def test_exception_in_tracked_code_marks_run_failed_and_propagates(tmp_path):
    tracker = Tracker("boom", sensors=[scripted()], db=str(tmp_path / "r.db"), interval_s=60)
    with pytest.raises(ZeroDivisionError), tracker as run:
        1 / 0  # noqa: B018
    assert run.status == "failed"
    assert "ZeroDivisionError" in run.error
    assert Store(str(tmp_path / "r.db")).get_run(run.id).status == "failed"


def test_keyboard_interrupt_marks_interrupted():
    with (
        pytest.raises(KeyboardInterrupt),
        Tracker("ki", sensors=[scripted()], db=False, interval_s=60) as run,
    ):
        raise KeyboardInterrupt
    assert run.status == "interrupted"


def test_signal_handler_is_chained_not_replaced():
    received = []

    def app_handler(signum, frame):
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, app_handler)
    try:
        with Tracker("sig", sensors=[scripted()], db=False, interval_s=60) as run:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert received == [signal.SIGTERM]  # the application's handler ran
            assert run.status == "running"  # and it decided to carry on
        assert signal.getsignal(signal.SIGTERM) is app_handler  # restored on stop
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert any(e["source"] == "signal" for e in run.errors)


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler, as in a program started from a terminal (a job started in
    the background by a non-interactive shell inherits SIGINT ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_sigint_with_default_handler_interrupts(default_sigint):
    with (
        pytest.raises(KeyboardInterrupt),
        Tracker("int", sensors=[scripted()], db=False, interval_s=60) as run,
    ):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    assert run.status == "interrupted"


@pytest.mark.parametrize("order", ["start order", "reverse order"])
def test_trackers_stopped_in_any_order_leave_sigint_as_they_found_it(order, default_sigint):
    before = signal.getsignal(signal.SIGINT)
    a = Tracker("a", sensors=[scripted()], db=False, interval_s=60)
    b = Tracker("b", sensors=[scripted()], db=False, interval_s=60)
    a.start()
    b.start()
    for t in (a, b) if order == "start order" else (b, a):
        t.stop()
    assert a.run is not None and b.run is not None
    assert (a.run.status, b.run.status) == ("finished", "finished")
    with pytest.raises(KeyboardInterrupt):  # the default handler, not a stale tracker's
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    assert _effective(signal.getsignal(signal.SIGINT)) is _effective(before)


def _effective(handler):
    from frugalml.measure.tracker import _live_handler

    return _live_handler(signal.SIGINT, handler)


def test_samples_persisted_as_taken(tmp_path):
    out = tmp_path / "out"
    with Tracker(
        "live", sensors=[ConstantPowerSensor(10.0)], db=False, out_dir=out, interval_s=0.05
    ) as run:
        time.sleep(0.3)
        with open(out / "samples.csv") as f:
            rows_during = list(csv.DictReader(f))
        during = json.loads((out / "run.json").read_text())
    assert len(rows_during) >= 3  # written while the run was going on
    assert during["status"] == "running"  # run.json: rewritten every few seconds, not per sample
    assert during["heartbeat_at"] >= during["started_at"]
    final = json.loads((out / "run.json").read_text())
    assert final["status"] == "finished"
    with open(out / "samples.csv") as f:
        rows = list(csv.DictReader(f))
    assert sum(float(r["energy_j"]) for r in rows) == pytest.approx(run.energy_j["total"], rel=1e-9)
    for key in (
        "id",
        "name",
        "started_at",
        "duration_s",
        "exit_code",
        "energy_j",
        "methods",
        "uncertainty",
        "region",
        "intensity_g_per_kwh",
        "pue",
        "co2e_g",
        "hardware",
        "scope",
        "heartbeat_at",
        "sample_rows",
    ):
        assert key in final
    assert final["sample_rows"] == len(rows)
    assert {"cpu_model", "cpu_threads", "ram_bytes", "gpus"} <= set(final["hardware"])


def test_broken_database_is_recorded_not_raised(tmp_path):
    not_a_db = tmp_path / "db.sqlite"
    not_a_db.write_bytes(b"this is not a database" * 100)
    with Tracker(
        "badb", sensors=[ConstantPowerSensor(10.0)], db=str(not_a_db), interval_s=0.05
    ) as run:
        time.sleep(0.1)
    assert run.status == "finished"
    assert run.energy_j["system"] > 0
    assert any(e["source"].startswith("registry") for e in run.errors)


def test_no_region_means_world_and_says_so():
    with Tracker("w", sensors=[scripted()], db=False, interval_s=60) as run:
        pass
    d = run.to_dict()
    assert d["region"] == "world"
    assert "no region" in d["region_source"]
    assert d["co2e_g"] == pytest.approx(
        10.0 / 3.6e6 * d["pue"] * d["intensity_g_per_kwh"], rel=1e-6
    )


def test_region_and_pue_from_environment(monkeypatch):
    monkeypatch.setenv("FRUGAL_REGION", "FR")
    monkeypatch.setenv("FRUGAL_PUE", "1.2")
    with Tracker("env", sensors=[scripted()], db=False, interval_s=60) as run:
        pass
    assert run.region == "FR"
    assert run.pue == pytest.approx(1.2)


def test_uncertainty_combines_components_in_quadrature():
    a = ScriptedSensor(lambda n: 30.0 * n, component="cpu", uncertainty=0.4)
    b = ScriptedSensor(lambda n: 40.0 * n, component="dram", uncertainty=0.3)
    b.name = "scripted-b"
    with Tracker("u", sensors=[a, b], db=False, interval_s=60) as run:
        pass
    unc = run.uncertainty
    assert unc["cpu"] == 0.4 and unc["dram"] == 0.3
    assert unc["total"] == pytest.approx(((30 * 0.4) ** 2 + (40 * 0.3) ** 2) ** 0.5 / 70)


def test_bad_arguments_raise_one_clear_error():
    with pytest.raises(frugalml.InputError, match="interval_s"):
        Tracker("x", interval_s=0)
    with pytest.raises(frugalml.InputError, match="scope"):
        Tracker("x", scope="galaxy")
    with pytest.raises(frugalml.InputError, match="PUE"):
        Tracker("x", pue=-1)
    with pytest.raises(frugalml.InputError, match="Unknown region"):
        Tracker("x", region="atlantis")


def test_default_sensors_on_this_machine_are_models_or_counters():
    with Tracker("default", db=False, interval_s=60) as run:
        sum(i * i for i in range(200_000))
    assert run.methods["cpu"] in {"rapl", "cpu-model"}
    assert run.methods["dram"] in {"rapl", "ram-model"}
    assert run.energy_j["cpu"] > 0


def test_time_varying_intensity_is_integrated_per_sample(tmp_path):
    now = time.time()
    csv_path = tmp_path / "grid.csv"
    # 100 g/kWh until a moment from now, then 900 g/kWh
    switch = now + 0.25
    csv_path.write_text(f"timestamp,g_per_kwh\n{now - 3600},100\n{switch},900\n")
    sensor = ConstantPowerSensor(3.6e6)  # 1 kWh per second
    tracker = Tracker("tv", sensors=[sensor], db=False, interval_s=60, intensity_csv=csv_path)
    run = tracker.start()
    time.sleep(0.1)
    first = tracker.sample()
    kwh_first = first.energy_j["total"] / 3.6e6
    assert first.co2e_g == pytest.approx(kwh_first * 100, rel=1e-6)
    t_first = time.time()
    while time.time() < switch + 0.25:
        time.sleep(0.02)
    tracker.stop()
    t_end = time.time()
    kwh_second = run.energy_j["total"] / 3.6e6 - kwh_first
    # the second interval straddles the switch: charged at its time-weighted mean intensity
    share_900 = (t_end - switch) / (t_end - t_first)
    expected = kwh_first * 100 + kwh_second * (100 * (1 - share_900) + 900 * share_900)
    assert run.co2e_g == pytest.approx(expected, rel=0.05)
    assert kwh_first * 100 + kwh_second * 100 < run.co2e_g < kwh_first * 100 + kwh_second * 900
    assert run.to_dict()["intensity_time_varying"] is True
