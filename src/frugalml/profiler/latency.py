"""Measured latency and energy per inference (the optional, non-deterministic part).

Latency: ``time.perf_counter`` around each of N forward passes after warm-up passes,
with the device synchronised (CUDA) so each time covers the work. Energy: the frugalml
tracker around enough forward passes to last at least ``min_duration_s``, divided by
the passes and the samples in each. Units: seconds, joules.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Energy", "Latency", "measure_energy", "measure_latency"]


@dataclass(frozen=True)
class Latency:
    """Latency of one forward pass on a batch of ``batch_size`` samples.

    Attributes:
        median_s, p10_s, p90_s: median and 10th/90th percentiles of the timed runs.
        iqr_s: interquartile range (p75 − p25), the spread.
        runs, warmup_runs: timed runs, and untimed runs before them.
        batch_size: samples per forward pass.
        method: how the figures were taken.
    """

    median_s: float
    p10_s: float
    p90_s: float
    iqr_s: float
    runs: int
    warmup_runs: int
    batch_size: int
    method: str


@dataclass(frozen=True)
class Energy:
    """Energy per inference measured with the frugalml tracker.

    Attributes:
        energy_j_per_inference: joules per sample (one inference) at ``batch_size``.
        energy_j_per_batch: joules per forward pass on ``batch_size`` samples.
        energy_j_per_1k: joules per 1,000 samples.
        batch_size, batches: samples per pass; passes measured.
        duration_s: time the measured passes took.
        method: the tracker's energy method (e.g. ``"cpu-model+ram-model"``).
        uncertainty: the tracker's relative uncertainty of the total (0.4 = ±40 %).
    """

    energy_j_per_inference: float
    energy_j_per_batch: float
    energy_j_per_1k: float
    batch_size: int
    batches: int
    duration_s: float
    method: str
    uncertainty: float | None


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), ``q`` in [0, 100]."""
    pos = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def measure_latency(
    forward: Callable[[], Any],
    *,
    runs: int,
    warmup_runs: int,
    batch_size: int,
    sync: Callable[[], None] = lambda: None,
) -> Latency:
    """Time ``forward`` ``runs`` times after ``warmup_runs`` untimed calls.

    Example:
        >>> measure_latency(lambda: None, runs=5, warmup_runs=1, batch_size=1).runs
        5
    """
    for _ in range(warmup_runs):
        forward()
    sync()
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        forward()
        sync()
        times.append(time.perf_counter() - start)
    times.sort()
    return Latency(
        median_s=_percentile(times, 50),
        p10_s=_percentile(times, 10),
        p90_s=_percentile(times, 90),
        iqr_s=_percentile(times, 75) - _percentile(times, 25),
        runs=runs,
        warmup_runs=warmup_runs,
        batch_size=batch_size,
        method=(
            f"time.perf_counter per forward pass, {runs} runs after {warmup_runs} warm-up "
            "runs, eval mode, torch.no_grad"
        ),
    )


def measure_energy(
    forward: Callable[[], Any],
    *,
    batch_size: int,
    seconds_per_batch: float,
    min_duration_s: float,
    track: Callable[..., Any],
    sync: Callable[[], None] = lambda: None,
) -> Energy:
    """Run ``forward`` for at least ``min_duration_s`` inside ``track`` and divide its energy.

    Args:
        forward: one forward pass on a batch.
        batch_size: samples per pass.
        seconds_per_batch: a latency estimate, to choose how many passes to run.
        min_duration_s: the least time to measure over (short segments are noisy).
        track: ``frugalml.track`` or a stand-in with the same signature.
        sync: waits for the device to finish.
    """
    batches = max(1, math.ceil(min_duration_s / max(seconds_per_batch, 1e-9)))
    with track("frugalml.profile", db=False) as run:
        for _ in range(batches):
            forward()
        sync()
    total_j = float(run.energy_j["total"])
    per_batch = total_j / batches
    per_sample = per_batch / batch_size
    uncertainty = getattr(run, "uncertainty", {}) or {}
    return Energy(
        energy_j_per_inference=per_sample,
        energy_j_per_batch=per_batch,
        energy_j_per_1k=per_sample * 1000,
        batch_size=batch_size,
        batches=batches,
        duration_s=float(run.duration_s),
        method=str(run.energy_method),
        uncertainty=uncertainty.get("total"),
    )
