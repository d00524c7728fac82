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
reason; the bench goes on. A row may be a recipe of several techniques applied in turn
(:mod:`frugalml.bench.apply`, :mod:`frugalml.bench.chain`), charged every step's cost.

Once a task's rows are aggregated, each gets its verdict on what it is for and, when it does
not win, the measured reason (:mod:`frugalml.bench.verdict`); the task gets its best winning
row per purpose (``best``) and a summary naming them.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from frugalml._lazy import require
from frugalml.bench.apply import LATENCY_BATCH, Context, measure, run_stack
from frugalml.bench.config import SUITES, BenchConfig, Plan
from frugalml.bench.results import SCHEMA, finish_row, write_results
from frugalml.bench.tasks import Task
from frugalml.bench.verdict import NOISE_BAND, best_rows, row_verdicts, summary_lines
from frugalml.reduce.needs import PURPOSES
from frugalml.reduce.registry import available_techniques

__all__ = ["SUITES", "BenchConfig", "Plan", "available_techniques", "run_bench"]

log = logging.getLogger(__name__)

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
                "device": plan.device,
                "device_requested": config.device,
                "verdict_rule": (
                    "win: within the task's accuracy tolerance (tolerance_pt) and the cost the "
                    "technique is for below the baseline's by more than the "
                    f"±{NOISE_BAND:.0%} noise band; loss: beyond the tolerance, or the cost "
                    "above the band; otherwise no-gain"
                ),
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
    """Every repeat of one task, aggregated into its rows, judged, and its best rows."""
    names = session.plan.techniques[task.name]
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], **{n: [] for n in names}}
    for r in range(session.plan.repeats):
        _run_repeat(session, task, names, r, runs)
    base_row = finish_row("baseline", runs["baseline"], None, {})
    base_row.update(row_verdicts(base_row, base_row, (), task.tolerance_pt))
    base_row["device"] = session.plan.device
    session.row_done(task.name, "baseline", base_row)
    rows: dict[str, Any] = {}
    for name in names:
        stack = session.plan.stacks[name]
        row = finish_row(name, runs[name], base_row, _recipe_config(session, task, name))
        row.update(
            row_verdicts(
                row,
                base_row,
                _purposes(stack),
                task.tolerance_pt,
                device_note=_device_note(row, session.plan.device),
            )
        )
        rows[name] = row
        session.row_done(task.name, name, row)
    session.results["config"]["energy_method"] = base_row.get("energy_method")
    # the purposes some row of the task is for (always both energies: the task's best rows)
    purposes = dict.fromkeys(["inference-energy", "training-energy"])
    for name in names:
        purposes.update(dict.fromkeys(_purposes(session.plan.stacks[name])))
    best = best_rows(rows, base_row, task.tolerance_pt, [p for p in PURPOSES if p in purposes])
    return {
        "task": task.describe(),
        "baseline": base_row,
        "techniques": rows,
        "best": best,
        "summary": summary_lines(best, task.tolerance_pt),
    }


def _purposes(stack: Any) -> tuple[str, ...]:
    """What a recipe is for: its steps' purposes, in step order, each once."""
    registry = available_techniques()
    return tuple(dict.fromkeys(p for s in stack.steps for p in registry[s.name].purpose))


def _recipe_config(session: _Session, task: Task, name: str) -> dict[str, Any]:
    stack = session.plan.stacks[name]
    configs = [session.config.params_for(task, s.name, s.params) for s in stack.steps]
    if len(configs) == 1:
        return configs[0]
    return {"steps": [{"name": s.name, "params": c} for s, c in zip(stack.steps, configs)]}


def _device_note(row: dict[str, Any], device: str) -> str | None:
    """Where a row ran on the CPU while the bench ran elsewhere: which technique, and why."""
    if device == "cpu" or row.get("status") != "ok" or row.get("device") == device:
        return None
    registry = available_techniques()
    names = [s["name"] for s in row.get("steps") or [] if s.get("device") == "cpu"]
    why = "; ".join(
        dict.fromkeys(registry[n].devices_reason or f"{n} has no {device} kernels" for n in names)
    )
    return (
        f"runs on the CPU only ({why}): measured on the CPU, the baseline on {device}"
        if names
        else None
    )


def _run_repeat(
    session: _Session,
    task: Task,
    names: list[str],
    r: int,
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    """One repeat: the baseline (measured on the first), then every row's recipe."""
    cfg, plan = session.config, session.plan
    seed, of = cfg.seed + r, f"(repeat {r + 1}/{plan.repeats})"
    device = plan.device
    data, X_test, y_test = _task_data(task, seed, device)
    if r == 0:
        _warm_up(task, data, X_test, device)
    session.advance(f"{task.name}: baseline {of}", 0)
    train_args = session.tracker_args(task.name, "baseline", "train")
    baseline, base_run = _train_baseline(task, data, X_test, y_test, seed, train_args, device)
    if r == 0:
        infer_args = session.tracker_args(task.name, "baseline", "infer")
        base_run.update(measure(baseline, X_test, plan.suite.infer_seconds, infer_args))
    runs["baseline"].append(base_run)
    session.advance(f"{task.name}: baseline", 1)

    def on_cpu() -> Context:
        cpu_data, cpu_X, cpu_y = _task_data(task, seed, "cpu")
        cpu_base = copy.deepcopy(baseline).to("cpu")
        return Context(cpu_base, cpu_data, cpu_X, cpu_y, seed, base_run, "cpu")

    ctx = Context(baseline, data, X_test, y_test, seed, base_run, device, on_cpu)
    shared: dict[str, Any] = {}  # a recipe's first steps run once per repeat (apply.run_stack)
    for name in names:
        session.advance(f"{task.name}: {name} {of}", 0)
        runs[name].append(
            run_stack(
                plan.stacks[name],
                functools.partial(cfg.params_for, task),
                ctx,
                measure_s=plan.suite.infer_seconds if r == 0 else None,
                tracker_args=functools.partial(session.tracker_args, task.name, name),
                shared=shared,
            )
        )
        session.advance(f"{task.name}: {name}", 1)


def _task_data(task: Task, seed: int, device: str) -> tuple[Any, Any, Any]:
    """The task's data for a repeat, on ``device`` (models from its ``make_model`` too)."""
    data, X_test, y_test = task.train_data(seed)
    if device == "cpu":
        return data, X_test, y_test
    return _data_on(data, device), X_test.to(device), y_test.to(device)


def _built_on(make_model: Callable[..., Any], device: str, width: float = 1.0) -> Any:
    return make_model(width=width).to(device)


def _data_on(data: Any, device: str) -> Any:
    """A copy of in-memory ``TrainData`` (and a transfer task's source data) on ``device``."""
    fields = {f.name for f in dataclasses.fields(data)}
    moved: dict[str, Any] = {
        k: getattr(data, k).to(device)
        for k in ("X_train", "y_train", "X_val", "y_val")
        if getattr(data, k) is not None
    }
    if data.make_model is not None:
        moved["make_model"] = functools.partial(_built_on, data.make_model, device)
    if "source" in fields and data.source is not None:
        moved["source"] = _data_on(data.source, device)
    return dataclasses.replace(data, **moved)


def _warm_up(task: Task, data: Any, X_test: Any, device: str) -> None:
    """One untracked epoch on a few batches, so that one-off costs of the process (PyTorch's
    lazy imports on the first optimiser step, kernel selection) are not charged to whichever
    row happens to run first."""
    torch = require("torch", "frugal bench")
    from frugalml.train.loop import evaluate, fit

    n = min(data.n_samples("train"), 4 * data.batch_size)
    model = task.make_model().to(device)
    fit(model, data.subset(torch.arange(n)), epochs=1)
    evaluate(model, X_test[:n], X_test.new_zeros(min(n, len(X_test)), dtype=torch.int64))


def _train_baseline(
    task: Task,
    data: Any,
    X_test: Any,
    y_test: Any,
    seed: int,
    tracker_args: dict[str, Any],
    device: str = "cpu",
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
    model = task.make_model().to(device)
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
        if device != "cpu":
            torch.cuda.synchronize()
        train_energy_j, train_time_s = meter.stop(), time.perf_counter() - t0
        components = dict(tracker.sample(persist=False).energy_j)
        accuracy = evaluate(model, X_test, y_test)
        run.log_metric("accuracy", accuracy, step=data.epochs)
    # the curve's evaluations are not training: take them out of each component in
    # proportion (the meter knows only their total)
    keep = train_energy_j / max(components.get("total", 0.0), 1e-12)
    return model, {
        "accuracy": accuracy,
        "train_energy_j": train_energy_j,
        "train_energy_j_components": {k: v * keep for k, v in components.items()},
        "train_time_s": train_time_s,
        "co2e_g": run.co2e_g * train_energy_j / max(run.energy_j["total"], 1e-12),
        "energy_method": run.energy_method,
        "run_ids": [run.id],
        "curve": curve,
        "eval_energy_j": meter.excluded_j,
    }
