"""The sensor and sink contracts (frugalml.testing) over every built-in plugin.

They replace the per-plugin tests that checked the same things one plugin at a time (energy
following the fake's clock, reading an unavailable device, probing a missing device...).
"""

from __future__ import annotations

import csv
import json

import pytest

from frugalml.measure.amdsmi import AmdSmiSensor
from frugalml.measure.nvml import NvmlSensor
from frugalml.measure.rapl import RaplSensor
from frugalml.measure.sinks import FileSink, StoreSink
from frugalml.testing import (
    ConstantPowerSensor,
    FakeAmdGpu,
    FakeAMDSMI,
    FakeGPU,
    FakeNVML,
    ReplaySensor,
    SensorContract,
    SinkContract,
    make_powercap_tree,
)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def _no_visible_env(monkeypatch):
    for name in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------------- sensors
class TestConstantPowerSensor(SensorContract):
    methods = frozenset({"constant"})

    def make_sensor(self, tmp_path):
        self.clock = Clock()
        return ConstantPowerSensor(350.0, clock=self.clock)

    def advance(self, sensor, seconds):
        self.clock.t += seconds


class TestReplaySensor(SensorContract):
    methods = frozenset({"replay"})

    def make_sensor(self, tmp_path):
        path = tmp_path / "samples.csv"
        rows = ["t_s,timestamp,component,energy_j,power_w,method"]
        rows += [f"{t},0,cpu,{5 * t},5,rapl" for t in range(1, 60)]
        path.write_text("\n".join(rows) + "\n")
        self.clock = Clock()
        return ReplaySensor(path, clock=self.clock)

    def advance(self, sensor, seconds):
        self.clock.t += seconds

    def make_unavailable(self, tmp_path):
        path = tmp_path / "empty.csv"
        path.write_text("t_s,timestamp,component,energy_j,power_w,method\n")
        return ReplaySensor(path)


class TestRaplSensorOnFakePowercap(SensorContract):
    methods = frozenset({"rapl"})

    def make_sensor(self, tmp_path):
        self.fake = make_powercap_tree(tmp_path / "powercap", packages=2, range_uj=50_000_000)
        return RaplSensor(root=tmp_path / "powercap")

    def advance(self, sensor, seconds):
        for zone in ("intel-rapl:0", "intel-rapl:1"):
            self.fake.add_j(zone, 40.0 * seconds)  # wraps past 50 J now and then
        for zone in ("intel-rapl:0:2", "intel-rapl:1:2"):
            self.fake.add_j(zone, 3.0 * seconds)

    def make_unavailable(self, tmp_path):
        return RaplSensor(root=tmp_path / "no-powercap")


class TestNvmlSensorOnFakeNVML(SensorContract):
    methods = frozenset({"nvml-energy", "nvml-power"})

    def make_sensor(self, tmp_path):
        self.clock = Clock()
        gpus = [FakeGPU(power_w=300.0), FakeGPU(name="Tesla T4", supports_energy=False)]
        return NvmlSensor(nvml=FakeNVML(gpus, clock=self.clock))

    def advance(self, sensor, seconds):
        self.clock.t += seconds

    def make_unavailable(self, tmp_path):
        return NvmlSensor(nvml=FakeNVML([]))


class TestAmdSmiSensorOnFakeAMDSMI(SensorContract):
    methods = frozenset({"amdsmi-energy", "amdsmi-power"})

    def make_sensor(self, tmp_path):
        self.clock = Clock()
        gpus = [FakeAmdGpu(power_w=500.0), FakeAmdGpu(supports_energy=False, power_w=200.0)]
        return AmdSmiSensor(amdsmi=FakeAMDSMI(gpus, clock=self.clock))

    def advance(self, sensor, seconds):
        self.clock.t += seconds

    def make_unavailable(self, tmp_path):
        return AmdSmiSensor(amdsmi=FakeAMDSMI([]))


# ---------------------------------------------------------------------- sinks
class TestFileSink(SinkContract):
    def make_sink(self, tmp_path):
        return FileSink(tmp_path / "out")

    def read_back(self, sink, run):
        with open(sink.out_dir / "samples.csv") as f:
            samples = list(csv.DictReader(f))
        with open(sink.out_dir / "metrics.csv") as f:
            metrics = list(csv.DictReader(f))
        summary = json.loads((sink.out_dir / "run.json").read_text())
        return {"samples": samples, "metrics": metrics, "summary": summary}

    def break_target(self, sink, tmp_path):
        for f, *_ in sink._files.values():
            f.close()  # writes now fail (closed files), as on a vanished disk
        (tmp_path / "out").chmod(0o500)
        return True


class _RegistrySinkContract(SinkContract):
    url: str
    flush_timeout_s = 2.0

    def make_sink(self, tmp_path):
        return StoreSink(self.url, spool=tmp_path / "spool", flush_timeout_s=self.flush_timeout_s)

    def read_back(self, sink, run):
        from frugalml.store import Store

        store = Store(self.url)
        rec = store.get_run(run.id)
        summary = dict(rec.summary)
        assert rec.status == summary["status"]
        return {
            "samples": store.samples(run.id),
            "metrics": store.metrics(run.id),
            "summary": summary,
        }


class TestStoreSinkOnSQLite(_RegistrySinkContract):
    """The stdlib-sqlite3 writer (a plain SQLite file)."""

    @pytest.fixture(autouse=True)
    def _url(self, tmp_path):
        self.url = f"sqlite:///{tmp_path / 'registry.db'}"

    def break_target(self, sink, tmp_path):
        sink.flush_timeout_s = 0.3  # it will not be written: do not wait for it
        for _ in range(100):  # the writer thread may recreate the file between unlink and mkdir
            for suffix in ("", "-wal", "-shm"):
                (tmp_path / f"registry.db{suffix}").unlink(missing_ok=True)
            try:
                (tmp_path / "registry.db").mkdir()  # a folder where the registry was: cannot open
                break
            except FileExistsError:
                continue
        sink.writer.journal = None  # and no spool to rebuild it from
        sink.journal = None
        return True


class TestStoreSinkOnPostgreSQL(_RegistrySinkContract):
    """The SQLAlchemy writer, on a throw-away PostgreSQL server."""

    @pytest.fixture(autouse=True)
    def _url(self, postgres_url):
        self.url = postgres_url
