"""When: the start minimising CO2e over a forecast series, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from frugalml.advise.when import MAX_SEGMENTS, advise_when, power_profile
from frugalml.carbon import IntensityTimeline
from frugalml.errors import InputError

H = 3600.0


def brute_force(profile, tl, pue, starts):
    """CO2e of the profile at each start, with IntensityTimeline's own arithmetic."""
    out = []
    for s in starts:
        samples = [(s + b, e) for a, b, e in profile]
        out.append(tl.co2e_g(samples, pue, t_start_unix=s + profile[0][0]))
    return np.array(out)


def test_best_start_is_the_exact_minimum_for_an_uneven_profile() -> None:
    tl = IntensityTimeline(np.arange(0, 24 * H, H), [300, 280, 250, 90, 60, 400, 500, 450] * 3)
    # 2.5 h: a heavy first hour, then light
    profile = [(0.0, H, 3.0e6), (H, 2 * H, 1.0e6), (2 * H, 2.5 * H, 0.5e6)]
    now = 0.25 * H
    options = advise_when(profile, tl, pue=1.2, now_unix=now, top=3)
    starts = np.arange(now, 24 * H - 2.5 * H + 1, 60.0)  # every minute
    grams = brute_force(profile, tl, 1.2, starts)
    best = options[0]
    assert best.co2e_g == pytest.approx(grams.min(), rel=1e-9)
    assert best.co2e_g_now == pytest.approx(grams[0], rel=1e-9)
    assert best.saving_ratio == pytest.approx(1 - best.co2e_g / best.co2e_g_now)
    assert best.best_start.endswith("Z") and best.best_start.startswith("1970-01-01T")
    assert len(options) == 3 and options[0].co2e_g <= options[1].co2e_g <= options[2].co2e_g


def test_now_can_be_best_and_series_too_short_is_an_error() -> None:
    tl = IntensityTimeline([0.0, H, 2 * H], [100.0, 200.0, 300.0])
    best = advise_when([(0.0, H, 3.6e6)], tl, pue=1.0, now_unix=0.0)[0]
    assert best.saving_ratio == 0 and best.co2e_g == pytest.approx(100.0)
    with pytest.raises(InputError, match="covers at least"):
        advise_when([(0.0, 5 * H, 3.6e6)], tl, pue=1.0, now_unix=0.0)
    with pytest.raises(InputError, match="no energy profile"):
        advise_when([], tl, pue=1.0, now_unix=0.0)


def test_power_profile_sums_components_and_long_profiles_are_coarsened() -> None:
    rows = [
        {"t_s": 0.0, "energy_j": 0.5},
        {"t_s": 1.0, "energy_j": 2.0},
        {"t_s": 1.0, "energy_j": 1.0},
        {"t_s": 3.0, "energy_j": 4.0},
    ]
    assert power_profile(rows) == [(0.0, 1.0, 3.5), (1.0, 3.0, 4.0)]
    long = [(float(i), float(i + 1), 1.0 + (i % 7)) for i in range(3000)]
    tl = IntensityTimeline(np.arange(0, 48 * H, 600.0), np.linspace(100, 400, 288))
    best = advise_when(long, tl, pue=1.0, now_unix=0.0)[0]
    assert f"coarsened to {MAX_SEGMENTS}" in best.basis
    assert best.co2e_g <= best.co2e_g_now
