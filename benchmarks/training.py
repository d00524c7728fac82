"""Measured effect of the training-side techniques (frugalml.reduce.training) on the bench tasks.

Every figure is measured in this run, on this machine, with ``torch.set_num_threads(1)``
(on a shared 2-core machine, 2 threads on these tiny models are slower from contention):

- energy: ``frugalml.Tracker(db=False)`` around each training (``cpu-model+ram-model`` where
  there is no RAPL: CPU energy modelled from the process's CPU time, so it is proportional to
  CPU work, not a wall-socket reading). "Clean" runs have no monitoring at all; each is run
  twice, identically (same seed), and the lesser energy is kept: on a shared machine other
  work inflates a run's CPU time by up to ~20 %.
- baseline curves (accuracy vs cumulative energy, per epoch): a second run with the same
  seed (so the same weights) records the test accuracy and the training time of each epoch;
  the energy at epoch k is the clean run's energy times the share of its training time
  elapsed by epoch k (a tracker reading costs a few ms, as long as an epoch of iris-mlp, so
  reading it per epoch would distort the curve).
- technique curves (progressive, active learning): the technique's own nested tracker,
  with the test evaluations drawn for the curve excluded from the energy axis
  (``bench_context(evaluate_test=...)``, the same hook the bench uses).
- accuracy: test split of the bench task (fixed split; the seed changes initialisation and
  shuffling); deltas are per-seed differences against that seed's baseline, then averaged.
- MACs: ``frugalml.profiler`` per sample (batch 1); early-exit: mean over the test samples
  of the MACs of the prefix each one ran.
- output-layer time (softmax): the fastest of ``--repeats`` interleaved timed passes of the
  output layer alone on random features (the least-disturbed pass on a shared machine, as
  ``timeit`` advises), per sample, for scoring (log p of the sample's class) and a training
  step (that, plus backward).

Run (alone on the machine: other work skews the timings):

    .venv/bin/python benchmarks/training.py [--only softmax ...]

``--only`` reruns the named sections and keeps the others from the existing results file
(``sections_rerun`` in the JSON records which sections were rerun, and when).

Writes benchmarks/results/training.json and prints Rich tables.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from frugalml.bench.measure_model import latency_ms
from frugalml.bench.tasks import get_task
from frugalml.cli._common import console as wide_console
from frugalml.measure.tracker import Tracker
from frugalml.profiler import profile
from frugalml.reduce.active import STRATEGIES, ActiveLearning
from frugalml.reduce.blocks import Depthwise, Fire
from frugalml.reduce.early_exit import EarlyExit
from frugalml.reduce.early_stop import EarlyStopEnergy
from frugalml.reduce.progressive import Progressive
from frugalml.reduce.sharing import WeightSharing
from frugalml.reduce.softmax import (
    AdaptiveHead,
    AdaptiveSoftmax,
    HierarchicalSoftmax,
    HierarchicalSoftmaxLayer,
)
from frugalml.reduce.transfer import Transfer, break_even_tasks
from frugalml.train import EpochEnd, TrainData, evaluate, fit

RESULTS = Path(__file__).parent / "results" / "training.json"
console = wide_console(stderr=True)


REPEATS = 2  # energy and time: the least of this many identical runs


def tracked(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``fn`` ``REPEATS`` times under a tracker; return (first result, least joules, least
    seconds). ``fn`` must do the same work each time (same seed, fresh model); the least of
    the runs is the one least disturbed by other work on the shared machine."""
    results, energies, seconds = [], [], []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        with Tracker("bench-training", db=False, handle_signals=False) as run:
            results.append(fn())
        energies.append(run.energy_j["total"])
        seconds.append(time.perf_counter() - t0)
    return results[0], min(energies), min(seconds)


class Baselines:
    """Each task's baseline per seed (clean energy, accuracy, model), trained once."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, int], dict[str, Any]] = {}

    def get(self, task_name: str, seed: int) -> dict[str, Any]:
        key = (task_name, seed)
        if key not in self.cache:
            task = get_task(task_name)
            data, X_test, y_test = task.train_data(seed)

            def train(task: Any = task, data: Any = data) -> Any:
                torch.manual_seed(seed)
                model = task.make_model()
                fit(model, data)
                return model

            model, energy, seconds = tracked(train)
            self.cache[key] = {
                "task": task,
                "data": data,
                "X_test": X_test,
                "y_test": y_test,
                "model": model,
                "energy_j": energy,
                "seconds": seconds,
                "accuracy": evaluate(model, X_test, y_test),
            }
        return self.cache[key]

    def curve(self, task_name: str, seed: int) -> list[list[float]]:
        """[energy_j, test accuracy] per epoch (energy apportioned by training time)."""
        b = self.get(task_name, seed)
        if "curve" in b:
            return b["curve"]
        torch.manual_seed(seed)
        model = b["task"].make_model()
        points: list[tuple[float, float]] = []
        clock = {"train_s": 0.0, "mark": time.perf_counter()}

        def on_epoch(end: EpochEnd) -> None:
            clock["train_s"] += time.perf_counter() - clock["mark"]
            points.append((clock["train_s"], evaluate(end.model, b["X_test"], b["y_test"])))
            clock["mark"] = time.perf_counter()

        fit(model, b["data"], callbacks=[on_epoch])
        total = points[-1][0]
        b["curve"] = [[b["energy_j"] * t / total, acc] for t, acc in points]
        return b["curve"]


def mean(values: list[float]) -> float:
    return statistics.fmean(values)


# --- 1. energy-aware early stopping --------------------------------------------------------


def plateau(curve: list[list[float]]) -> dict[str, float]:
    """Energy to come within 2 pt of the final accuracy, and energy for the rest."""
    final = curve[-1][1]
    reach = next(e for e, acc in curve if acc >= final - 0.02)
    total = curve[-1][0]
    return {
        "energy_to_final_minus_2pt_j": reach,
        "energy_last_2pt_j": total - reach,
        "plateau_ratio": (total - reach) / reach if reach else math.inf,
    }


def early_stop(bl: Baselines, seeds: list[int]) -> dict[str, Any]:
    rows = []
    for task in ("iris-mlp", "breast-cancer-mlp", "digits-mlp"):
        for seed in seeds:
            b = bl.get(task, seed)
            row: dict[str, Any] = {
                "task": task,
                "seed": seed,
                "baseline_accuracy": b["accuracy"],
                "baseline_energy_j": b["energy_j"],
                **plateau(bl.curve(task, seed)),
            }
            for monitor in ("train_loss", "val_accuracy"):
                t = EarlyStopEnergy(monitor=monitor)
                torch.manual_seed(seed)
                start = b["task"].make_model()
                model, energy, _ = tracked(functools.partial(t.apply, start, b["data"]))
                acc = evaluate(model, b["X_test"], b["y_test"])
                row[monitor] = {
                    "accuracy": acc,
                    "delta_pt": 100 * (acc - b["accuracy"]),
                    "energy_j": energy,
                    "saving": b["energy_j"] / energy,
                    "epochs_run": t.epochs_run_,
                    "max_epochs": t.max_epochs_,
                }
            rows.append(row)
        console.log(f"early-stop-energy: {task} done")
    return {"rows": rows, "params": EarlyStopEnergy().get_params()}


# --- 2. progressive ---------------------------------------------------------------------


def progressive(bl: Baselines, seeds: list[int]) -> dict[str, Any]:
    rows = []
    for task in ("digits-mlp", "breast-cancer-mlp"):
        for seed in seeds:
            b = bl.get(task, seed)
            torch.manual_seed(seed)
            start = b["task"].make_model()
            t = Progressive()
            model, energy, _ = tracked(functools.partial(t.apply, start, b["data"]))
            acc = evaluate(model, b["X_test"], b["y_test"])
            monitored = Progressive()
            monitored.bench_context(
                baseline={"accuracy": b["accuracy"]},
                evaluate_test=lambda m, b=b: evaluate(m, b["X_test"], b["y_test"]),
            )
            torch.manual_seed(seed)
            monitored.apply(b["task"].make_model(), b["data"])
            reach = getattr(monitored, "energy_to_baseline_accuracy_j_", None)
            reach_05 = getattr(monitored, "energy_to_baseline_minus_0_5pt_j_", None)
            rows.append(
                {
                    "task": task,
                    "seed": seed,
                    "baseline_accuracy": b["accuracy"],
                    "baseline_energy_j": b["energy_j"],
                    "accuracy": acc,
                    "delta_pt": 100 * (acc - b["accuracy"]),
                    "energy_j": energy,
                    "energy_ratio": energy / b["energy_j"],
                    "stage_epochs": t.epochs_run_,
                    "depth": t.depth_,
                    "monitored_energy_j": monitored.energy_j_,
                    "energy_to_baseline_accuracy_j": reach,
                    "energy_to_baseline_minus_0_5pt_j": reach_05,
                    "energy_to_baseline_accuracy_ratio": reach / b["energy_j"] if reach else None,
                }
            )
        console.log(f"progressive: {task} done")
    return {"rows": rows, "params": Progressive().get_params()}


# --- 3. transfer ------------------------------------------------------------------------


def transfer(bl: Baselines, seeds: list[int]) -> dict[str, Any]:
    rows = []
    source_task = get_task("digits-0to4-mlp")
    for seed in seeds:
        scratch = bl.get("digits-5to9-mlp", seed)
        # a plain TrainData: Transfer then takes the model it is given as the trained base
        target_data = TrainData(
            **{f.name: getattr(scratch["data"], f.name) for f in dataclasses.fields(TrainData)}
        )
        source_data, _, _ = source_task.train_data(seed)

        def train_base(d: Any = source_data, seed: int = seed) -> Any:
            torch.manual_seed(seed)
            base = source_task.make_model()
            fit(base, d)
            return base

        base, base_energy, _ = tracked(train_base)
        row: dict[str, Any] = {
            "seed": seed,
            "scratch_accuracy": scratch["accuracy"],
            "scratch_energy_j": scratch["energy_j"],
            "base_energy_j": base_energy,
        }
        for mode in ("frozen", "full"):
            t = Transfer(mode=mode)
            torch.manual_seed(seed)
            model, energy, _ = tracked(functools.partial(t.apply, copy.deepcopy(base), target_data))
            acc = evaluate(model, scratch["X_test"], scratch["y_test"])
            row[mode] = {
                "accuracy": acc,
                "delta_pt": 100 * (acc - scratch["accuracy"]),
                "energy_excl_base_j": energy,
                "energy_with_base_j": energy + base_energy,
                "ratio_excl_base": energy / scratch["energy_j"],
                "ratio_with_base": (energy + base_energy) / scratch["energy_j"],
                "break_even_tasks": break_even_tasks(base_energy, scratch["energy_j"], energy),
            }
        rows.append(row)
    console.log("transfer done")
    return {
        "rows": rows,
        "params": Transfer().get_params(),
        "pair": "digits 0-4 (source) -> digits 5-9 (target), MLP 64-512-512-5",
    }


# --- 4. early exit ----------------------------------------------------------------------


def infer_energy_per_1k(fn: Callable[[Any], Any], X: Any, min_seconds: float = 0.5) -> float:
    samples = 0
    with torch.inference_mode():
        fn(X[:256])
        with Tracker("infer", db=False, handle_signals=False) as run:
            start = time.perf_counter()
            while samples == 0 or time.perf_counter() - start < min_seconds:
                for i in range(0, len(X), 256):
                    fn(X[i : i + 256])
                samples += len(X)
    return run.energy_j["total"] / samples * 1000


def early_exit(bl: Baselines, seeds: list[int]) -> dict[str, Any]:
    rows = []
    curve = None
    for seed in seeds:
        b = bl.get("digits-cnn", seed)
        macs_base = profile(b["model"], (b["X_test"][:1],)).macs
        t = EarlyExit()
        torch.manual_seed(seed)
        start = b["task"].make_model()
        net, energy, _ = tracked(functools.partial(t.apply, start, b["data"]))
        # the net leaves early when called in eval mode: measured like any model
        out = {
            **t.bench_evaluate(net, b["X_test"], b["y_test"]),
            "accuracy": evaluate(net, b["X_test"], b["y_test"]),
            "infer_energy_j_per_1k": infer_energy_per_1k(net, b["X_test"]),
            "latency_ms": {
                "batch_1": latency_ms(net, b["X_test"], 1),
                "batch_256": latency_ms(net, b["X_test"], 256),
            },
        }
        base_e = infer_energy_per_1k(b["model"], b["X_test"])
        rows.append(
            {
                "seed": seed,
                "baseline_accuracy": b["accuracy"],
                "baseline_macs": macs_base,
                "accuracy": out["accuracy"],
                "delta_pt": 100 * (out["accuracy"] - b["accuracy"]),
                "final_exit_accuracy": t.accuracy_final_exit_,
                "threshold": t.threshold_,
                "mean_macs": out["macs"],
                "macs_reduction": macs_base / out["macs"],
                "exit_rates": t.exit_rates_test_,
                "exit_macs": t.exit_macs_,
                "train_energy_j": energy,
                "baseline_train_energy_j": b["energy_j"],
                "infer_energy_j_per_1k": out["infer_energy_j_per_1k"],
                "baseline_infer_energy_j_per_1k": base_e,
                "latency_ms": out["latency_ms"],
            }
        )
        if curve is None:
            curve = t.threshold_curve_test_
    console.log("early-exit done")
    return {"rows": rows, "params": EarlyExit().get_params(), "threshold_curve_test_seed0": curve}


# --- 5. lightweight blocks --------------------------------------------------------------


def blocks(bl: Baselines, seeds: list[int]) -> dict[str, Any]:
    variants = {"depthwise": Depthwise, "fire": Fire, "weight-sharing": WeightSharing}
    lrs = (1e-3, 3e-3)
    selection: dict[str, dict[str, float]] = {}
    b0 = bl.get("digits-cnn", seeds[0])
    for name, cls in variants.items():  # the learning rate, chosen on the validation split
        selection[name] = {}
        for lr in lrs:
            torch.manual_seed(seeds[0])
            model = cls(lr=lr).apply(b0["task"].make_model(), b0["data"])
            selection[name][str(lr)] = evaluate(model, b0["data"].X_val, b0["data"].y_val)
    rows = []
    for name, cls in variants.items():
        lr = float(max(selection[name], key=lambda k: (selection[name][k], -float(k))))
        for seed in seeds:
            b = bl.get("digits-cnn", seed)
            base_prof = profile(b["model"], (b["X_test"][:1],))
            t = cls(lr=lr)
            torch.manual_seed(seed)
            start = b["task"].make_model()
            model, energy, _ = tracked(functools.partial(t.apply, start, b["data"]))
            acc = evaluate(model, b["X_test"], b["y_test"])
            rows.append(
                {
                    "technique": name,
                    "seed": seed,
                    "lr": lr,
                    "accuracy": acc,
                    "delta_pt": 100 * (acc - b["accuracy"]),
                    "macs": t.macs_after_,
                    "macs_reduction": base_prof.macs / t.macs_after_,
                    "params": t.params_after_,
                    "param_reduction": base_prof.params / t.params_after_,
                    "energy_j": energy,
                    "energy_ratio": energy / b["energy_j"],
                }
            )
        console.log(f"{name} done")
    return {"rows": rows, "lr_selection_val_accuracy": selection}


# --- 6. softmax -------------------------------------------------------------------------


def output_layer_times(
    n_classes: int, d: int, batches: list[int], repeats: int
) -> list[dict[str, Any]]:
    """Seconds per sample of the output layer alone, on random features: scoring the sample's
    class, a training step (that, plus backward), and inference (the predicted class), for
    the full softmax, the hierarchical softmax (path with sparse gradients, greedy descent)
    and the adaptive softmax."""
    torch.manual_seed(0)
    full = torch.nn.Linear(d, n_classes)
    hs = HierarchicalSoftmaxLayer(d, n_classes, sparse_grad=True)
    ada = torch.nn.AdaptiveLogSoftmaxWithLoss(
        d, n_classes, [n_classes // 100, n_classes // 10], div_value=4.0
    )
    ada_head = AdaptiveHead(ada, torch.arange(n_classes))
    p = 1 / torch.arange(1, n_classes + 1).float()
    out = []
    for batch in batches:
        h = torch.randn(batch, d, requires_grad=True)
        y_uniform = torch.randint(0, n_classes, (batch,))
        y_zipf = torch.multinomial(p / p.sum(), batch, replacement=True)

        def full_score(h: Any = h, y: Any = y_uniform) -> Any:
            return -torch.nn.functional.cross_entropy(full(h), y, reduction="none")

        variants: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
            "full softmax": (full_score, lambda h=h: full(h).argmax(dim=1)),
            "hierarchical (path; greedy)": (
                lambda h=h, y=y_uniform: hs.log_prob_of(h, y),
                lambda h=h: hs.predict(h),
            ),
            "adaptive (Zipf labels; exact argmax)": (
                lambda h=h, y=y_zipf: ada(h, y).output,
                lambda h=h: ada_head.predict(h),
            ),
        }
        keys = ("score", "train", "infer")
        times: dict[str, dict[str, list[float]]] = {k: {x: [] for x in keys} for k in variants}
        for _ in range(repeats):
            for name, (score, infer) in variants.items():
                with torch.no_grad():
                    t0 = time.perf_counter()
                    score()
                    times[name]["score"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    infer()
                    times[name]["infer"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                (-score().mean()).backward()
                times[name]["train"].append(time.perf_counter() - t0)
        for name in variants:
            row: dict[str, Any] = {"variant": name, "batch": batch, "d": d, "n_classes": n_classes}
            for key in keys:
                row[f"{key}_us_per_sample"] = min(times[name][key]) / batch * 1e6
            out.append(row)
    macs = {"full softmax": n_classes * d, "hierarchical (path; greedy)": hs.depth * d}
    for row in out:
        row["macs_per_sample"] = macs.get(row["variant"])
        ref = next(
            r
            for r in out
            if r["variant"] == "full softmax" and r["batch"] == row["batch"] and r["d"] == row["d"]
        )
        for key in ("score", "train", "infer"):
            row[f"{key}_speedup"] = ref[f"{key}_us_per_sample"] / row[f"{key}_us_per_sample"]
    return out


def latency_s(models: dict[str, Any], X: Any, repeats: int) -> dict[str, float]:
    """Median seconds of one forward pass of ``X``, the variants interleaved."""
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for m in models.values():
            m(X)
        for _ in range(repeats):
            for k, m in models.items():
                t0 = time.perf_counter()
                m(X)
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def softmax(bl: Baselines, seeds: list[int], repeats: int) -> dict[str, Any]:
    """zipf-10k: training energy, accuracy by decoding, inference energy and latency."""
    timing = []
    for d in (32, 256):
        timing += output_layer_times(10_000, d, [1, 64, 256], repeats)
    console.log("softmax timing done")
    rows = []
    for seed in seeds:
        b = bl.get("zipf-10k", seed)
        row: dict[str, Any] = {
            "seed": seed,
            "baseline_accuracy": b["accuracy"],
            "baseline_energy_j": b["energy_j"],
        }
        models: dict[str, Any] = {"baseline": b["model"]}
        for name, cls in (
            ("adaptive-softmax", AdaptiveSoftmax),
            ("hierarchical-softmax", HierarchicalSoftmax),
        ):
            t = cls()
            torch.manual_seed(seed)
            start = b["task"].make_model()
            model, energy, _ = tracked(functools.partial(t.apply, start, b["data"]))
            by_decode = {}
            for decode in t.decodes:
                model.decode = decode
                by_decode[decode] = evaluate(model, b["X_test"], b["y_test"])
                models[f"{name} ({decode})"] = copy.deepcopy(model)
            model.decode = t.decode
            acc = by_decode[t.decode]
            row[name] = {
                "accuracy": acc,
                "accuracy_by_decode": by_decode,
                "delta_pt": 100 * (acc - b["accuracy"]),
                "energy_j": energy,
                "energy_ratio": energy / b["energy_j"],
                "report": t.report(),
            }
            if name == "hierarchical-softmax":
                with torch.no_grad():
                    h = model.body(b["X_test"])
                    certified = model.head.greedy(h)[2]
                row[name]["certified_fraction"] = float(certified.float().mean())
        X = b["X_test"]
        lat = latency_s(models, X[:256], repeats)
        # inference energy: 3 windows of >= 1 s per variant, round-robin; the median
        windows: dict[str, list[float]] = {k: [] for k in models}
        for _ in range(3):
            for k, m in models.items():
                windows[k].append(infer_energy_per_1k(m, X, min_seconds=1.0))
        energy_1k = {k: statistics.median(v) for k, v in windows.items()}
        row["inference"] = {
            k: {
                "latency_ms_batch_256": lat[k] * 1e3,
                "latency_ratio": lat[k] / lat["baseline"],
                "energy_j_per_1k": energy_1k[k],
                "energy_ratio": energy_1k[k] / energy_1k["baseline"],
            }
            for k in models
        }
        rows.append(row)
        console.log(f"softmax zipf-10k seed {seed} done")
    return {"timing": timing, "rows": rows}


# --- 7. active learning -----------------------------------------------------------------


def active(bl: Baselines, seeds: list[int]) -> dict[str, Any]:
    rows = []
    for seed in seeds:
        b = bl.get("digits-mlp", seed)
        for strategy in STRATEGIES:
            t = ActiveLearning(strategy=strategy)
            t.bench_context(
                baseline={"accuracy": b["accuracy"]},
                evaluate_test=lambda m, b=b: evaluate(m, b["X_test"], b["y_test"]),
            )
            torch.manual_seed(seed)
            model = t.apply(b["task"].make_model(), b["data"])
            within = getattr(t, "energy_to_within_1pt_j_", None)
            rows.append(
                {
                    "seed": seed,
                    "strategy": strategy,
                    "baseline_accuracy": b["accuracy"],
                    "baseline_energy_j": b["energy_j"],
                    "accuracy": evaluate(model, b["X_test"], b["y_test"]),
                    "labels_used": t.labels_used_,
                    "pool_size": t.pool_size_,
                    "energy_j": t.energy_j_,
                    "labels_to_within_1pt": getattr(t, "labels_to_within_1pt_", None),
                    "energy_to_within_1pt_j": within,
                    "energy_to_within_1pt_ratio": within / b["energy_j"] if within else None,
                    "curve": t.curve_,
                }
            )
    console.log("active-learning done")
    return {"rows": rows, "params": ActiveLearning().get_params()}


# --- targets and output -----------------------------------------------------------------


def summarise(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []

    def add(target: str, met: bool, measured: str) -> None:
        out.append({"target": target, "met": bool(met), "measured": measured})

    iris = [r for r in result["early_stop"]["rows"] if r["task"] == "iris-mlp"]
    ratio = mean([r["plateau_ratio"] for r in iris])
    add(
        "early-stop iris-mlp: baseline plateau, energy for the last 2 pt >= 5x the rest",
        ratio >= 5,
        f"{ratio:.2f}x (mean over seeds; per seed "
        + ", ".join(f"{r['plateau_ratio']:.1f}" for r in iris)
        + ")",
    )
    saving = mean([r["train_loss"]["saving"] for r in iris])
    loss = mean([r["train_loss"]["delta_pt"] for r in iris])
    add(
        "early-stop iris-mlp: >= 5x less training energy at <= 2 pt loss",
        saving >= 5 and loss >= -2,
        f"{saving:.2f}x less energy, {loss:+.2f} pt",
    )
    prog = [r for r in result["progressive"]["rows"] if r["task"] == "digits-mlp"]
    d, e = mean([r["delta_pt"] for r in prog]), mean([r["energy_ratio"] for r in prog])
    add(
        "progressive digits-mlp: baseline accuracy -0.5 pt with <= 0.7x energy",
        d >= -0.5 and e <= 0.7,
        f"{d:+.2f} pt at {e:.2f}x the baseline's energy",
    )
    tr = result["transfer"]["rows"]
    d = mean([r["frozen"]["delta_pt"] for r in tr])
    e = mean([r["frozen"]["ratio_excl_base"] for r in tr])
    add(
        "transfer (frozen) digits 0-4 -> 5-9: scratch accuracy -1 pt at <= 0.3x energy excl. base",
        d >= -1 and e <= 0.3,
        f"{d:+.2f} pt at {e:.3f}x",
    )
    ee = result["early_exit"]["rows"]
    red, d = mean([r["macs_reduction"] for r in ee]), mean([r["delta_pt"] for r in ee])
    add(
        "early-exit digits-cnn: >= 1.5x fewer mean MACs at <= 1 pt loss",
        red >= 1.5 and d >= -1,
        f"{red:.2f}x fewer MACs, {d:+.2f} pt",
    )
    dw = [r for r in result["blocks"]["rows"] if r["technique"] == "depthwise"]
    red, d = mean([r["macs_reduction"] for r in dw]), mean([r["delta_pt"] for r in dw])
    add(
        "depthwise digits-cnn: >= 3x fewer MACs at <= 1.5 pt loss",
        red >= 3 and d >= -1.5,
        f"{red:.2f}x fewer MACs, {d:+.2f} pt (lr {dw[0]['lr']:g})",
    )
    timing = result["softmax"]["timing"]

    def speed(variant: str, batch: int, key: str) -> float:
        return next(
            r[key]
            for r in timing
            if r["variant"] == variant and r["d"] == 32 and r["batch"] == batch
        )

    hs_name = "hierarchical (path; greedy)"
    train = {b: speed(hs_name, b, "train_speedup") for b in (1, 64, 256)}
    score = {b: speed(hs_name, b, "score_speedup") for b in (1, 64, 256)}
    infer = {b: speed(hs_name, b, "infer_speedup") for b in (1, 64, 256)}
    add(
        "hierarchical softmax, 10,000 classes: output-layer time per sample >= 5x lower "
        "(d=32; training step with path-only gradients, at batches 64 and 256)",
        train[64] >= 5 and train[256] >= 5,
        "; ".join(
            f"batch {b}: score {score[b]:.1f}x, train {train[b]:.1f}x, greedy predict "
            f"{infer[b]:.1f}x"
            for b in (1, 64, 256)
        ),
    )
    zipf = result["softmax"]["rows"]
    hs = [r["hierarchical-softmax"] for r in zipf]
    saving = mean([1 / r["energy_ratio"] for r in hs])
    add(
        "hierarchical-softmax zipf-10k: training energy >= 3x less than the full softmax",
        saving >= 3,
        f"{saving:.2f}x less (per seed "
        + ", ".join(f"{1 / r['energy_ratio']:.2f}x" for r in hs)
        + ")",
    )
    inf = [r["inference"]["hierarchical-softmax (greedy)"] for r in zipf]
    ratio = mean([r["energy_ratio"] for r in inf])
    add(
        "hierarchical-softmax zipf-10k: inference energy per 1,000 <= the baseline's at batch 256",
        ratio <= 1,
        f"{ratio:.2f}x the baseline's (latency {mean([r['latency_ratio'] for r in inf]):.2f}x; "
        "greedy decoding)",
    )
    gap = [100 * (r["accuracy_by_decode"]["greedy"] - r["accuracy_by_decode"]["exact"]) for r in hs]
    add(
        "hierarchical-softmax zipf-10k: greedy accuracy within 1 pt of the exact argmax",
        mean(gap) >= -1,
        f"{mean(gap):+.2f} pt (per seed " + ", ".join(f"{g:+.1f}" for g in gap) + "; "
        f"{100 * mean([r['certified_fraction'] for r in hs]):.0f} % of greedy results "
        "certified exact)",
    )
    ada = [r["inference"]["adaptive-softmax (exact)"] for r in zipf]
    lat, en = mean([r["latency_ratio"] for r in ada]), mean([r["energy_ratio"] for r in ada])
    add(
        "adaptive-softmax zipf-10k: inference no slower than the baseline at batch 256",
        lat <= 1,
        f"latency {lat:.2f}x, energy per 1,000 {en:.2f}x the baseline's (exact argmax decoding)",
    )
    by_strategy: dict[str, list[dict[str, Any]]] = {}
    for r in result["active"]["rows"]:
        by_strategy.setdefault(r["strategy"], []).append(r)
    scored = {}
    for s, rs in by_strategy.items():
        if all(r["labels_to_within_1pt"] is not None for r in rs):
            scored[s] = (
                mean([r["labels_to_within_1pt"] / r["pool_size"] for r in rs]),
                mean([r["energy_to_within_1pt_ratio"] for r in rs]),
            )
    if scored:
        s = min(scored, key=lambda k: scored[k])
        frac, ratio = scored[s]
        add(
            "active learning digits-mlp (best strategy): within 1 pt with <= 50 % labels and "
            "less energy than full-data training",
            frac <= 0.5 and ratio < 1,
            f"{s}: {100 * frac:.0f} % of the labels, {ratio:.2f}x the full-data energy",
        )
    else:
        add(
            "active learning digits-mlp: within 1 pt of full data",
            False,
            "no strategy reached within 1 pt on every seed",
        )
    return out


def print_tables(result: dict[str, Any]) -> None:
    out = wide_console()
    m = result["machine"]
    out.print(
        f"[bold]training-side techniques[/] — {m['cpu']}, {m['torch_threads']} torch "
        f"thread, torch {m['torch']}, energy {m['energy_method']}; seeds {result['seeds']}"
    )

    t = Table(title="early-stop-energy (means over seeds; baseline curve energy apportioned)")
    for c in (
        "task",
        "base acc %",
        "plateau last-2pt/rest",
        "monitor",
        "acc Δ pt",
        "energy ÷",
        "epochs",
    ):
        t.add_column(c, justify="left" if c in ("task", "monitor") else "right")
    for task in dict.fromkeys(r["task"] for r in result["early_stop"]["rows"]):
        rs = [r for r in result["early_stop"]["rows"] if r["task"] == task]
        for monitor in ("train_loss", "val_accuracy"):
            t.add_row(
                task,
                f"{100 * mean([r['baseline_accuracy'] for r in rs]):.2f}",
                f"{mean([r['plateau_ratio'] for r in rs]):.2f}x",
                monitor,
                f"{mean([r[monitor]['delta_pt'] for r in rs]):+.2f}",
                f"{mean([r[monitor]['saving'] for r in rs]):.2f}x",
                f"{mean([r[monitor]['epochs_run'] for r in rs]):.0f}/"
                f"{rs[0][monitor]['max_epochs']}",
            )
    out.print(t)

    t = Table(title="progressive (means over seeds)")
    for c in (
        "task",
        "acc Δ pt",
        "energy vs baseline",
        "energy to baseline acc",
        "to baseline -0.5 pt",
    ):
        t.add_column(c, justify="left" if c == "task" else "right")
    for task in dict.fromkeys(r["task"] for r in result["progressive"]["rows"]):
        rs = [r for r in result["progressive"]["rows"] if r["task"] == task]
        reached = [r["energy_to_baseline_accuracy_ratio"] for r in rs]
        r05 = [
            r["energy_to_baseline_minus_0_5pt_j"] / r["baseline_energy_j"]
            for r in rs
            if r["energy_to_baseline_minus_0_5pt_j"] is not None
        ]
        t.add_row(
            task,
            f"{mean([r['delta_pt'] for r in rs]):+.2f}",
            f"{mean([r['energy_ratio'] for r in rs]):.2f}x",
            ", ".join("never" if x is None else f"{x:.2f}x" for x in reached),
            f"{mean(r05):.2f}x ({len(r05)}/{len(rs)} seeds)" if r05 else "never",
        )
    out.print(t)

    t = Table(title="transfer digits 0-4 -> 5-9 (means over seeds)")
    for c in (
        "mode",
        "acc Δ pt vs scratch",
        "energy ÷ scratch (excl. base)",
        "with base",
        "break-even tasks",
    ):
        t.add_column(c, justify="left" if c == "mode" else "right")
    rs = result["transfer"]["rows"]
    for mode in ("frozen", "full"):
        t.add_row(
            mode,
            f"{mean([r[mode]['delta_pt'] for r in rs]):+.2f}",
            f"{mean([r[mode]['ratio_excl_base'] for r in rs]):.3f}x",
            f"{mean([r[mode]['ratio_with_base'] for r in rs]):.2f}x",
            ", ".join(str(r[mode]["break_even_tasks"]) for r in rs),
        )
    out.print(t)

    t = Table(title="early-exit digits-cnn (per seed)")
    for c in (
        "seed",
        "acc Δ pt",
        "final exit acc %",
        "threshold",
        "exit rates",
        "MACs ÷",
        "infer J/1k (base)",
    ):
        t.add_column(c, justify="right")
    for r in result["early_exit"]["rows"]:
        t.add_row(
            str(r["seed"]),
            f"{r['delta_pt']:+.2f}",
            f"{100 * r['final_exit_accuracy']:.2f}",
            f"{r['threshold']:.3g}",
            "/".join(f"{x:.2f}" for x in r["exit_rates"]),
            f"{r['macs_reduction']:.2f}x",
            f"{r['infer_energy_j_per_1k']:.3f} ({r['baseline_infer_energy_j_per_1k']:.3f})",
        )
    out.print(t)

    t = Table(title="lightweight blocks on digits-cnn (means over seeds)")
    for c in ("technique", "lr (val)", "acc Δ pt", "MACs ÷", "params ÷", "train energy"):
        t.add_column(c, justify="left" if c == "technique" else "right")
    for name in ("depthwise", "fire", "weight-sharing"):
        rs = [r for r in result["blocks"]["rows"] if r["technique"] == name]
        t.add_row(
            name,
            f"{rs[0]['lr']:g}",
            f"{mean([r['delta_pt'] for r in rs]):+.2f}",
            f"{mean([r['macs_reduction'] for r in rs]):.2f}x",
            f"{mean([r['param_reduction'] for r in rs]):.2f}x",
            f"{mean([r['energy_ratio'] for r in rs]):.2f}x",
        )
    out.print(t)

    t = Table(title="output layer, 10,000 classes: µs per sample (fastest pass), speed-up vs full")
    cols = ("variant", "d", "batch", "MACs", "score µs", "score ×", "train µs", "train ×")
    for c in (*cols, "predict µs", "predict ×"):
        t.add_column(c, justify="left" if c == "variant" else "right")
    for r in result["softmax"]["timing"]:
        t.add_row(
            r["variant"],
            str(r["d"]),
            str(r["batch"]),
            "-" if r["macs_per_sample"] is None else str(r["macs_per_sample"]),
            f"{r['score_us_per_sample']:.2f}",
            f"{r['score_speedup']:.1f}x",
            f"{r['train_us_per_sample']:.2f}",
            f"{r['train_speedup']:.1f}x",
            f"{r['infer_us_per_sample']:.2f}",
            f"{r['infer_speedup']:.1f}x",
        )
    out.print(t)
    t = Table(title="zipf-10k task (means over seeds; inference at batch 256)")
    for c in ("row", "decode", "acc %", "acc Δ pt", "train energy", "infer J/1k ×", "latency ×"):
        t.add_column(c, justify="left" if c in ("row", "decode") else "right")
    rs = result["softmax"]["rows"]
    t.add_row(
        "full softmax (baseline)",
        "argmax",
        f"{100 * mean([r['baseline_accuracy'] for r in rs]):.2f}",
        "",
        "1.00x",
        f"1.00x ({mean([r['inference']['baseline']['energy_j_per_1k'] for r in rs]):.3f} J)",
        "1.00x",
    )
    for name in ("adaptive-softmax", "hierarchical-softmax"):
        for decode in rs[0][name]["accuracy_by_decode"]:
            inf = [r["inference"][f"{name} ({decode})"] for r in rs]
            accs = [r[name]["accuracy_by_decode"][decode] for r in rs]
            t.add_row(
                name,
                decode,
                f"{100 * mean(accs):.2f}",
                f"{mean([100 * (a - r['baseline_accuracy']) for a, r in zip(accs, rs)]):+.2f}",
                f"{mean([r[name]['energy_ratio'] for r in rs]):.2f}x",
                f"{mean([i['energy_ratio'] for i in inf]):.2f}x",
                f"{mean([i['latency_ratio'] for i in inf]):.2f}x",
            )
    out.print(t)

    t = Table(title="active learning digits-mlp (means over seeds; budget 50 % of the pool)")
    for c in (
        "strategy",
        "final acc Δ pt",
        "labels to within 1 pt",
        "energy to within 1 pt",
        "whole run energy",
    ):
        t.add_column(c, justify="left" if c == "strategy" else "right")
    for s in STRATEGIES:
        rs = [r for r in result["active"]["rows"] if r["strategy"] == s]
        hit = [r for r in rs if r["labels_to_within_1pt"] is not None]
        t.add_row(
            s,
            f"{mean([100 * (r['accuracy'] - r['baseline_accuracy']) for r in rs]):+.2f}",
            (
                f"{mean([r['labels_to_within_1pt'] / r['pool_size'] for r in hit]) * 100:.0f} % "
                f"({len(hit)}/{len(rs)} seeds)"
            )
            if hit
            else "never",
            f"{mean([r['energy_to_within_1pt_ratio'] for r in hit]):.2f}x" if hit else "-",
            f"{mean([r['energy_j'] / r['baseline_energy_j'] for r in rs]):.2f}x",
        )
    out.print(t)

    t = Table(title="targets")
    for c in ("target", "met", "measured"):
        t.add_column(c)
    for r in result["targets"]:
        t.add_row(r["target"], "[green]yes" if r["met"] else "[red]no", r["measured"])
    out.print(t)


SECTIONS: dict[str, Callable[[Baselines, argparse.Namespace], dict[str, Any]]] = {
    "early_stop": lambda bl, a: early_stop(bl, a.seeds),
    "progressive": lambda bl, a: progressive(bl, a.seeds),
    "transfer": lambda bl, a: transfer(bl, a.seeds),
    "early_exit": lambda bl, a: early_exit(bl, a.seeds),
    "blocks": lambda bl, a: blocks(bl, a.seeds),
    "softmax": lambda bl, a: softmax(bl, a.seeds, a.repeats),
    "active": lambda bl, a: active(bl, a.seeds),
}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--repeats", type=int, default=50, help="timed passes (softmax)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SECTIONS),
        help="rerun these sections only; the others are kept from the existing --out file",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with Tracker("probe", db=False, handle_signals=False) as probe:
        pass
    bl = Baselines()
    result: dict[str, Any] = {
        "machine": {
            "cpu": _cpu_model(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "energy_method": probe.energy_method,
        },
        "seeds": list(args.seeds),
        "method": (__doc__ or "").split("\n\n", 1)[1].split("Run (")[0].strip(),
    }
    kept: dict[str, Any] = {}
    if args.only:
        kept = json.loads(args.out.read_text())
        result["sections_rerun"] = {
            **kept.get("sections_rerun", {}),
            **{name: time.strftime("%Y-%m-%d %H:%M") for name in args.only},
        }
    for name, run_section in SECTIONS.items():
        if args.only and name not in args.only:
            result[name] = kept[name]
        else:
            result[name] = run_section(bl, args)
    fresh = [
        {
            "task": k[0],
            "seed": k[1],
            "accuracy": v["accuracy"],
            "energy_j": v["energy_j"],
            "seconds": v["seconds"],
            "curve": v.get("curve"),
        }
        for k, v in bl.cache.items()
    ]
    rerun = {r["task"] for r in fresh}
    result["baselines"] = [r for r in kept.get("baselines", []) if r["task"] not in rerun] + fresh
    result["targets"] = summarise(result)
    result["total_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print_tables(result)
    print(f"wrote {args.out} in {result['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
