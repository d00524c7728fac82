"""The bench harness: train each task's baseline, apply every requested technique, measure all
rows the same way, and write ``results.json`` as it goes.

One :class:`~frugalml.bench.config.BenchConfig` holds every parameter (the CLI and
``frugal demo`` build it too); ``run_bench(config)`` is a short pipeline: the config resolves into a plan (tasks, and the
techniques of each), each task runs its repeats (baseline, then every technique), and the
repeats aggregate into rows.

A technique's whole cost is charged to it: ``Technique.apply`` runs every fine-tuning round,
calibration pass or student training inside one tracked segment. Compression techniques start
from the baseline trained in the same repeat; that shared cost is reported both ways
(``train_energy_j`` is the technique's own, ``train_energy_j_total`` adds the baseline's).
Every row's model is measured by the same code (accuracy, inference energy, latency,
profile); a technique only adds per-sample costs profiling one sample cannot see
(``Technique.bench_evaluate``). A technique that fails is recorded as failed with its
reason; the bench goes on.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from frugalml._lazy import require
from frugalml.bench.config import SUITES, BenchConfig, Plan
from frugalml.bench.measure_model import inference_energy, latency_ms, model_facts
from frugalml.bench.results import SCHEMA, finish_row, write_results
from frugalml.bench.tasks import Task
from frugalml.reduce.registry import available_techniques

__all__ = ["SUITES", "BenchConfig", "Plan", "available_techniques", "run_bench"]

log = logging.getLogger(__name__)

LATENCY_BATCH = 256

OnRow = Callable[[str, str, dict[str, Any]], None]


def run_bench(
    config: BenchConfig | None = None, *, on_row: OnRow | None = None, progress: Any = None
) -> dict[str, Any]:
    """Run the bench; return the results dict (and write ``config.out_dir/results.json``).

    Args:
        config: every parameter of the run (defaults: the quick suite).
        on_row: called as ``on_row(task, row_name, row)`` when a row is complete.
        progress: a ``rich.progress.Progress`` to report on (optional).

    Example:
        >>> cfg = BenchConfig(tasks=["iris-mlp"], techniques=["int8-dynamic"], db=False)
        >>> results = run_bench(cfg)  # doctest: +SKIP
        >>> results["tasks"]["iris-mlp"]["techniques"]["int8-dynamic"]["accuracy"]  # doctest: +SKIP
    """
    config = config or BenchConfig()
    plan = config.plan()
    with _torch_threads(config.threads):
        session = _Session(config, plan, on_row, progress)
        for task in plan.tasks:
            session.results["tasks"][task.name] = _run_task(session, task)
            session.write()
        return session.finish()


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    torch = require("torch", "frugal bench")
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Session:
    """One run's shared state: the results so far, its id, progress and tracker settings."""

    def __init__(self, config: BenchConfig, plan: Plan, on_row: OnRow | None, progress: Any):
        torch = require("torch", "frugal bench")
        from frugalml.measure.hardware import machine_hardware
        from frugalml.measure.tracker import Tracker

        self.config, self.plan, self.on_row, self.progress = config, plan, on_row, progress
        # validates region / PUE / db before any work, and gives the carbon settings
        probe = Tracker(
            "bench", db=config.db, region=config.region, pue=config.pue, handle_signals=False
        )
        self.started = time.time()
        self.bench_id = f"{int(self.started)}"
        machine = machine_hardware()
        machine.update(torch_version=torch.__version__, torch_threads=torch.get_num_threads())
        self.results: dict[str, Any] = {
            "schema": SCHEMA,
            "machine": machine,
            "config": {
                "suite": config.suite,
                "tasks": [t.name for t in plan.tasks],
                "techniques": plan.requested,
                "repeats": plan.repeats,
                "seed": config.seed,
                "started_at": datetime.fromtimestamp(self.started, UTC).isoformat(),
                "duration_s": 0.0,
                "region": probe._region.code,
                "intensity_g_per_kwh": probe._region.intensity_g_per_kwh,
                "pue": probe._pue,
                "latency_batch": LATENCY_BATCH,
                "infer_min_seconds": plan.suite.infer_seconds,
                "technique_params": {k: dict(v) for k, v in config.technique_params.items()},
                "energy_method": None,
            },
            "tasks": {},
        }
        total = sum(plan.repeats * (1 + len(v)) for v in plan.techniques.values())
        self.unit = progress.add_task("bench", total=total) if progress else None

    def tracker_args(self, task: str, row: str, phase: str) -> dict[str, Any]:
        cfg = self.config
        return dict(
            name=f"bench:{task}:{row}:{phase}",
            db=cfg.db,
            region=cfg.region,
            pue=cfg.pue,
            handle_signals=False,
            active=False,  # a technique's epoch reports (early-stop-energy) are not measured
            tags={"bench": self.bench_id, "task": task, "technique": row, "phase": phase},
        )

    def advance(self, description: str, n: int) -> None:
        if self.progress is not None and self.unit is not None:
            self.progress.update(self.unit, description=description, advance=n)

    def row_done(self, task: str, name: str, row: dict[str, Any]) -> None:
        if self.on_row:
            self.on_row(task, name, row)

    def write(self) -> None:
        self.results["config"]["duration_s"] = time.time() - self.started
        if self.config.out_dir is not None:
            write_results(self.config.out_dir, self.results)

    def finish(self) -> dict[str, Any]:
        self.write()
        return self.results


def _run_task(session: _Session, task: Task) -> dict[str, Any]:
    """Every repeat of one task, aggregated into its rows."""
    names = session.plan.techniques[task.name]
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], **{n: [] for n in names}}
    for r in range(session.plan.repeats):
        _run_repeat(session, task, names, r, runs)
    base_row = finish_row("baseline", runs["baseline"], None, {})
    session.row_done(task.name, "baseline", base_row)
    rows: dict[str, Any] = {}
    for name in names:
        rows[name] = finish_row(
            name, runs[name], base_row, dict(session.config.technique_params.get(name, {}))
        )
        session.row_done(task.name, name, rows[name])
    session.results["config"]["energy_method"] = base_row.get("energy_method")
    return {"task": task.describe(), "baseline": base_row, "techniques": rows}


def _run_repeat(
    session: _Session,
    task: Task,
    names: list[str],
    r: int,
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    """One repeat: the baseline (measured on the first), then every technique."""
    cfg, plan = session.config, session.plan
    seed, of = cfg.seed + r, f"(repeat {r + 1}/{plan.repeats})"
    data, X_test, y_test = task.train_data(seed)
    if r == 0:
        _warm_up(task, data, X_test)
    session.advance(f"{task.name}: baseline {of}", 0)
    train_args = session.tracker_args(task.name, "baseline", "train")
    baseline, base_run = _train_baseline(task, data, X_test, y_test, seed, train_args)
    if r == 0:
        infer_args = session.tracker_args(task.name, "baseline", "infer")
        base_run.update(_measure(baseline, X_test, plan.suite.infer_seconds, infer_args))
    runs["baseline"].append(base_run)
    session.advance(f"{task.name}: baseline", 1)
    for name in names:
        session.advance(f"{task.name}: {name} {of}", 0)
        runs[name].append(
            _run_technique(
                name,
                cfg.params_for(task, name),
                _Context(baseline, data, X_test, y_test, seed, base_run),
                measure_s=plan.suite.infer_seconds if r == 0 else None,
                tracker_args=functools.partial(session.tracker_args, task.name, name),
            )
        )
        session.advance(f"{task.name}: {name}", 1)


def _warm_up(task: Task, data: Any, X_test: Any) -> None:
    """One untracked epoch on a few batches, so that one-off costs of the process (PyTorch's
    lazy imports on the first optimiser step, kernel selection) are not charged to whichever
    row happens to run first."""
    torch = require("torch", "frugal bench")
    from frugalml.train.loop import evaluate, fit

    n = min(data.n_samples("train"), 4 * data.batch_size)
    model = task.make_model()
    fit(model, data.subset(torch.arange(n)), epochs=1)
    evaluate(model, X_test[:n], X_test.new_zeros(min(n, len(X_test)), dtype=torch.int64))


def _train_baseline(
    task: Task, data: Any, X_test: Any, y_test: Any, seed: int, tracker_args: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Train the baseline under the tracker, recording accuracy vs cumulative energy per epoch.

    The per-epoch test evaluations (for the curve) run inside the tracked segment but their
    energy is measured and left out of the training energy (``EnergyMeter.exclude``).
    """
    torch = require("torch", "frugal bench")
    from frugalml.measure.meter import EnergyMeter
    from frugalml.measure.tracker import Tracker
    from frugalml.train.loop import EpochEnd, evaluate, fit

    torch.manual_seed(seed)
    model = task.make_model()
    curve: list[list[float]] = []
    tracker = Tracker(**tracker_args)

    def on_epoch(end: EpochEnd) -> None:
        energy = meter.energy_j()
        with meter.exclude():
            acc = evaluate(end.model, X_test, y_test)
        end.model.train()
        curve.append([energy, acc])
        run.log_metric("accuracy", acc, step=end.epoch)

    t0 = time.perf_counter()
    with tracker as run:
        meter = EnergyMeter(lambda: tracker.sample(persist=False).energy_j["total"]).start()
        fit(model, data, callbacks=[on_epoch])
        train_energy_j, train_time_s = meter.stop(), time.perf_counter() - t0
        accuracy = evaluate(model, X_test, y_test)
        run.log_metric("accuracy", accuracy, step=data.epochs)
    return model, {
        "accuracy": accuracy,
        "train_energy_j": train_energy_j,
        "train_time_s": train_time_s,
        "co2e_g": run.co2e_g * train_energy_j / max(run.energy_j["total"], 1e-12),
        "energy_method": run.energy_method,
        "run_ids": [run.id],
        "curve": curve,
        "eval_energy_j": meter.excluded_j,
    }


@dataclass(frozen=True)
class _Context:
    """What one technique run starts from: the repeat's baseline, data and test split."""

    baseline: Any
    data: Any
    X_test: Any
    y_test: Any
    seed: int
    base_run: dict[str, Any]


def _run_technique(
    name: str,
    params: dict[str, Any],
    ctx: _Context,
    *,
    measure_s: float | None,
    tracker_args: Callable[[str], dict[str, Any]],
) -> dict[str, Any]:
    """Apply one technique under the tracker and measure its model (when ``measure_s`` is
    given: the inference-energy window); a failure becomes the row's reason."""
    from frugalml.reduce.registry import get_technique
    from frugalml.train.loop import evaluate

    try:
        technique = get_technique(name, **params)
        technique.bench_context(
            baseline=ctx.base_run, evaluate_test=lambda m: evaluate(m, ctx.X_test, ctx.y_test)
        )
        model, out = _apply_tracked(technique, ctx, tracker_args("train"))
        if measure_s is not None:
            out.update(_measure(model, ctx.X_test, measure_s, tracker_args("infer")))
            out.update(technique.bench_evaluate(model, ctx.X_test, ctx.y_test))
        out["extra"] = technique.report()
        return out
    except Exception as e:  # reported in the row; the bench goes on
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        log.warning("technique %s failed: %s", name, first)
        return {"failed": f"{type(e).__name__}: {first}" if not first.startswith(name) else first}


def _apply_tracked(
    technique: Any, ctx: _Context, tracker_args: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """``technique.apply`` inside a tracked segment (its whole cost), then the test accuracy
    (outside the training energy)."""
    torch = require("torch", "frugal bench")
    from frugalml.measure.tracker import Tracker
    from frugalml.train.loop import evaluate

    torch.manual_seed(ctx.seed)
    start = copy.deepcopy(ctx.baseline) if technique.kind == "compress" else ctx.data.make_model()
    t0 = time.perf_counter()
    tracker = Tracker(**tracker_args)
    with tracker as run:
        model = technique.apply(start, ctx.data)
        # training ends here: evaluating the result is not charged to it
        train_energy_j = tracker.sample(persist=False).energy_j["total"]
        train_time_s = time.perf_counter() - t0
        accuracy = evaluate(model, ctx.X_test, ctx.y_test)
        run.log_metric("accuracy", accuracy)
    return model, {
        "accuracy": accuracy,
        "train_energy_j": train_energy_j,
        "train_time_s": train_time_s,
        "co2e_g": run.co2e_g * train_energy_j / max(run.energy_j["total"], 1e-12),
        "energy_method": run.energy_method,
        "run_ids": [run.id],
        "kind": technique.kind,
        "config": technique.get_params(),
        "curve": technique.curve_,
    }


def _measure(
    model: Any, X_test: Any, infer_seconds: float, tracker_args: dict[str, Any]
) -> dict[str, Any]:
    facts = model_facts(model, X_test)
    e_1k, _method, run_id = inference_energy(
        model, X_test, LATENCY_BATCH, min_seconds=infer_seconds, tracker_args=tracker_args
    )
    return {
        "infer_energy_j_per_1k": e_1k,
        "infer_run_id": run_id,
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
