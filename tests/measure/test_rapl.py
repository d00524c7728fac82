from __future__ import annotations

import os

import pytest

from frugalml.measure.rapl import RaplSensor
from frugalml.measure.tracker import Tracker
from frugalml.testing import ScriptedSensor, make_powercap_tree


def test_zones_no_double_counting(tmp_path):
    make_powercap_tree(tmp_path, packages=2, dram=True, core=True, psys=True, mmio=True)
    sensor = RaplSensor(root=tmp_path)
    assert sensor.available()
    channels = {ch.id: ch.component for ch in sensor.channels()}
    # packages and dram only: core/uncore are inside the package, psys covers it, mmio mirrors it
    assert channels == {
        "intel-rapl:0": "cpu",
        "intel-rapl:1": "cpu",
        "intel-rapl:0:2": "dram",
        "intel-rapl:1:2": "dram",
    }
    assert all(ch.method == "rapl" and ch.machine_wide for ch in sensor.channels())


def test_psys_used_only_without_packages(tmp_path):
    fake = make_powercap_tree(tmp_path, packages=1, dram=False, psys=True)
    (fake.zone("intel-rapl:0") / "name").write_text("weird\n")  # no package zone left
    sensor = RaplSensor(root=tmp_path)
    assert [ch.id for ch in sensor.channels()] == ["intel-rapl:1"]


def test_readings_in_joules(tmp_path):
    fake = make_powercap_tree(tmp_path, start_uj=5_000_000)
    sensor = RaplSensor(root=tmp_path)
    assert sensor.available()
    before = sensor.read()["intel-rapl:0"]
    fake.add_j("intel-rapl:0", 12.5)
    after = sensor.read()["intel-rapl:0"]
    assert before.energy_j == pytest.approx(5.0)
    assert after.energy_j == pytest.approx(17.5)
    assert after.wrap_j == pytest.approx(262_143.328850)


def test_energy_correct_across_wraparound(tmp_path):
    rng = 10_000_000  # 10 J range
    fake = make_powercap_tree(tmp_path, range_uj=rng, start_uj=8_000_000, dram=True)
    with Tracker(
        "wrap",
        sensors=[RaplSensor(root=tmp_path)],
        db=False,
        scope="machine",
        interval_s=60,
        handle_signals=False,
    ) as run:
        fake.add_j("intel-rapl:0", 3.0)  # 8 J -> 11 J wraps to ~1 J
        fake.add_j("intel-rapl:0:2", 1.0)
        run_sample = run  # noqa: F841
    assert fake.energy_uj("intel-rapl:0") < 8_000_000  # it did wrap
    assert run.energy_j["cpu"] == pytest.approx(3.0, abs=1e-5)
    assert run.energy_j["dram"] == pytest.approx(1.0, abs=1e-5)
    assert run.methods == {"cpu": "rapl", "dram": "rapl"}


def test_several_wraps_over_samples(tmp_path):
    fake = make_powercap_tree(tmp_path, range_uj=10_000_000, start_uj=0, dram=False)
    tracker = Tracker(
        "wraps",
        sensors=[RaplSensor(root=tmp_path)],
        db=False,
        scope="machine",
        interval_s=60,
        handle_signals=False,
    )
    tracker.start()
    for _ in range(7):
        fake.add_j("intel-rapl:0", 4.0)  # less than one range between samples
        tracker.sample()
    run = tracker.stop()
    assert run.energy_j["cpu"] == pytest.approx(28.0, abs=1e-5)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files with mode 000")
def test_unreadable_counter_gives_reason_and_run_completes_on_model(tmp_path):
    fake = make_powercap_tree(tmp_path)
    fake.make_unreadable("intel-rapl:0")
    sensor = RaplSensor(root=tmp_path)
    status = sensor.available()
    assert not status
    assert "root" in status.reason and "chmod" in status.reason
    model = ScriptedSensor(lambda n: 2.0 * n, component="cpu", method="cpu-model")
    with Tracker("fallback", sensors=[sensor, model], db=False, handle_signals=False) as run:
        pass
    assert "rapl" in run.sensors_skipped
    assert run.methods == {"cpu": "cpu-model"}
    assert run.status == "finished"


def test_unreadable_counter_reason_as_root(tmp_path, monkeypatch):
    # Same path for root, which ignores file modes: simulate the kernel's EACCES.
    make_powercap_tree(tmp_path)
    from pathlib import Path

    real = Path.read_text

    def deny(self, *a, **k):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", deny)
    status = RaplSensor(root=tmp_path).available()
    assert not status and "root" in status.reason


def test_process_scope_scales_machine_counters_by_cpu_share(tmp_path, monkeypatch):
    from frugalml.measure import _proc

    fake = make_powercap_tree(tmp_path, dram=False)
    proc_s = iter([10.0, 10.5])  # the tree used 0.5 CPU-s between the two samples
    busy_s = iter([100.0, 102.0])  # the machine was busy 2.0 CPU-s
    monkeypatch.setattr(_proc.ProcessTree, "cpu_s", lambda self: next(proc_s))
    monkeypatch.setattr(_proc.MachineCpu, "busy_s", lambda self: next(busy_s))
    tracker = Tracker(
        "share",
        sensors=[RaplSensor(root=tmp_path)],
        db=False,
        scope="process",
        interval_s=60,
        handle_signals=False,
    )
    tracker.start()
    fake.add_j("intel-rapl:0", 100.0)
    run = tracker.stop()
    assert run.energy_j["cpu"] == pytest.approx(25.0, abs=1e-6)
