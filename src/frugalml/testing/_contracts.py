"""Contract test suites for plugin authors: what every sensor and every sink must do.

In the shape of Optuna's storage test case: subclass the contract in a pytest module, name the
class ``Test...`` and implement its factory methods; pytest collects every check. frugalml runs
them over all its built-in sensors and sinks (``tests/measure/test_contracts.py``)::

    from frugalml.testing import SensorContract

    class TestMySensor(SensorContract):
        def make_sensor(self, tmp_path):
            return MySensor(device=FakeDevice())

        def advance(self, sensor, seconds):
            sensor.device.run_for(seconds)   # energy flows on the (fake) device

The checks call only the public interface, so a sensor that passes them works under the
tracker: probing never raises and says why, channels are well formed, readings are finite and
cover the channels, counters never run backwards, energy flows when the device works, the
hardware description is JSON, ``close()`` is safe twice, and a tracked run measures it.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from frugalml.measure.base import Sensor
from frugalml.measure.run import Run

__all__ = ["SensorContract", "SinkContract", "make_test_run"]


class SensorContract:
    """Checks every sensor must pass. Implement :meth:`make_sensor` and :meth:`advance`;
    implement :meth:`make_unavailable` when the sensor can be absent."""

    #: methods the sensor's channels may report (None: any non-empty name)
    methods: frozenset[str] | None = None

    def make_sensor(self, tmp_path: Path) -> Sensor:
        """A fresh, available sensor (over a fake device)."""
        raise NotImplementedError("subclasses of SensorContract implement make_sensor()")

    def advance(self, sensor: Sensor, seconds: float) -> None:
        """Let ``seconds`` of work happen on the sensor's device (fake clock, counters...)."""
        raise NotImplementedError("subclasses of SensorContract implement advance()")

    def make_unavailable(self, tmp_path: Path) -> Sensor | None:
        """The sensor where its device is missing, or None when it cannot be missing."""
        return None

    # -- checks --------------------------------------------------------------------------
    def test_available_is_true_and_never_raises(self, tmp_path: Path) -> None:
        sensor = self.make_sensor(tmp_path)
        ok = sensor.available()
        assert ok, f"{sensor!r} unavailable: {ok.reason}"
        assert isinstance(sensor.name, str) and sensor.name
        sensor.close()

    def test_unavailable_says_why_and_read_raises_sensor_error(self, tmp_path: Path) -> None:
        import pytest

        from frugalml.errors import SensorError

        sensor = self.make_unavailable(tmp_path)
        if sensor is None:
            pytest.skip("this sensor cannot be absent")
        ok = sensor.available()
        assert not ok and isinstance(ok.reason, str) and ok.reason.strip()
        with pytest.raises(SensorError):
            sensor.read()
        sensor.close()

    def test_channels_are_well_formed(self, tmp_path: Path) -> None:
        sensor = self.make_sensor(tmp_path)
        assert sensor.available()
        channels = sensor.channels()
        assert channels, "an available sensor measures at least one channel"
        ids = [c.id for c in channels]
        assert len(set(ids)) == len(ids), f"channel ids repeat: {ids}"
        for c in channels:
            assert c.component and c.method
            assert self.methods is None or c.method in self.methods, c.method
            assert math.isfinite(c.uncertainty) and c.uncertainty >= 0
        sensor.close()

    def test_readings_cover_channels_and_are_finite(self, tmp_path: Path) -> None:
        sensor = self.make_sensor(tmp_path)
        assert sensor.available()
        ids = {c.id for c in sensor.channels()}
        for _ in range(3):
            self.advance(sensor, 0.5)
            readings = sensor.read()
            assert set(readings) <= ids, f"readings for unknown channels: {set(readings) - ids}"
            assert set(readings) == ids, f"channels without a reading: {ids - set(readings)}"
            for cid, r in readings.items():
                assert r.error is None, f"{cid}: {r.error}"
                assert (r.energy_j is None) != (r.power_w is None), (
                    f"{cid}: a reading is an energy counter or a power, exactly one"
                )
                value = r.energy_j if r.energy_j is not None else r.power_w
                assert value is not None and math.isfinite(value) and value >= 0, (cid, value)
                assert r.wrap_j is None or (math.isfinite(r.wrap_j) and r.wrap_j > 0)
        sensor.close()

    def test_energy_flows_and_counters_never_run_backwards(self, tmp_path: Path) -> None:
        sensor = self.make_sensor(tmp_path)
        assert sensor.available()
        before = sensor.read()
        self.advance(sensor, 2.0)
        after = sensor.read()
        gained = False
        for cid, r in after.items():
            prev = before[cid]
            if r.energy_j is not None and prev.energy_j is not None:
                d = r.energy_j - prev.energy_j
                if d < 0 and r.wrap_j:
                    d += r.wrap_j
                assert d >= 0, f"{cid}: counter ran backwards ({prev.energy_j} -> {r.energy_j})"
                gained = gained or d > 0
            elif r.power_w is not None:
                gained = gained or r.power_w > 0
        assert gained, "no energy after the device worked for 2 s"
        sensor.close()

    def test_hardware_is_json(self, tmp_path: Path) -> None:
        sensor = self.make_sensor(tmp_path)
        assert sensor.available()
        json.dumps(sensor.hardware())
        sensor.close()

    def test_close_twice_is_safe(self, tmp_path: Path) -> None:
        sensor = self.make_sensor(tmp_path)
        assert sensor.available()
        sensor.read()
        sensor.close()
        sensor.close()

    def test_a_tracked_run_measures_it(self, tmp_path: Path) -> None:
        from frugalml.measure.tracker import Tracker

        sensor = self.make_sensor(tmp_path)
        tracker = Tracker(
            "contract",
            sensors=[sensor],
            db=False,
            scope="machine",
            interval_s=60,
            handle_signals=False,
        )
        run = tracker.start()
        methods = {c.method for c in sensor.channels()}
        self.advance(sensor, 1.0)
        time.sleep(0.01)  # power readings integrate over real time
        tracker.stop()
        assert run.status == "finished"
        assert run.energy_j["total"] > 0, run.errors
        assert set(run.methods.values()) <= methods
        assert not [e for e in run.errors if e["source"] == sensor.name], run.errors


def make_test_run(name: str = "contract", **kwargs: Any) -> Run:
    """A run to hand to a sink in tests (region FR, 1 s interval)."""
    values: dict[str, Any] = dict(
        id=os.urandom(8).hex(),
        name=name,
        scope="process",
        interval_s=1.0,
        region="FR",
        region_name="France",
        region_source="argument",
        intensity_g_per_kwh=56.0,
        pue=1.0,
        pue_source="argument",
    )
    values.update(kwargs)
    run = Run(**values)
    run.add_channel("cpu", "cpu-model", 0.4)
    return run


class SinkContract:
    """Checks every sink must pass. Implement :meth:`make_sink` and :meth:`read_back`;
    implement :meth:`break_target` when the sink's target can be made to fail."""

    def make_sink(self, tmp_path: Path) -> Any:
        """A fresh sink writing under ``tmp_path`` (or to a test database)."""
        raise NotImplementedError("subclasses of SinkContract implement make_sink()")

    def read_back(self, sink: Any, run: Run) -> dict[str, Any]:
        """What the sink persisted: ``{"samples": [...], "metrics": [...], "summary": {...}}``
        (sample and metric rows as dicts with the columns of ``samples.csv``/``metrics.csv``)."""
        raise NotImplementedError("subclasses of SinkContract implement read_back()")

    def break_target(self, sink: Any, tmp_path: Path) -> bool:
        """Make the sink's target fail from now on; False when it cannot be broken."""
        return False

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def batches(run: Run, n: int = 3) -> list[Any]:
        from frugalml.measure.sinks import Batch

        out = []
        for i in range(n):
            t = float(i + 1)
            run.add_energy(
                {("cpu", "cpu-model"): 2.0}, co2e_g=2.0 / 3.6e6 * 56, duration_s=t, rows=1
            )
            samples = [
                {
                    "t_s": t,
                    "timestamp": run.started_at + t,
                    "component": "cpu",
                    "energy_j": 2.0,
                    "power_w": 2.0,
                    "method": "cpu-model",
                }
            ]
            metrics = [
                {
                    "name": "accuracy",
                    "value": 0.5 + i / 10,
                    "step": i,
                    "t_s": t,
                    "timestamp": run.started_at + t,
                    "energy_j": 2.0 * (i + 1),
                }
            ]
            out.append(Batch(i + 1, samples, metrics))
        return out

    # -- checks --------------------------------------------------------------------------
    def test_rows_and_final_state_round_trip(self, tmp_path: Path) -> None:
        sink = self.make_sink(tmp_path)
        run = make_test_run("<b>é</b> 🚀")
        sink.open(run)
        written = self.batches(run)
        for b in written:
            sink.write(run, b)
        run.set_status("finished", exit_code=0)
        sink.close(run)
        back = self.read_back(sink, run)
        samples = [r for b in written for r in b.samples]
        metrics = [r for b in written for r in b.metrics]
        assert [_num(r["energy_j"]) for r in back["samples"]] == [r["energy_j"] for r in samples]
        assert [r["component"] for r in back["samples"]] == ["cpu"] * len(samples)
        assert [_num(r["t_s"]) for r in back["samples"]] == [r["t_s"] for r in samples]
        assert [(r["name"], _num(r["value"])) for r in back["metrics"]] == [
            (r["name"], r["value"]) for r in metrics
        ]
        summary = back["summary"]
        assert summary["id"] == run.id and summary["name"] == run.name
        assert summary["status"] == "finished"
        assert summary["energy_j"]["total"] == sum(r["energy_j"] for r in samples)
        assert not run.errors, run.errors

    def test_write_opens_when_open_was_not_called(self, tmp_path: Path) -> None:
        sink = self.make_sink(tmp_path)
        run = make_test_run()
        for b in self.batches(run, 2):
            sink.write(run, b)
        run.set_status("finished")
        sink.close(run)
        assert len(self.read_back(sink, run)["samples"]) == 2

    def test_close_twice_is_safe(self, tmp_path: Path) -> None:
        sink = self.make_sink(tmp_path)
        run = make_test_run()
        sink.open(run)
        run.set_status("failed", exit_code=3, error="boom")
        sink.close(run)
        sink.close(run)
        summary = self.read_back(sink, run)["summary"]
        assert summary["status"] == "failed" and summary["error"] == "boom"

    def test_failure_is_recorded_never_raised(self, tmp_path: Path) -> None:
        import pytest

        sink = self.make_sink(tmp_path)
        run = make_test_run()
        sink.open(run)
        if not self.break_target(sink, tmp_path):
            pytest.skip("this sink's target cannot be broken here")
        for b in self.batches(run):
            sink.write(run, b)
        run.set_status("finished")
        sink.close(run)  # neither raises
        assert run.errors, "a failing sink must record why in run.errors"
        assert all(e["message"] for e in run.errors)


def _num(value: Any) -> float:
    return float(value)
