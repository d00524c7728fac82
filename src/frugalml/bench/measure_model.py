"""Measure one trained model the same way for every row: accuracy, latency, inference energy,
size and operation counts.

Latency is the median of timed forward passes after warm-up (batch 1 and a stated larger
batch), each on the next window of the test split, so that a model whose cost depends on the
input (early exits) is timed on a spread of samples. Inference energy per 1,000 samples is measured with the tracker over repeated passes
on the test split at the larger batch, for at least ``min_seconds`` so that the start and stop
readings bracket a meaningful amount of work.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "InferenceEnergy",
    "ModelFacts",
    "inference_energy",
    "latency_ms",
    "measure_inference",
    "model_facts",
]


@dataclass
class ModelFacts:
    """What the row reports about a model's size and cost (per sample, batch 1 forward)."""

    params: int
    params_nonzero: int
    size_bytes: int
    macs: int
    flops: int
    flops_effective: int


def model_facts(model: nn.Module, example: torch.Tensor) -> ModelFacts:
    """Parameters, saved size and MACs/FLOPs of ``model`` on one sample (frugalml.profile)."""
    from frugalml.profiler import profile

    p = profile(model, (example[:1],), state_dict_size=True)
    return ModelFacts(
        params=int(p.params),
        params_nonzero=int(p.params_nonzero or 0),
        size_bytes=int(p.state_dict_bytes or 0),
        macs=int(p.macs),
        flops=int(p.flops),
        flops_effective=int(p.flops_effective or 0),
    )


def latency_ms(
    model: nn.Module,
    X: torch.Tensor,
    batch: int,
    *,
    budget_s: float = 0.3,
    max_runs: int = 200,
    warmup: int = 3,
) -> float:
    """Median wall time (ms) of one forward pass on ``batch`` samples, in inference mode, each
    pass on the next window of ``X``."""
    torch = require("torch", "bench latency")
    reps = -(-batch // len(X))
    if batch > len(X):
        windows = [X.repeat(reps, *[1] * (X.dim() - 1))[:batch]]
    else:
        windows = [X[i : i + batch] for i in range(0, len(X) - batch + 1, batch)]
    times: list[float] = []
    sync = _synchronizer(X)
    with torch.inference_mode():
        for _ in range(warmup):
            model(windows[0])
        sync()
        start = time.perf_counter()
        while len(times) < max_runs and (len(times) < 5 or time.perf_counter() - start < budget_s):
            xb = windows[len(times) % len(windows)]
            t = time.perf_counter()
            model(xb)
            sync()
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _synchronizer(X: torch.Tensor) -> Any:
    """A function waiting for the queued GPU work when ``X`` is on a GPU (kernels are
    asynchronous there: without it a pass would be timed as the time to queue it)."""
    torch = require("torch", "bench latency")
    if X.device.type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


@dataclass(frozen=True)
class InferenceEnergy:
    """Energy of repeated inference, per 1,000 samples: in all and per component."""

    j_per_1k: float
    components_j_per_1k: dict[str, float]
    method: str
    run_id: str


def measure_inference(
    model: nn.Module,
    X: torch.Tensor,
    batch: int,
    *,
    min_seconds: float,
    tracker_args: dict[str, Any],
) -> InferenceEnergy:
    """Energy per 1,000 samples over repeated passes on ``X`` at ``batch``, for at least
    ``min_seconds``, in all and per component (``cpu``, ``dram``, ``gpu`` ...)."""
    torch = require("torch", "bench inference energy")
    from frugalml.measure.tracker import Tracker

    samples = 0
    sync = _synchronizer(X)
    with torch.inference_mode():
        model(X[:batch])  # warm-up outside the measurement
        sync()
        with Tracker(**tracker_args) as run:
            start = time.perf_counter()
            while samples == 0 or time.perf_counter() - start < min_seconds:
                for i in range(0, len(X), batch):
                    model(X[i : i + batch])
                sync()
                samples += len(X)
    per_1k = {k: v / samples * 1000 for k, v in run.energy_j.items()}
    return InferenceEnergy(per_1k["total"], per_1k, run.energy_method, run.id)


def inference_energy(
    model: nn.Module,
    X: torch.Tensor,
    batch: int,
    *,
    min_seconds: float,
    tracker_args: dict[str, Any],
) -> tuple[float, str, str]:
    """Energy (J) per 1,000 samples over repeated passes on ``X``; returns (J/1k, method, run id)."""
    m = measure_inference(model, X, batch, min_seconds=min_seconds, tracker_args=tracker_args)
    return m.j_per_1k, m.method, m.run_id
