from __future__ import annotations

import pytest

from frugalml.measure._proc import CpuCapacity, cpu_capacity
from frugalml.measure.cpu_model import (
    FALLBACK_W_PER_THREAD,
    CpuModelSensor,
    CpuPowerSpec,
    cpu_power_spec,
    load_factor,
)
from frugalml.measure.hardware import CpuInfo, read_cpuinfo


def test_load_curve_points_and_interpolation():
    assert load_factor(0.0) == pytest.approx(0.12)
    assert load_factor(0.10) == pytest.approx(0.32)
    assert load_factor(0.50) == pytest.approx(0.75)
    assert load_factor(1.0) == pytest.approx(1.02)
    assert load_factor(0.30) == pytest.approx(0.32 + (0.75 - 0.32) * 0.5)
    assert load_factor(-1) == load_factor(0) and load_factor(3) == load_factor(1)


def test_spec_from_model_name_table():
    spec = cpu_power_spec(CpuInfo(model_name="Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz"))
    assert spec.basis == "table"
    assert spec.w_per_thread == pytest.approx(270 / 80)
    assert spec.uncertainty == 0.30


def test_spec_from_cpuid_microarchitecture_when_name_is_hidden():
    cpu = CpuInfo(
        model_name="Intel(R) Xeon(R) Processor @ 2.80GHz",
        vendor="GenuineIntel",
        family=6,
        model=106,
    )
    spec = cpu_power_spec(cpu)
    assert spec.basis == "microarch"
    assert "Ice Lake" in spec.source
    assert spec.uncertainty == 0.40


def test_spec_fallback_for_unknown_cpu():
    spec = cpu_power_spec(
        CpuInfo(model_name="Mystery CPU 9000", vendor="Nobody", family=1, model=1)
    )
    assert spec.basis == "fallback"
    assert spec.w_per_thread == pytest.approx(FALLBACK_W_PER_THREAD)
    assert spec.uncertainty == 0.60


class FakeTree:
    def __init__(self, values):
        self.values = iter(values)

    def cpu_s(self):
        return next(self.values)


class FakeMachine:
    def __init__(self, values):
        self.values = iter(values)

    def busy_s(self):
        return next(self.values)


def test_process_scope_charges_cpu_seconds_at_full_load_power():
    spec = CpuPowerSpec(4.0, "table", "test")
    sensor = CpuModelSensor(
        "process", spec=spec, tree=FakeTree([0.0, 2.5]), capacity=CpuCapacity(8, None)
    )
    assert sensor.read()["cpu"].energy_j == 0.0
    assert sensor.read()["cpu"].energy_j == pytest.approx(2.5 * 4.0 * 1.02)


def test_process_scope_energy_proportional_to_cpu_time():
    spec = CpuPowerSpec(4.0, "table", "test")
    one = CpuModelSensor(
        "process", spec=spec, tree=FakeTree([0.0, 2.0]), capacity=CpuCapacity(2, None)
    )
    half = CpuModelSensor(
        "process", spec=spec, tree=FakeTree([0.0, 1.0]), capacity=CpuCapacity(2, None)
    )
    e_one = [one.read()["cpu"].energy_j for _ in range(2)][-1]
    e_half = [half.read()["cpu"].energy_j for _ in range(2)][-1]
    assert e_one == pytest.approx(2 * e_half)


def test_machine_scope_uses_utilisation_curve(monkeypatch):
    spec = CpuPowerSpec(5.0, "table", "test")
    clock = iter([100.0, 102.0])
    monkeypatch.setattr("frugalml.measure.cpu_model.time.monotonic", lambda: next(clock))
    # 4 threads for 2 s, 4 busy CPU-seconds -> u = 0.5 -> 0.75 of TDP share
    sensor = CpuModelSensor(
        "machine", spec=spec, capacity=CpuCapacity(4, None), machine=FakeMachine([10.0, 14.0])
    )
    e = sensor.read()["cpu"].energy_j
    assert e == pytest.approx(4 * 5.0 * 0.75 * 2.0)


def test_cgroup_quota_limits_machine_threads(tmp_path):
    (tmp_path / "cgroup").write_text("0::/job\n")
    (tmp_path / "fs" / "job").mkdir(parents=True)
    (tmp_path / "fs" / "job" / "cpu.max").write_text("150000 100000\n")
    cap = cpu_capacity(tmp_path / "fs", tmp_path / "cgroup")
    assert cap.quota_threads == pytest.approx(1.5)
    assert cap.effective_threads == pytest.approx(min(cap.threads, 1.5))


def test_cgroup_v1_quota_and_unlimited(tmp_path):
    (tmp_path / "cgroup").write_text("4:cpu,cpuacct:/\n")
    d = tmp_path / "fs" / "cpu,cpuacct"
    d.mkdir(parents=True)
    (d / "cpu.cfs_quota_us").write_text("-1\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_capacity(tmp_path / "fs", tmp_path / "cgroup").quota_threads is None
    (d / "cpu.cfs_quota_us").write_text("200000\n")
    assert cpu_capacity(tmp_path / "fs", tmp_path / "cgroup").quota_threads == pytest.approx(2.0)


def test_read_cpuinfo_x86(tmp_path):
    text = "\n".join(
        [
            "processor\t: 0",
            "vendor_id\t: AuthenticAMD",
            "cpu family\t: 25",
            "model\t\t: 1",
            "model name\t: AMD EPYC 7763 64-Core Processor",
            "physical id\t: 0",
            "flags\t\t: fpu avx2",
            "",
            "processor\t: 1",
            "vendor_id\t: AuthenticAMD",
            "physical id\t: 1",
            "",
        ]
    )
    (tmp_path / "cpuinfo").write_text(text)
    info = read_cpuinfo(tmp_path / "cpuinfo")
    assert info.model_name == "AMD EPYC 7763 64-Core Processor"
    assert (info.vendor, info.family, info.model) == ("AuthenticAMD", 25, 1)
    assert info.sockets == 2 and info.logical_cpus == 2
    assert "avx2" in info.flags
    assert cpu_power_spec(info).basis == "table"
