"""EnergyMeter: the cumulative energy the training techniques draw their curves from."""

from __future__ import annotations

from frugalml.measure import meter as meter_module
from frugalml.measure.meter import EnergyMeter


def test_energy_never_goes_down_when_a_reading_falls_behind_the_extrapolation(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(meter_module.time, "perf_counter", lambda: now[0])
    readings = iter([0.0, 10.0, 11.0, 30.0])
    m = EnergyMeter(energy_fn=lambda: next(readings), min_interval_s=1.0).start()
    now[0] = 1.0
    assert m.energy_j() == 10.0  # read: 10 W since start
    now[0] = 1.5
    assert m.energy_j() == 15.0  # within the interval: extrapolated at 10 W
    now[0] = 2.1
    assert m.energy_j() == 15.0  # the next reading (11 J) is behind: held, never 11
    now[0] = 3.5
    assert m.energy_j() == 30.0  # the readings caught up
