"""The bench harness: train each task's baseline, apply every requested technique, measure all
rows the same way, and write ``results.json`` as it goes.

A technique's whole cost is charged to it: ``Technique.apply`` runs every fine-tuning round,
calibration pass or student training inside one tracked segment. Compression techniques start
from the baseline trained in the same repeat; that shared cost is reported both ways
(``train_energy_j`` is the technique's own, ``train_energy_j_total`` adds the baseline's).
A technique that fails is recorded as failed with its reason; the bench goes on.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from frugalml._lazy import require
from frugalml._params import check_choice, check_number, unknown_name
from frugalml.bench.measure_model import inference_energy, latency_ms, model_facts
from frugalml.bench.results import SCHEMA, finish_row, write_results
from frugalml.bench.tasks import Task, all_tasks, get_task

__all__ = ["SUITES", "BenchConfig", "available_techniques", "run_bench"]

log = logging.getLogger(__name__)

LATENCY_BATCH = 256


@dataclass(frozen=True)
class Suite:
    repeats: int
    infer_seconds: float
    tasks: tuple[str, ...] | None  # None: every registered task
    techniques: tuple[str, ...] | None  # None: every technique that applies to the task


SUITES = {
    "quick": Suite(1, 0.3, None, None),
    "full": Suite(3, 1.0, None, None),
}


def available_techniques() -> dict[str, Any]:
    """Technique name -> class, from every stage that registers bench techniques."""
    import importlib.util

    from frugalml.reduce import REGISTRY

    out = dict(REGISTRY)
    if importlib.util.find_spec("frugalml.reduce.training") is not None:
        from frugalml.reduce.training import TRAINING_REGISTRY

        out.update(TRAINING_REGISTRY)
    return out


def applies(cls: Any, task: Task) -> bool:
    """Whether a technique runs on a task by default: its ``applies_to(task)``, else every
    plain classification task (not the special-purpose ones, e.g. the many-class task)."""
    check = getattr(cls, "applies_to", None)
    return bool(check(task)) if callable(check) else "role" not in task.extra


def default_tasks() -> list[str]:
    """The suites' tasks: every registered task but transfer sources (transfer trains them)."""
    return [n for n, t in all_tasks().items() if t.extra.get("role") != "transfer-source"]


@dataclass
class BenchConfig:
    suite: str = "quick"
    tasks: Sequence[str] | None = None
    techniques: Sequence[str] | None = None
    repeats: int | None = None
    seed: int = 0
    out_dir: str | Path | None = None
    db: str | bool | None = None
    region: str | None = None
    pue: float | str | None = None
    technique_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resolve(self) -> tuple[Suite, list[Task], list[str], int]:
        check_choice("frugal bench", "suite", self.suite, SUITES)
        suite = SUITES[self.suite]
        tasks = [get_task(t) for t in (self.tasks or suite.tasks or default_tasks())]
        registry = available_techniques()
        names = (
            list(self.techniques)
            if self.techniques is not None
            else list(suite.techniques or registry)
        )
        for name in names:
            if name not in registry:
                raise unknown_name("technique", name, registry)
        repeats = suite.repeats if self.repeats is None else self.repeats
        check_number("frugal bench", "repeats", repeats, low=1, integer=True)
        check_number("frugal bench", "seed", self.seed, low=0, integer=True)
        return suite, tasks, names, repeats


def run_bench(
    tasks: Sequence[str] | None = None,
    techniques: Sequence[str] | None = None,
    *,
    suite: str = "quick",
    repeats: int | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    db: str | bool | None = None,
    region: str | None = None,
    pue: float | str | None = None,
    technique_params: dict[str, dict[str, Any]] | None = None,
    threads: int | None = 1,
    on_row: Callable[[str, str, dict[str, Any]], None] | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Run the bench; return the results dict (and write ``out_dir/results.json``).

    Args:
        tasks: task names (default: the suite's).
        techniques: technique names (default: every registered one).
        suite: ``"quick"`` (1 repeat) or ``"full"`` (3 repeats, longer energy windows).
        repeats: override the suite's repeats.
        seed: training seed of the first repeat (repeat r uses ``seed + r``).
        out_dir: where ``results.json`` goes (rewritten after every row).
        db: registry for the tracked runs (``False``: none).
        region, pue: carbon settings, as for the tracker.
        technique_params: per technique name, parameters overriding its defaults.
        threads: torch intra-op threads during the bench (restored after). 1 by default: these
            small models gain nothing from more, and spinning threads waste energy; None keeps
            torch's setting.
        on_row: called as ``on_row(task, row_name, row)`` when a row is complete.
        progress: a ``rich.progress.Progress`` to report on (optional).

    Example:
        >>> results = run_bench(["iris-mlp"], ["int8-dynamic"], db=False)  # doctest: +SKIP
        >>> results["tasks"]["iris-mlp"]["techniques"]["int8-dynamic"]["accuracy"]  # doctest: +SKIP
    """
    torch = require("torch", "frugal bench")
    if threads is not None:
        check_number("frugal bench", "threads", threads, low=1, integer=True)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return run_bench(
                tasks,
                techniques,
                suite=suite,
                repeats=repeats,
                seed=seed,
                out_dir=out_dir,
                db=db,
                region=region,
                pue=pue,
                technique_params=technique_params,
                threads=None,
                on_row=on_row,
                progress=progress,
            )
        finally:
            torch.set_num_threads(previous_threads)
    cfg = BenchConfig(
        suite, tasks, techniques, repeats, seed, out_dir, db, region, pue, technique_params or {}
    )
    suite_cfg, task_list, names, n_repeats = cfg.resolve()
    from frugalml.measure.hardware import machine_hardware
    from frugalml.measure.tracker import Tracker

    # Validates region / PUE / db before any work, and gives the carbon settings.
    probe = Tracker("bench", db=db, region=region, pue=pue, handle_signals=False)
    started = time.time()
    machine = machine_hardware()
    machine.update(torch_version=torch.__version__, torch_threads=torch.get_num_threads())
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "machine": machine,
        "config": {
            "suite": suite,
            "tasks": [t.name for t in task_list],
            "techniques": names,
            "repeats": n_repeats,
            "seed": seed,
            "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
            "duration_s": 0.0,
            "region": probe._region.code,
            "intensity_g_per_kwh": probe._region.intensity_g_per_kwh,
            "pue": probe._pue,
            "latency_batch": LATENCY_BATCH,
            "infer_min_seconds": suite_cfg.infer_seconds,
            "technique_params": cfg.technique_params,
            "energy_method": None,
        },
        "tasks": {},
    }
    bench_id = f"{int(started)}"

    def tracker_args(task: str, row: str, phase: str) -> dict[str, Any]:
        return dict(
            name=f"bench:{task}:{row}:{phase}",
            db=db,
            region=region,
            pue=pue,
            handle_signals=False,
            tags={"bench": bench_id, "task": task, "technique": row, "phase": phase},
        )

    registry = available_techniques()
    explicit = techniques is not None
    per_task = {
        t.name: [n for n in names if explicit or applies(registry[n], t)] for t in task_list
    }
    unit = (
        progress.add_task("bench", total=sum(n_repeats * (1 + len(v)) for v in per_task.values()))
        if progress
        else None
    )
    for task in task_list:
        names = per_task[task.name]
        task_result: dict[str, Any] = {"task": task.describe(), "baseline": None, "techniques": {}}
        results["tasks"][task.name] = task_result
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], **{n: [] for n in names}}
        for r in range(n_repeats):
            data, X_test, y_test = task.train_data(seed + r)
            if r == 0:
                _warm_up(task, data, X_test)
            _advance(progress, unit, f"{task.name}: baseline (repeat {r + 1}/{n_repeats})", 0)
            baseline, base_run = _train_baseline(
                task, data, X_test, y_test, seed + r, tracker_args(task.name, "baseline", "train")
            )
            if r == 0:
                base_run.update(
                    _measure(
                        baseline,
                        X_test,
                        suite_cfg.infer_seconds,
                        tracker_args(task.name, "baseline", "infer"),
                    )
                )
            runs["baseline"].append(base_run)
            _advance(progress, unit, f"{task.name}: baseline", 1)
            for name in names:
                _advance(progress, unit, f"{task.name}: {name} (repeat {r + 1}/{n_repeats})", 0)
                params = {
                    **task.extra.get("technique_params", {}).get(name, {}),
                    **cfg.technique_params.get(name, {}),
                }
                runs[name].append(
                    _run_technique(
                        name,
                        params,
                        baseline,
                        data,
                        X_test,
                        y_test,
                        seed + r,
                        base_run=base_run,
                        measure=r == 0,
                        infer_seconds=suite_cfg.infer_seconds,
                        tracker_args=functools.partial(tracker_args, task.name, name),
                    )
                )
                _advance(progress, unit, f"{task.name}: {name}", 1)
        base_row = finish_row("baseline", runs["baseline"], None, {})
        task_result["baseline"] = base_row
        if on_row:
            on_row(task.name, "baseline", base_row)
        for name in names:
            row = finish_row(name, runs[name], base_row, cfg.technique_params.get(name, {}))
            task_result["techniques"][name] = row
            if on_row:
                on_row(task.name, name, row)
        results["config"]["duration_s"] = time.time() - started
        results["config"]["energy_method"] = base_row.get("energy_method")
        if out_dir is not None:
            write_results(out_dir, results)
    results["config"]["duration_s"] = time.time() - started
    if out_dir is not None:
        write_results(out_dir, results)
    return results


def _warm_up(task: Task, data: Any, X_test: Any) -> None:
    """One untracked epoch on a few batches, so that one-off costs of the process (PyTorch's
    lazy imports on the first optimiser step, kernel selection) are not charged to whichever
    row happens to run first."""
    import dataclasses

    from frugalml.train.loop import evaluate, fit

    n = min(len(data.X_train), 4 * data.batch_size)
    small = dataclasses.replace(data, X_train=data.X_train[:n], y_train=data.y_train[:n])
    model = task.make_model()
    fit(model, small, epochs=1)
    evaluate(model, X_test[:n], X_test.new_zeros(min(n, len(X_test)), dtype=data.y_train.dtype))


def _advance(progress: Any, unit: Any, description: str, n: int) -> None:
    if progress is not None and unit is not None:
        progress.update(unit, description=description, advance=n)


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


def _run_technique(
    name: str,
    params: dict[str, Any],
    baseline: Any,
    data: Any,
    X_test: Any,
    y_test: Any,
    seed: int,
    *,
    base_run: dict[str, Any],
    measure: bool,
    infer_seconds: float,
    tracker_args: Callable[[str], dict[str, Any]],
) -> dict[str, Any]:
    """Apply one technique under the tracker and measure its model; failures become a row."""
    torch = require("torch", "frugal bench")
    from frugalml.measure.tracker import Tracker
    from frugalml.train.loop import evaluate

    try:
        technique = available_techniques()[name]()
        technique.set_params(**params)
        if hasattr(technique, "bench_context"):  # curves on the test split, baseline figures
            technique.bench_context(
                baseline=base_run, evaluate_test=lambda m: evaluate(m, X_test, y_test)
            )
        torch.manual_seed(seed)
        start_from = copy.deepcopy(baseline) if technique.kind == "compress" else data.make_model()
        t0 = time.perf_counter()
        overrides: dict[str, Any] = {}
        tracker = Tracker(**tracker_args("train"))
        with tracker as run:
            model = technique.apply(start_from, data)
            # training ends here: evaluating the result is not charged to it
            train_energy_j = tracker.sample(persist=False).energy_j["total"]
            train_time_s = time.perf_counter() - t0
            if hasattr(technique, "bench_evaluate"):  # e.g. early exit: accuracy and mean MACs
                overrides = dict(technique.bench_evaluate(model, X_test, y_test))
                accuracy = float(overrides.pop("accuracy"))
            else:
                accuracy = evaluate(model, X_test, y_test)
            run.log_metric("accuracy", accuracy)
        out: dict[str, Any] = {
            "accuracy": accuracy,
            "train_energy_j": train_energy_j,
            "train_time_s": train_time_s,
            "co2e_g": run.co2e_g * train_energy_j / max(run.energy_j["total"], 1e-12),
            "energy_method": run.energy_method,
            "run_ids": [run.id],
            "kind": technique.kind,
            "config": technique.get_params(),
            "extra": technique.report(),
            "curve": getattr(technique, "curve_", None),
        }
        if measure:
            out.update(_measure(model, X_test, infer_seconds, tracker_args("infer")))
            out.update(overrides)
        return out
    except Exception as e:  # reported in the row; the bench goes on
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        log.warning("technique %s failed: %s", name, first)
        return {"failed": f"{type(e).__name__}: {first}" if not first.startswith(name) else first}


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
