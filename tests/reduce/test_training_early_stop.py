import dataclasses

import pytest
import torch

from frugalml.errors import InputError
from frugalml.measure.meter import EnergyMeter
from frugalml.reduce.early_stop import EarlyStopEnergy, EnergyAwareEarlyStopping
from frugalml.train import evaluate, fit


def run(stopper, values, joules_per_step=1000.0):
    """Feed values at evenly spaced energies; return the 1-based evaluation that stopped, or None."""
    for i, v in enumerate(values):
        if stopper.update(v, energy_j=joules_per_step * i):
            return i + 1
    return None


def test_absolute_threshold_stops_when_the_window_gain_per_kj_is_too_low():
    stop = EnergyAwareEarlyStopping(window=2, min_gain_per_kj=1.0, monitor="val_accuracy")
    # gains of 10 pt per kJ, then 0.5 pt per kJ: stops at the first window below 1 pt/kJ
    values = [0.50, 0.60, 0.70, 0.705, 0.71, 0.715]
    assert run(stop, values) == 5
    assert stop.rate_per_kj == pytest.approx(0.5)
    assert stop.stopped


def test_never_stops_before_a_full_window():
    stop = EnergyAwareEarlyStopping(window=4, min_gain_per_kj=1e9, monitor="val_accuracy")
    assert run(stop, [0.5] * 4) is None
    assert stop.update(0.5, energy_j=4000.0)


def test_relative_threshold_compares_with_the_average_rate():
    stop = EnergyAwareEarlyStopping(window=2, min_relative_gain=0.2, monitor="val_accuracy")
    # average rate after 5 steps of 1 kJ: (0.80 - 0.40) / 5 kJ = 8 pt/kJ; the last window
    # gains 1 pt over 2 kJ = 0.5 pt/kJ < 0.2 * 8
    assert run(stop, [0.40, 0.60, 0.70, 0.78, 0.79, 0.80]) == 6


def test_running_best_ignores_a_noisy_dip():
    stop = EnergyAwareEarlyStopping(window=2, min_gain_per_kj=1.0, monitor="val_accuracy")
    assert run(stop, [0.5, 0.7, 0.2, 0.9]) is None  # the dip is not a loss of progress
    assert stop.best == pytest.approx(0.9) and stop.best_index == 3


def test_loss_monitors_count_a_decrease_as_gain():
    stop = EnergyAwareEarlyStopping(window=1, min_gain_per_kj=5.0, monitor="train_loss")
    assert run(stop, [1.0, 0.5, 0.3, 0.28]) == 4  # 2 points per kJ at the end
    assert stop.best == pytest.approx(0.28)


def test_energy_that_does_not_advance_cannot_stop_training():
    stop = EnergyAwareEarlyStopping(window=1, min_gain_per_kj=1e9, monitor="val_accuracy")
    assert run(stop, [0.5] * 10, joules_per_step=0.0) is None


def test_bad_parameters_are_explained():
    with pytest.raises(InputError, match="window"):
        EnergyAwareEarlyStopping(window=0)
    with pytest.raises(InputError, match="monitor"):
        EnergyAwareEarlyStopping(monitor="accuracy")
    with pytest.raises(InputError, match="val_data"):
        EnergyAwareEarlyStopping(monitor="val_loss")


def test_energy_meter_counts_from_start_and_excludes_blocks():
    readings = iter([5.0, 7.0, 8.0, 11.0, 12.0, 12.0])
    meter = EnergyMeter(energy_fn=lambda: next(readings)).start()  # origin 5
    assert meter.energy_j() == 2.0
    with meter.exclude():  # 8 -> 11 excluded
        pass
    assert meter.energy_j() == pytest.approx(12.0 - 5.0 - 3.0)
    assert meter.stop() == pytest.approx(4.0)
    assert meter.energy_j() == pytest.approx(4.0)  # frozen after stop


def test_energy_meter_extrapolates_between_throttled_readings():
    calls = []

    def energy():
        calls.append(1)
        return float(len(calls))

    meter = EnergyMeter(energy_fn=energy, min_interval_s=3600).start()
    meter._read()  # a second reading so a mean power exists
    first = meter.energy_j()
    second = meter.energy_j()
    assert len(calls) == 2  # no more readings within the interval
    assert second >= first >= 1.0


def test_callback_in_fit_stops_training(vec_data):
    torch.manual_seed(0)
    model = vec_data.make_model()
    energy = iter(range(0, 10**6, 100))
    stop = EnergyAwareEarlyStopping(
        window=2, min_relative_gain=0.5, monitor="val_accuracy", energy=lambda: next(energy)
    )
    history = fit(model, vec_data, epochs=40, callbacks=[stop], validate=True)
    assert history.stopped_early and history.epochs_run < 40
    assert len(stop.history) == history.epochs_run


def test_callback_needs_validation_for_accuracy(vec_data):
    stop = EnergyAwareEarlyStopping(monitor="val_accuracy", energy=lambda: 0.0)
    with pytest.raises(InputError, match="validate=True"):
        fit(vec_data.make_model(), vec_data, epochs=1, callbacks=[stop])


def test_val_loss_monitor(vec_data):
    stop = EnergyAwareEarlyStopping(
        window=1, monitor="val_loss", val_data=(vec_data.X_val, vec_data.y_val), energy=lambda: 0.0
    )
    fit(vec_data.make_model(), vec_data, epochs=2, callbacks=[stop])
    assert len(stop.history) == 2 and stop.history[1][1] < stop.history[0][1]


def test_technique_stops_early_and_reports(vec_data):
    t = EarlyStopEnergy(window=3, min_relative_gain=0.3, max_epochs=60)
    model = t.apply(vec_data.make_model(), vec_data)
    assert t.stopped_early_ and t.epochs_run_ < 60
    assert t.max_epochs_ == 60
    assert len(t.curve_) == t.epochs_run_
    energies = [e for e, _ in t.curve_]
    assert energies == sorted(energies) and t.energy_j_ > 0
    assert t.curve_split_ == "validation"
    assert evaluate(model, vec_data.X_val, vec_data.y_val) > 0.8
    report = t.report()
    assert {"epochs_run", "stopped_early", "energy_j", "best_epoch"} <= set(report)
    assert EarlyStopEnergy(**t.get_params()).get_params() == t.get_params()


def test_restore_best_returns_the_best_validation_weights(vec_data):
    t = EarlyStopEnergy(window=2, monitor="val_accuracy", max_epochs=8, min_relative_gain=0.0)
    model = t.apply(vec_data.make_model(), vec_data)
    assert evaluate(model, vec_data.X_val, vec_data.y_val) == pytest.approx(t.best_value_)


def test_bench_context_draws_the_curve_on_the_monitor_split(vec_data):
    t = EarlyStopEnergy(max_epochs=4, min_relative_gain=0.0)
    seen = []
    t.bench_context(
        baseline={"accuracy": 0.9, "train_energy_j": 10.0},
        evaluate_test=lambda m: seen.append(1) or 0.5,
    )
    t.apply(vec_data.make_model(), vec_data)
    assert t.curve_split_ == "test" and [a for _, a in t.curve_] == [0.5] * 4
    assert len(seen) == 4
    assert t.baseline_energy_ratio_ == pytest.approx(t.energy_j_ / 10.0)


def test_bad_technique_parameters(vec_data):
    with pytest.raises(InputError, match="monitor"):
        EarlyStopEnergy(monitor="nope").apply(vec_data.make_model(), vec_data)
    with pytest.raises(InputError, match="max_epochs"):
        EarlyStopEnergy(max_epochs=-1).apply(vec_data.make_model(), vec_data)
    no_epochs = dataclasses.replace(vec_data, epochs=0)
    t = EarlyStopEnergy()
    t.apply(no_epochs.make_model(), no_epochs)
    assert t.epochs_run_ == 0


def test_relative_rule_stops_a_run_that_never_improves():
    stop = EnergyAwareEarlyStopping(window=3, monitor="val_accuracy")
    assert run(stop, [1.0] * 10) == 4


def test_a_callback_that_measures_itself_stops_its_meter_after_the_fit(vec_data):
    """energy=None: the callback starts a meter (a tracker and its sampler thread) at the first
    epoch; after the fit's last epoch nothing of it is left running."""
    from frugalml.measure import tracker as tracker_module

    stop = EnergyAwareEarlyStopping(window=50, monitor="train_loss")
    fit(vec_data.make_model(), vec_data, epochs=2, callbacks=[stop])
    assert len(stop.history) == 2 and stop._meter is not None
    assert not list(tracker_module._LIVE)
