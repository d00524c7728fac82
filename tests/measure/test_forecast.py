"""The forecast model on synthetic epoch series whose true totals are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from frugalml.carbon import IntensityTimeline
from frugalml.errors import InputError
from frugalml.measure import _forecast_stop
from frugalml.measure.forecast import (
    EarlyStopping,
    EpochReading,
    Forecaster,
    forecast,
    format_forecast,
)


def readings(costs: list[float], seconds: list[float] | None = None) -> list[EpochReading]:
    """Cumulative readings from per-epoch joules (and seconds, default 1 J = 0.1 s)."""
    seconds = seconds or [c / 10 for c in costs]
    e = np.cumsum(costs)
    t = np.cumsum(seconds)
    return [EpochReading(i + 1, float(t[i]), float(e[i])) for i in range(len(costs))]


def mean_epoch(costs: list[float], seen: int, total: int) -> float:
    """carbontracker's method: mean epoch so far x all epochs."""
    return sum(costs[:seen]) / seen * total


def noisy(base: np.ndarray, seed: int = 0, rel: float = 0.03) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(base * (1 + rel * rng.standard_normal(len(base))))


def test_steady_run_is_exact_and_says_level() -> None:
    costs = [10.0] * 30
    f = forecast(readings(costs[:3]), 30, intensity_g_per_kwh=360.0, pue=1.5)
    assert f.energy_j == pytest.approx(300.0)
    assert f.method == "level"
    assert f.epochs_seen == 3 and f.total_epochs == 30
    assert f.duration_s == pytest.approx(30.0)
    assert f.co2e_g == pytest.approx(300.0 / 3.6e6 * 1.5 * 360.0)
    assert f.energy_j_low <= f.energy_j <= f.energy_j_high


def test_noisy_steady_run_within_five_percent_with_interval() -> None:
    costs = noisy(np.full(30, 5.0), seed=1)
    f = forecast(readings(costs[:8]), 30)
    truth = sum(costs)
    assert abs(f.energy_j / truth - 1) < 0.05
    assert f.energy_j_low < truth < f.energy_j_high
    assert f.method == "level"


def test_slow_first_epoch_is_set_aside_and_beats_mean_epoch() -> None:
    costs = [40.0, *noisy(np.full(29, 5.0), seed=2)]
    f = forecast(readings(costs[:3]), 30)
    truth = sum(costs)
    assert f.method == "level+warm-up"
    assert abs(f.energy_j / truth - 1) < 0.05
    assert abs(mean_epoch(costs, 3, 30) / truth - 1) > 1.0  # carbontracker: more than double


@pytest.mark.parametrize("slope", [0.5, -0.12])
def test_growing_and_shrinking_costs_follow_the_trend(slope: float) -> None:
    base = 5.0 + slope * np.arange(1, 31)
    costs = noisy(base, seed=3, rel=0.01)
    f = forecast(readings(costs[:8]), 30)
    truth = sum(costs)
    assert f.method == "trend"
    ours = abs(f.energy_j / truth - 1)
    theirs = abs(mean_epoch(costs, 8, 30) / truth - 1)
    assert ours < 0.05 and ours < theirs / 3
    assert f.energy_j_low < truth < f.energy_j_high


def test_regime_change_keeps_the_recent_level() -> None:
    costs = [2.0] * 10 + [6.0] * 20
    f = forecast(readings(costs[:14]), 30)
    assert f.method == "recent-level"
    assert f.energy_j == pytest.approx(sum(costs))


def test_noise_alone_is_rarely_taken_for_a_trend_or_a_step() -> None:
    methods = [
        forecast(readings(noisy(np.full(12, 3.0), seed=seed, rel=0.05)), 30).method
        for seed in range(100)
    ]
    assert methods.count("level") >= 0.95 * len(methods)


def test_schedule_foresees_a_stage_not_yet_started() -> None:
    work = [1.0] * 10 + [3.0] * 20
    costs = [2.0 * w for w in work]
    blind = forecast(readings(costs[:3]), 30)
    f = forecast(readings(costs[:3]), 30, work=work)
    assert f.method == "level+schedule"
    assert f.energy_j == pytest.approx(sum(costs))
    assert blind.energy_j == pytest.approx(60.0)  # without the schedule: the stage is unseen


def test_single_epoch_is_carbontrackers_estimate_with_a_wide_interval() -> None:
    f = forecast(readings([10.0]), 20)
    assert f.method == "single-epoch"
    assert f.energy_j == pytest.approx(200.0)
    assert f.energy_j_high - f.energy_j_low > 0.3 * f.energy_j


def test_every_reading_after_the_last_epoch_is_done() -> None:
    costs = [3.0] * 5
    f = forecast(readings(costs), 5)
    assert f.method == "done"
    assert f.energy_j == f.energy_j_low == f.energy_j_high == pytest.approx(15.0)
    assert format_forecast(f).endswith(", done")


def test_readings_every_few_epochs_and_an_origin() -> None:
    r = [EpochReading(2, 12.0, 120.0), EpochReading(4, 14.0, 140.0), EpochReading(6, 16.0, 160.0)]
    f = forecast(r, 10, origin=EpochReading(0, 10.0, 100.0))
    assert f.energy_j == pytest.approx(200.0)
    assert f.duration_s == pytest.approx(20.0)


def test_expected_stop_forecasts_fewer_epochs() -> None:
    costs = [4.0] * 8
    f = forecast(readings(costs), 100, early_stopping=EarlyStopping.expected(12))
    assert f.epochs_expected == 12
    assert f.energy_j == pytest.approx(48.0)
    assert f.method == "level+early-stop"


def test_patience_rule_stops_soon_when_nothing_improves() -> None:
    flat = [1.0, 0.5, 0.4] + [0.4] * 7  # 7 epochs without improvement, patience 10
    est = _forecast_stop.estimate_stop(EarlyStopping.with_patience(10, values=flat), 10, 100)
    assert est.low == 13  # three more epochs without improvement at the least
    improving = list(np.linspace(1.0, 0.1, 10))
    est2 = _forecast_stop.estimate_stop(EarlyStopping.with_patience(10, values=improving), 10, 100)
    assert est2.epochs > 1.5 * est.epochs  # still improving every epoch: no end in sight
    assert est2.low <= est2.epochs <= est2.high <= 100
    since = _forecast_stop.estimate_stop(
        EarlyStopping.with_patience(3, epochs_since_best=2), 10, 100
    )
    assert since.low == 11


def test_relative_gain_rule_matches_the_stopper_on_a_smooth_curve() -> None:
    from frugalml.reduce.early_stop import EnergyAwareEarlyStopping

    loss = [2.0 * math.exp(-0.35 * e) + 0.05 for e in range(1, 61)]
    stopper = EnergyAwareEarlyStopping(window=5, min_relative_gain=0.1, monitor="train_loss")
    stopped_at = next(
        i + 1 for i, v in enumerate(loss) if stopper.update(v, energy_j=10.0 * (i + 1))
    )
    state = EarlyStopping.relative_gain(5, 0.1, values=loss[:6])
    est = _forecast_stop.estimate_stop(state, 6, 60)
    assert abs(est.epochs - stopped_at) <= 1
    assert est.low <= stopped_at <= est.high
    early = _forecast_stop.estimate_stop(EarlyStopping.relative_gain(5, values=loss[:2]), 2, 60)
    assert (early.epochs, early.low, early.high) == (6, 6, 60)


def test_co2e_with_a_timeline_charges_future_epochs_when_they_run() -> None:
    # 1 kWh per epoch, 1 h per epoch; clean grid (100) for 2 h, then dirty (500)
    tl = IntensityTimeline([0.0, 7200.0], [100.0, 500.0])
    r = [EpochReading(1, 3600.0, 3.6e6)]
    f = forecast(r, 4, timeline=tl, started_at=0.0)
    assert f.co2e_g == pytest.approx(100 + 100 + 500 + 500)
    assert f.finish_at == pytest.approx(4 * 3600.0)
    given = forecast(r, 4, timeline=tl, started_at=0.0, co2e_g_so_far=50.0)
    assert given.co2e_g == pytest.approx(50 + 100 + 500 + 500)


def test_format_uses_the_issue_shape() -> None:
    f = forecast(readings([1230.0] * 3, [19.0] * 3), 10, intensity_g_per_kwh=1700.0)
    assert format_forecast(f) == "forecast: 12.3 kJ [11.6-13.0], 5.81 g CO2e, done in 2 min 13 s"
    big = forecast(readings([3.6e6] * 2), 4)
    assert format_forecast(big).startswith("forecast: 4.00 kWh [")


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([], "at least one"),
        ([EpochReading(2, 1.0, 5.0), EpochReading(1, 2.0, 6.0)], "move forward"),
        ([EpochReading(1, 1.0, 5.0), EpochReading(2, 2.0, 4.0)], "move forward"),
        ([EpochReading(1, 1.0, float("nan"))], "non-finite"),
        ([EpochReading(11, 1.0, 5.0)], "past total_epochs"),
    ],
)
def test_bad_readings_are_one_clear_error(bad: list[EpochReading], match: str) -> None:
    with pytest.raises(InputError, match=match):
        forecast(bad, 10)


def test_bad_arguments() -> None:
    r = readings([1.0, 1.0])
    with pytest.raises(InputError, match="total_epochs"):
        forecast(r, 0)
    with pytest.raises(InputError, match="work"):
        forecast(r, 4, work=[1.0, 2.0])
    with pytest.raises(InputError, match="started_at"):
        forecast(r, 4, timeline=IntensityTimeline([0.0], [1.0]))
    with pytest.raises(InputError, match="patience"):
        EarlyStopping.with_patience(0)
    with pytest.raises(InputError, match="finite"):
        EarlyStopping.relative_gain(3, values=[1.0, float("inf")])


def test_forecaster_keeps_history_and_rates_its_lines() -> None:
    fc = Forecaster(print_every_s=100.0)
    assert fc.update(None, 1.0, 10.0) is None  # total epochs not known yet
    f2 = fc.update(None, 2.0, 20.0, total_epochs=50)
    assert f2 is not None and f2.epochs_seen == 2 and fc.due(f2)
    f3 = fc.update(None, 3.0, 30.0)
    assert f3 is not None and not fc.due(f3)  # same forecast, 1 s later
    f4 = fc.update(None, 4.0, 60.0)  # a costlier epoch moves the forecast by > 10 %
    assert f4 is not None and fc.due(f4)
    assert [f.epochs_seen for f in fc.history] == [2, 3, 4]
    with pytest.raises(InputError):
        fc.update(3, 5.0, 70.0)  # epoch 3 again
    assert len(fc.readings) == 4


def test_the_step_search_from_cumulative_sums_matches_trying_every_split():
    """``_best_step`` scores every split at once; the scan it replaced is the reference."""
    from frugalml.measure._forecast_series import MIN_SEGMENT, _best_step

    def scan(y, w):
        n, best = len(y), None
        splits = range(MIN_SEGMENT, n - MIN_SEGMENT + 1)
        for k in splits:
            m1, m2 = np.average(y[:k], weights=w[:k]), np.average(y[k:], weights=w[k:])
            sse = np.sum(w[:k] * (y[:k] - m1) ** 2) + np.sum(w[k:] * (y[k:] - m2) ** 2)
            t = abs(m2 - m1) / math.sqrt(sse / (n - 2) * (1 / w[:k].sum() + 1 / w[k:].sum()))
            if best is None or t > best[2]:
                best = (k, sse, t, len(splits))
        return best

    rng = np.random.default_rng(0)
    for n in (2 * MIN_SEGMENT, 7, 40, 300):
        y = 1e6 + rng.normal(0, 1, n) + np.where(np.arange(n) > n // 3, 3.0, 0.0)
        w = rng.integers(1, 3, n).astype(float)
        got, want = _best_step(y, w), scan(y, w)
        assert got is not None and want is not None
        assert got[0] == want[0] and got[3] == want[3]
        assert got[1] == pytest.approx(want[1], rel=1e-6) and got[2] == pytest.approx(want[2])
