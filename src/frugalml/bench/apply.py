"""One technique row of the bench: apply its recipe (one technique or a stack) under the
tracker, then measure the model it returns the way every row is measured.

Each step of a recipe is its own tracked segment (``bench:<task>:<row>:train`` for one step,
``...:train:<i>:<technique>`` for the steps of a stack); the row is charged the sum of their
energy and time, and keeps each step's figures and ``report()`` in ``steps``. A step that
fails fails the row, the reason naming the step. On a device a technique's kernels lack (eager
int8 on a GPU), that technique runs on the CPU, and so does everything after it: the row's
``device`` says where its model was measured.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from frugalml._lazy import require
from frugalml.bench.chain import Stack
from frugalml.bench.measure_model import latency_ms, measure_inference, model_facts

__all__ = ["LATENCY_BATCH", "Context", "measure", "run_stack"]

log = logging.getLogger(__name__)

LATENCY_BATCH = 256


@dataclass
class Context:
    """What one row starts from: the repeat's baseline, data, test split and device.

    ``on_cpu`` builds the same on the CPU (for techniques whose kernels the device lacks);
    it is called at most once.
    """

    baseline: Any
    data: Any
    X_test: Any
    y_test: Any
    seed: int
    base_run: dict[str, Any]
    device: str = "cpu"
    on_cpu: Callable[[], Context] | None = None
    _cpu: Context | None = field(default=None, repr=False)

    def cpu(self) -> Context:
        if self.device == "cpu":
            return self
        if self._cpu is None:
            assert self.on_cpu is not None
            self._cpu = self.on_cpu()
        return self._cpu


def _components(energy_j: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in energy_j.items()}


def _add(a: dict[str, float], b: Mapping[str, float]) -> dict[str, float]:
    return {k: a.get(k, 0.0) + float(b.get(k, 0.0)) for k in {*a, *b}}


def run_stack(
    stack: Stack,
    params_for: Callable[[str, Mapping[str, Any]], dict[str, Any]],
    ctx: Context,
    *,
    measure_s: float | None,
    tracker_args: Callable[[str], dict[str, Any]],
    shared: dict[str, tuple[Any, list[dict[str, Any]], Context]] | None = None,
) -> dict[str, Any]:
    """Apply every step of ``stack`` (each tracked), then measure the final model when
    ``measure_s`` is given (the inference-energy window); a failure becomes the row's reason.

    Args:
        stack: the row's recipe.
        params_for: ``params_for(technique_name, recipe_params)`` -> the step's parameters.
        ctx: the repeat's baseline, data and device.
        measure_s: seconds of the inference-energy window, or None (later repeats).
        tracker_args: ``tracker_args(phase)`` -> Tracker keyword arguments.
        shared: the models and steps of the recipes already run in this repeat, by name.
            A recipe whose first steps are such a recipe (``distill+int8-static`` after
            ``distill``) starts from its model and is charged its measured steps: the same
            computation (same seed, same start) is not run twice. Updated with this row's.
    """
    from frugalml.reduce.registry import get_technique
    from frugalml.train.loop import evaluate

    n = len(stack.steps)
    model: Any = None
    steps: list[dict[str, Any]] = []
    technique: Any = None
    where = ctx
    shared = {} if shared is None else shared
    done = next((k for k in range(n - 1, 0, -1) if Stack(stack.steps[:k]).name in shared), 0)
    if done:
        model, ran, where = shared[Stack(stack.steps[:done]).name]
        steps = [
            {**s, "shared_with": s.get("shared_with") or Stack(stack.steps[:done]).name}
            for s in ran
        ]
    for i, step in enumerate(stack.steps):
        if i < done:
            continue
        label = step.name if n == 1 else f"step {i + 1}/{n} ({step.name})"
        try:
            technique = get_technique(step.name, **params_for(step.name, step.params))
            if where.device not in technique.devices:
                where = where.cpu()
                model = None if model is None else copy.deepcopy(model).to("cpu")
            here = where
            technique.bench_context(
                baseline=ctx.base_run,
                evaluate_test=lambda m, c=here: evaluate(m, c.X_test, c.y_test),
            )
            if model is None:
                torch = require("torch", "frugal bench")
                torch.manual_seed(here.seed)
                model = (
                    copy.deepcopy(here.baseline)
                    if technique.kind == "compress"
                    else here.data.make_model()
                )
            model, out = _apply_tracked(
                technique,
                model,
                here,
                tracker_args("train" if n == 1 else f"train:{i + 1}:{step.name}"),
            )
            out.update(
                name=step.name,
                kind=technique.kind,
                config=technique.get_params(),
                uses_labels=technique.needs.data in ("train", "train+val"),
                device=here.device,
                report=technique.report(),
            )
            steps.append(out)
            shared[Stack(stack.steps[: i + 1]).name] = (model, list(steps), where)
        except Exception as e:  # reported in the row; the bench goes on
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            if not first.startswith(step.name):
                first = f"{type(e).__name__}: {first}"
            reason = first if n == 1 else f"{label} failed: {first}"
            log.warning("%s failed: %s", stack.name, reason)
            return {"failed": reason, "steps": steps}
    measured: dict[str, Any] = {}
    if measure_s is not None:
        try:
            measured.update(measure(model, where.X_test, measure_s, tracker_args("infer")))
            measured.update(technique.bench_evaluate(model, where.X_test, where.y_test))
        except Exception as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            return {"failed": f"measuring the model failed: {type(e).__name__}: {first}"}
        steps[-1]["report"] = technique.report()  # with what bench_evaluate measured
    row = _combine(steps, technique)
    row.update(measured, device=where.device)
    return row


def _combine(steps: list[dict[str, Any]], last: Any) -> dict[str, Any]:
    """The row of a recipe from its steps: costs summed, the last step's model and accuracy."""
    components: dict[str, float] = {}
    for s in steps:
        components = _add(components, s["train_energy_j_components"])
    single = len(steps) == 1
    extra = (
        dict(steps[0]["report"])
        if single
        else {
            f"{i + 1}.{s['name']}.{k}": v
            for i, s in enumerate(steps)
            for k, v in s["report"].items()
        }
    )
    return {
        "accuracy": steps[-1]["accuracy"],
        "train_energy_j": sum(s["train_energy_j"] for s in steps),
        "train_energy_j_components": components,
        "train_time_s": sum(s["train_time_s"] for s in steps),
        "co2e_g": sum(s["co2e_g"] for s in steps),
        "energy_method": steps[0]["energy_method"],
        "run_ids": [i for s in steps for i in s["run_ids"]],
        "kind": steps[0]["kind"],
        "config": steps[0]["config"]
        if single
        else {"steps": [{"name": s["name"], "params": s["config"]} for s in steps]},
        "curve": last.curve_ if single else None,
        "extra": extra,
        "steps": [{k: v for k, v in s.items() if k != "run_ids"} for s in steps],
    }


def _apply_tracked(
    technique: Any, start: Any, ctx: Context, tracker_args: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """``technique.apply(start, data)`` inside a tracked segment (its whole cost), then the
    test accuracy (outside the training energy)."""
    torch = require("torch", "frugal bench")
    from frugalml.measure.tracker import Tracker
    from frugalml.train.loop import evaluate

    torch.manual_seed(ctx.seed)
    t0 = time.perf_counter()
    tracker = Tracker(**tracker_args)
    with tracker as run:
        model = technique.apply(start, ctx.data)
        _sync(ctx.device)
        # training ends here: evaluating the result is not charged to it
        energy = _components(tracker.sample(persist=False).energy_j)
        train_time_s = time.perf_counter() - t0
        accuracy = evaluate(model, ctx.X_test, ctx.y_test)
        run.log_metric("accuracy", accuracy)
    return model, {
        "accuracy": accuracy,
        "train_energy_j": energy["total"],
        "train_energy_j_components": energy,
        "train_time_s": train_time_s,
        "co2e_g": run.co2e_g * energy["total"] / max(run.energy_j["total"], 1e-12),
        "energy_method": run.energy_method,
        "run_ids": [run.id],
    }


def _sync(device: str) -> None:
    """Wait for queued GPU work, so a segment's end is when the work ended."""
    if device != "cpu":
        torch = require("torch", "frugal bench")
        torch.cuda.synchronize()


def measure(
    model: Any, X_test: Any, infer_seconds: float, tracker_args: dict[str, Any]
) -> dict[str, Any]:
    """Inference energy per 1,000 samples (and per component), latency at batch 1 and
    :data:`LATENCY_BATCH`, parameters, size and operation counts of ``model``."""
    facts = model_facts(model, X_test)
    energy = measure_inference(
        model, X_test, LATENCY_BATCH, min_seconds=infer_seconds, tracker_args=tracker_args
    )
    return {
        "infer_energy_j_per_1k": energy.j_per_1k,
        "infer_energy_j_per_1k_components": energy.components_j_per_1k,
        "infer_run_id": energy.run_id,
        "latency_ms": {
            "batch_1": latency_ms(model, X_test, 1),
            f"batch_{LATENCY_BATCH}": latency_ms(model, X_test, LATENCY_BATCH),
        },
        "params": facts.params,
        "params_nonzero": facts.params_nonzero,
        "size_bytes": facts.size_bytes,
        "macs": facts.macs,
        "flops": facts.flops,
        "flops_effective": facts.flops_effective,
    }
