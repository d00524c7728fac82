"""Quick timings that techniques take at ``apply`` time to choose kernels or explain a result.

Variants are timed interleaved (each round runs every variant once), after one untimed
warm-up run, under ``torch.inference_mode``; each stops after ``repeats`` runs or once it
has used ``budget_s`` (at least one timed run), so a slow emulated kernel costs a second,
not a minute. Medians in seconds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from frugalml._lazy import require

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["SpeedFacts", "batch_of", "median_times", "speed_facts"]

# a variant must beat the reference by this factor to be chosen: run-to-run timing noise on
# a shared machine is about 10 %
MARGIN = 1.1


def median_times(
    variants: Sequence[Callable[[], object]], repeats: int = 9, budget_s: float = 0.2
) -> list[float]:
    """Median seconds of each variant (interleaved runs, after one warm-up each)."""
    torch = require("torch", "timing kernels")
    times: list[list[float]] = [[] for _ in variants]
    spent = [0.0] * len(variants)
    with torch.inference_mode():
        for fn in variants:
            fn()
        for _ in range(repeats):
            for i, fn in enumerate(variants):
                if times[i] and spent[i] >= budget_s:
                    continue
                start = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - start
                times[i].append(elapsed)
                spent[i] += elapsed
    return [statistics.median(t) for t in times]


def batch_of(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``rows`` rows from ``x``, repeating it when it has fewer."""
    reps = -(-rows // max(len(x), 1))
    return (x.repeat(reps, *[1] * (x.dim() - 1)) if reps > 1 else x)[:rows]


@dataclass(frozen=True)
class SpeedFacts:
    """A reduced model against its float original, timed at batch 1 and at ``batch``."""

    batch: int
    float_call_s: float  # batch 1: the fixed per-call cost
    call_s: float
    float_batch_s: float
    batch_s: float

    @property
    def speedup(self) -> float:
        """Float time / reduced time at ``batch`` (> 1: faster)."""
        return self.float_batch_s / self.batch_s if self.batch_s else 0.0

    def per_sample_s(self, which: str) -> float:
        """Marginal seconds per extra sample between batch 1 and ``batch``."""
        one, many = (
            (self.float_call_s, self.float_batch_s)
            if which == "float"
            else (self.call_s, self.batch_s)
        )
        return max(many - one, 0.0) / max(self.batch - 1, 1)

    def note(self, slow_kernels: str) -> str:
        """Why the reduced model is slower or faster, in one line of measured figures.

        ``slow_kernels`` names the reason when even the per-sample cost is higher (e.g.
        ``"this CPU has no float16 arithmetic (emulated)"``).
        """
        head = f"{self.speedup:.2f}x the float model's speed at batch {self.batch}"
        calls = (
            f"per call {self.call_s * 1e6:.0f} us vs {self.float_call_s * 1e6:.0f} us float "
            f"(batch 1); per sample {self.per_sample_s('reduced') * 1e6:.2f} us vs "
            f"{self.per_sample_s('float') * 1e6:.2f} us"
        )
        if self.speedup >= 1:
            return f"{head}: {calls}"
        call_extra = self.call_s - self.float_call_s
        saved = self.per_sample_s("float") - self.per_sample_s("reduced")
        if saved > 0 and call_extra > 0:
            return (
                f"{head}: per-call overhead dominates at this model size, faster only from "
                f"batch ~{int(call_extra / saved) + 1}; {calls}"
            )
        if call_extra > -saved * (self.batch - 1):  # the fixed cost outweighs the per-sample
            return (
                f"{head}: per-call overhead dominates at this model size, and it is not "
                f"faster per sample either ({slow_kernels}); {calls}"
            )
        return f"{head}: slower per sample, {slow_kernels}; {calls}"


def speed_facts(
    float_model: nn.Module, model: nn.Module, example: torch.Tensor, batch: int = 256
) -> SpeedFacts:
    """Time ``float_model`` and ``model`` at batch 1 and ``batch`` rows of ``example``."""
    x1, xb = batch_of(example, 1), batch_of(example, batch)
    f1, q1, fb, qb = median_times(
        [
            lambda: float_model(x1),
            lambda: model(x1),
            lambda: float_model(xb),
            lambda: model(xb),
        ]
    )
    return SpeedFacts(batch, f1, q1, fb, qb)
