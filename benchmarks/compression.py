"""Measured effect of each reduce-stage technique on the bench's digits and small tabular tasks.

Uses the bench's own tasks (``frugalml.bench.tasks``, what ``frugal bench`` runs): digits
(1797 8x8 images) split 60/15/25 stratified with a fixed seed and standardised, 450 test
images. Trains each task's baseline with its recipe, applies each technique through
``frugalml.reduce.get_technique`` and measures on the test split:

- accuracy: mean over training seeds (``--seeds``, default 0 1 2: initialisation,
  shuffling and the technique's own randomness change, the split does not); the
  change in percentage points is the mean of the per-seed differences against that
  seed's baseline. One test image is 0.22 pt.
- parameters and non-zero parameters (``model.parameters()``, biases included; int8
  layers pack their weights outside it, so those rows show only the size);
- size: bytes of ``torch.save(model.state_dict())`` (dense: pruned zeros still take
  4 bytes; weight-cluster and binary-connect report their packed size separately);
- batch-inference latency: median of ``--repeats`` forward passes over one batch of
  ``--batch`` test images (the test split repeated when it is smaller); each round times
  every variant of the task once in a shuffled order, so speed-ups are ratios taken under
  the same machine load; also at batch 1 (the fixed per-call cost);
- inference energy per 1,000 samples at ``--batch``: ``--energy-windows`` windows of at
  least 0.5 s per variant under ``frugalml.Tracker`` (round-robin, median); on a machine
  without RAPL the CPU energy is modelled from CPU time, so the ratio is one of CPU work;
- cost: wall time of the baseline's training, or of the technique's ``apply`` (its
  fine-tuning, calibration or student training), mean over seeds;
- the technique's own ``report()`` (sparsity, bits per weight, channel counts...).

Tasks: ``digits-mlp`` (64-512-512-10 MLP, 30 epochs), ``digits-cnn`` (3x3 conv blocks of
32/64/128 channels with BatchNorm, 15 epochs), both Adam lr 1e-3 batch 64, and
``digits-mlp-wide`` (the same data, 64-2048-2048-10, 10 epochs; defined here, not a
bench task), because dynamic int8 only pays off once the Linear layers are wide enough
for the matrix products, not the per-batch activation quantisation, to dominate; and the
quantised rows of ``iris-mlp`` (4-64-64-3) and ``breast-cancer-mlp`` (30-128-128-2), where
the per-call cost of quantisation decides. Last, the channel-prune recipes for digits-cnn
compared on the validation split with other seeds (``--no-sweep`` skips it).

``--tasks`` reruns the named tasks only and keeps the other tasks' rows from the existing
``--out`` file (each task's ratios come from one run of that task; ``tasks_rerun`` in the
JSON records which tasks were rerun, and when), so a rerun takes a few minutes.

Run (alone on the machine: other work skews the timings):

    .venv/bin/python benchmarks/compression.py [--tasks digits-cnn]

Writes benchmarks/results/compression.json and prints Rich tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from rich.table import Table
from torch import nn

from frugalml.bench.tasks import Task, get_task
from frugalml.cli._common import console as wide_console
from frugalml.measure.tracker import Tracker
from frugalml.reduce import count_nonzero, count_params, get_technique, state_dict_bytes
from frugalml.reduce._timing import batch_of
from frugalml.reduce.quantize import bf16_cpu_support
from frugalml.train import TrainData, evaluate, fit, mlp

RESULTS = Path(__file__).parent / "results" / "compression.json"
# digits-cnn settings chosen on the validation split, seeds 3-5 (docs/reduce.md); the bench's
# digits-cnn task uses the same (frugalml.bench.tasks)
CNN_DISTILL: dict[str, Any] = get_task("digits-cnn").extra["technique_params"]["distill"]
CNN_BINARY: dict[str, Any] = get_task("digits-cnn").extra["technique_params"]["binary-connect"]
SLOW_S = 0.1
SLOW_REPEATS = 7

# (task, registry name, params, row label) in run order. Parameters other than the
# technique's defaults were chosen on the validation split (see docs/reduce.md).
PLAN: list[tuple[str, str, dict[str, Any], str]] = [
    ("digits-mlp", "magnitude-prune", {}, "magnitude-prune"),
    ("digits-mlp", "magnitude-prune", {"sparse_kernels": "never"}, "magnitude-prune (dense)"),
    ("digits-mlp", "weight-cluster", {"n_clusters": 16}, "weight-cluster"),
    ("digits-mlp", "distill", {"student_width": 0.25}, "distill"),
    ("digits-mlp", "binary-connect", {"mode": "deterministic"}, "binary-connect (deterministic)"),
    ("digits-mlp", "binary-connect", {"mode": "stochastic"}, "binary-connect (stochastic)"),
    ("digits-mlp", "int8-dynamic", {}, "int8-dynamic"),
    ("digits-mlp", "int8-static", {}, "int8-static"),
    ("digits-mlp", "qat", {}, "qat"),
    ("digits-mlp", "bf16", {}, "bf16"),
    ("digits-mlp", "fp16", {}, "fp16"),
    ("digits-mlp", "channel-prune", {"pruning_ratio": 0.5}, "channel-prune"),
    ("digits-cnn", "channel-prune", {"pruning_ratio": 0.5, "lr": 3e-3}, "channel-prune"),
    ("digits-cnn", "distill", CNN_DISTILL, "distill"),
    ("digits-cnn", "distill", {"student_width": 0.45, "lr": 3e-3}, "distill (scratch)"),
    ("digits-cnn", "binary-connect", CNN_BINARY, "binary-connect"),
    ("digits-cnn", "binary-connect", {}, "binary-connect (defaults)"),
    ("digits-cnn", "int8-static", {}, "int8-static"),
    ("digits-cnn", "qat", {}, "qat"),
    ("digits-cnn", "int8-dynamic", {}, "int8-dynamic"),
    ("digits-cnn", "int8-dynamic", {"layers": "all"}, "int8-dynamic (all layers)"),
    ("digits-cnn", "bf16", {}, "bf16"),
    ("digits-cnn", "fp16", {}, "fp16"),
    ("digits-mlp-wide", "int8-dynamic", {}, "int8-dynamic"),
    *[
        (task, name, params, label)
        for task in ("breast-cancer-mlp", "iris-mlp")
        for name, params, label in (
            ("int8-dynamic", {}, "int8-dynamic"),
            ("int8-dynamic", {"layers": "all"}, "int8-dynamic (all layers)"),
            ("int8-static", {}, "int8-static"),
            ("qat", {}, "qat"),
            ("fp16", {}, "fp16"),
        )
    ],
]


# channel-prune on digits-cnn: recipes compared on the validation split (seeds 3-5, not the
# test seeds), the evidence behind the digits-cnn recipe (50 % of channels, 10 epochs, 3e-3)
CNN_PRUNE_SWEEP: dict[str, dict[str, Any]] = {
    "10 epochs, lr 3e-3 (the recipe)": {"fine_tune_epochs": 10, "lr": 3e-3},
    "20 epochs, lr 3e-3": {"fine_tune_epochs": 20, "lr": 3e-3},
    "15 epochs, lr 1e-3": {"fine_tune_epochs": 15, "lr": 1e-3},
    "30 epochs, lr 1e-3": {"fine_tune_epochs": 30, "lr": 1e-3},
}
SWEEP_SEEDS = (3, 4, 5)


def make_task(name: str) -> Task:
    """The bench's own task (``frugal bench`` uses the same), or the wide MLP variant."""
    if name == "digits-mlp-wide":
        return dataclasses.replace(
            get_task("digits-mlp"),
            name=name,
            model_desc="MLP 64-2048-2048-10 (ReLU)",
            make_model=functools.partial(mlp, 64, 2048, 10, 2),
            epochs=10,
        )
    return get_task(name)


def latencies_s(
    models: dict[str, nn.Module], X: torch.Tensor, repeats: int, seed: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Median seconds per forward pass of ``X``, and the number of timed passes.

    Each round times every variant once, in a shuffled order, so drift in machine load
    and the after-effects of one variant on the next (caches, clock) spread evenly. A
    variant slower than ``SLOW_S`` per pass stops after ``SLOW_REPEATS`` passes (emulated
    fp16 convolutions take ~1 s a batch here), which keeps the run short.
    """
    times: dict[str, list[float]] = {k: [] for k in models}
    rng = random.Random(seed)
    keys = list(models)
    with torch.inference_mode():
        for m in models.values():
            m.eval()
            for _ in range(3):
                m(X)
        for _ in range(repeats):
            rng.shuffle(keys)
            for key in keys:
                done = times[key]
                if len(done) >= SLOW_REPEATS and statistics.median(done) > SLOW_S:
                    continue
                t0 = time.perf_counter()
                models[key](X)
                times[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, {
        k: len(v) for k, v in times.items()
    }


def inference_energy(
    models: dict[str, nn.Module], X: torch.Tensor, windows: int
) -> dict[str, float]:
    """Joules per 1,000 samples of each model on batches ``X``: ``windows`` tracked windows of
    at least 0.5 s per model, round-robin; the median (CPU energy modelled here)."""
    out: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for _ in range(windows):
            for key, model in models.items():
                samples = 0
                with Tracker("compression-infer", db=False, handle_signals=False) as run:
                    start = time.perf_counter()
                    while samples == 0 or time.perf_counter() - start < 0.5:
                        model(X)
                        samples += len(X)
                out[key].append(run.energy_j["total"] / samples * 1000)
    return {k: statistics.median(v) for k, v in out.items()}


def bf16_training_ratio(data: TrainData, epochs: int, repeats: int) -> dict[str, float]:
    """Median seconds of ``epochs`` training epochs, float32 vs bf16 autocast, interleaved."""
    assert data.make_model is not None
    runs: dict[str, list[float]] = {"float32": [], "bf16_autocast": []}
    for _ in range(repeats):
        for key, dtype in (("float32", None), ("bf16_autocast", torch.bfloat16)):
            model = data.make_model()
            t0 = time.perf_counter()
            fit(model, data, epochs=epochs, autocast_dtype=dtype)
            runs[key].append(time.perf_counter() - t0)
    out: dict[str, float] = {f"{k}_s": statistics.median(v) for k, v in runs.items()}
    out["time_ratio"] = out["bf16_autocast_s"] / out["float32_s"]
    return out


def run_task(task: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Baseline and every planned technique on one task, for each seed; then timing."""
    console = wide_console(stderr=True)
    data0, X_test, y_test = make_task(task).train_data(seed=args.seeds[0])
    plan = [(name, params, label) for t, name, params, label in PLAN if t == task]
    labels = ["baseline"] + [label for _, _, label in plan]
    acc: dict[str, list[float]] = {k: [] for k in labels}
    cost_s: dict[str, list[float]] = {k: [] for k in labels}
    models: dict[str, nn.Module] = {}  # the first seed's, for size and latency
    reports: dict[str, dict[str, Any]] = {"baseline": {}}
    params_set: dict[str, dict[str, Any]] = {"baseline": {}}
    failed: dict[str, str] = {}
    for i, seed in enumerate(args.seeds):
        data = dataclasses.replace(data0, seed=seed)
        assert data.make_model is not None
        torch.manual_seed(seed)
        baseline = data.make_model()
        t0 = time.perf_counter()
        fit(baseline, data)
        cost_s["baseline"].append(time.perf_counter() - t0)
        acc["baseline"].append(evaluate(baseline, X_test, y_test))
        if i == 0:
            models["baseline"] = baseline
        for name, params, label in plan:
            if label in failed:
                continue
            technique = get_technique(name, **params)
            torch.manual_seed(seed)
            start = data.make_model() if technique.kind == "train" else baseline
            t0 = time.perf_counter()
            try:
                model = technique.apply(start, data)
            except Exception as e:  # a failed technique is a row with its reason
                failed[label] = str(e)
                continue
            cost_s[label].append(time.perf_counter() - t0)
            acc[label].append(evaluate(model, X_test, y_test))
            if i == 0:
                models[label] = model
                reports[label] = technique.report()
                params_set[label] = technique.get_params()
        console.log(f"{task}: seed {seed} done")
    X_batch = batch_of(X_test, args.batch)
    lat, n_timed = latencies_s(models, X_batch, args.repeats, seed=args.seeds[0])
    lat1, _ = latencies_s(models, X_test[:1], args.repeats, seed=args.seeds[0])
    energy = inference_energy(models, X_batch, args.energy_windows)
    base = models["baseline"]
    rows: list[dict[str, Any]] = []
    for label in labels:
        if label in failed:
            rows.append({"task": task, "technique": label, "failed": failed[label]})
            continue
        model = models[label]
        deltas = [100 * (a - b) for a, b in zip(acc[label], acc["baseline"])]
        row: dict[str, Any] = {
            "task": task,
            "technique": label,
            "params_set": params_set[label],
            "accuracy": statistics.mean(acc[label]),
            "accuracy_by_seed": acc[label],
            "accuracy_delta_pt": statistics.mean(deltas),
            "accuracy_delta_pt_by_seed": deltas,
            "cost_s": statistics.mean(cost_s[label]),
            "size_bytes": state_dict_bytes(model),
            "size_ratio": state_dict_bytes(base) / state_dict_bytes(model),
            "latency_ms": lat[label] * 1e3,
            "latency_passes": n_timed[label],
            "latency_ms_batch_1": lat1[label] * 1e3,
            "speedup": lat["baseline"] / lat[label],
            "infer_energy_j_per_1k": energy[label],
            "infer_energy_ratio": energy["baseline"] / energy[label],
            "report": reports[label],
        }
        if not _is_int8(model):
            row["params"] = count_params(model)
            row["nonzero_params"] = count_nonzero(model)
            row["param_reduction"] = count_params(base) / row["params"]
            row["nonzero_reduction"] = count_nonzero(base) / row["nonzero_params"]
        rows.append(row)
    return rows


def channel_prune_sweep() -> dict[str, Any]:
    """Validation accuracy change of each :data:`CNN_PRUNE_SWEEP` recipe (50 % of channels)
    against its seed's baseline on digits-cnn, seeds :data:`SWEEP_SEEDS`."""
    task = get_task("digits-cnn")
    deltas: dict[str, list[float]] = {k: [] for k in CNN_PRUNE_SWEEP}
    for seed in SWEEP_SEEDS:
        data, _, _ = task.train_data(seed=seed)
        assert data.make_model is not None
        torch.manual_seed(seed)
        baseline = data.make_model()
        fit(baseline, data)
        base_acc = evaluate(baseline, data.X_val, data.y_val)
        for label, params in CNN_PRUNE_SWEEP.items():
            pruned = get_technique("channel-prune", pruning_ratio=0.5, **params).apply(
                baseline, data
            )
            deltas[label].append(100 * (evaluate(pruned, data.X_val, data.y_val) - base_acc))
    return {
        "task": "digits-cnn",
        "split": f"validation ({len(data.y_val)} images), seeds {list(SWEEP_SEEDS)}",
        "rows": [
            {
                "recipe": label,
                "params": CNN_PRUNE_SWEEP[label],
                "val_delta_pt": statistics.mean(d),
                "val_delta_pt_by_seed": d,
            }
            for label, d in deltas.items()
        ],
    }


def _is_int8(model: nn.Module) -> bool:
    return any(type(m).__module__.startswith("torch.ao.nn.") for m in model.modules())


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every planned task, or with ``--tasks`` those only, the other tasks' rows (and the
    side measurements that belong to them) kept from the existing ``--out`` file."""
    torch.set_num_threads(args.threads)
    order = list(dict.fromkeys(t for t, _, _, _ in PLAN))
    now = [t for t in order if not args.tasks or t in args.tasks]
    kept: dict[str, Any] = {}
    if args.tasks and args.out.exists():
        kept = json.loads(args.out.read_text())
    rows = [r for r in kept.get("rows", []) if r["task"] not in now]
    tasks = {k: v for k, v in kept.get("setup", {}).get("tasks", {}).items() if k not in now}
    for name in now:
        tasks[name] = make_task(name).describe()
        rows += run_task(name, args)
    bf16_training = kept.get("bf16_autocast_training")
    if "digits-mlp" in now:
        data, _, _ = make_task("digits-mlp").train_data(seed=args.seeds[0])
        bf16_training = bf16_training_ratio(data, epochs=2, repeats=3)
    sweep = kept.get("channel_prune_val_sweep")
    if args.sweep and "digits-cnn" in now:
        sweep = channel_prune_sweep()
    rerun = kept.get("tasks_rerun", {})
    if args.tasks:
        rerun = {**rerun, **{t: time.strftime("%Y-%m-%d %H:%M") for t in now}}
    tasks = {t: tasks[t] for t in order if t in tasks}
    rows.sort(key=lambda r: order.index(r["task"]))
    return {
        "machine": {
            "cpu": _cpu_model(),
            "bf16_cpu_support": bf16_cpu_support(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "quantized_engine": torch.backends.quantized.engine,
            "torchao": "not installed; not measured",
        },
        "setup": {
            "tasks": tasks,
            "seeds": list(args.seeds),
            "accuracy": "mean over seeds of test accuracy; delta = mean of per-seed deltas",
            "latency": f"median of {args.repeats} shuffled-interleaved passes "
            f"({SLOW_REPEATS} if > {SLOW_S} s), batch {args.batch}",
            "size": "bytes of torch.save(state_dict)",
            "inference_energy": f"median of {args.energy_windows} tracked windows of >= 0.5 s "
            f"per model at batch {args.batch}, round-robin (J per 1,000 samples; CPU energy "
            "modelled from CPU time where there is no RAPL)",
            "cost_s": "baseline: training wall time; technique: apply() wall time (mean)",
        },
        "tasks_rerun": rerun,
        "rows": rows,
        "targets": targets(rows),
        "bf16_autocast_training": bf16_training,
        "channel_prune_val_sweep": sweep,
    }


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each checked against the measured rows."""

    def find(task: str, technique: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["task"] == task and r["technique"] == technique), None)

    out: list[dict[str, Any]] = []

    def check(name: str, row: dict[str, Any] | None, conds: list[tuple[str, float, str]]) -> None:
        if row is None or "failed" in row:
            out.append({"target": name, "met": False, "measured": row and row.get("failed")})
            return
        measured, met = {}, True
        for key, bound, op in conds:
            value = row[key] if key in row else row["report"][key]
            measured[key] = value
            met &= value >= bound if op == ">=" else value <= bound
        out.append({"target": name, "met": bool(met), "measured": measured})

    check(
        "magnitude-prune digits-mlp: >=9x fewer non-zero params, <=0.5 pt loss",
        find("digits-mlp", "magnitude-prune"),
        [("nonzero_reduction", 9, ">="), ("accuracy_delta_pt", -0.5, ">=")],
    )
    check(
        "channel-prune 50% digits-cnn: >=1.5x faster batch inference, <=1 pt loss",
        find("digits-cnn", "channel-prune"),
        [("speedup", 1.5, ">="), ("accuracy_delta_pt", -1, ">=")],
    )
    check(
        "int8-dynamic digits-mlp-wide: >=2x faster, >=3.5x smaller, <=0.5 pt loss",
        find("digits-mlp-wide", "int8-dynamic"),
        [("speedup", 2, ">="), ("size_ratio", 3.5, ">="), ("accuracy_delta_pt", -0.5, ">=")],
    )
    check(
        "weight-cluster 16 clusters digits-mlp: <=0.5 pt loss at <=4.5 bits/weight",
        find("digits-mlp", "weight-cluster"),
        [("accuracy_delta_pt", -0.5, ">="), ("bits_per_weight", 4.5, "<=")],
    )
    check(
        "distill digits-mlp: >=4x fewer params within 1 pt",
        find("digits-mlp", "distill"),
        [("param_reduction", 4, ">="), ("accuracy_delta_pt", -1, ">=")],
    )
    check(
        "magnitude-prune digits-mlp, 90 % sparsity: >= 2x lower inference energy at batch 256",
        find("digits-mlp", "magnitude-prune"),
        [("infer_energy_ratio", 2, ">="), ("accuracy_delta_pt", -0.5, ">=")],
    )
    check(
        "distill digits-cnn: within 1 pt of the teacher at >= 4x fewer params (mean of seeds)",
        find("digits-cnn", "distill"),
        [("param_reduction", 4, ">="), ("accuracy_delta_pt", -1, ">=")],
    )
    check(
        "binary-connect digits-cnn: within 1 pt (mean of seeds)",
        find("digits-cnn", "binary-connect"),
        [("accuracy_delta_pt", -1, ">=")],
    )
    check(
        "channel-prune digits-cnn: within 1 pt (mean of seeds)",
        find("digits-cnn", "channel-prune"),
        [("accuracy_delta_pt", -1, ">=")],
    )
    for task in ("iris-mlp", "breast-cancer-mlp", "digits-cnn"):
        check(
            f"int8-dynamic (layers='auto') {task}: no slower than float32 at batch 256 "
            "(>= 0.9x, timing noise)",
            find(task, "int8-dynamic"),
            [("speedup", 0.9, ">=")],
        )
    for mode in ("deterministic", "stochastic"):
        row = find("digits-mlp", f"binary-connect ({mode})")
        out.append(
            {
                "target": f"binary-connect ({mode}) digits-mlp: accuracy drop measured",
                "met": row is not None and "failed" not in row,
                "measured": row and {"accuracy_delta_pt": row.get("accuracy_delta_pt")},
            }
        )
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_tables(result: dict[str, Any]) -> None:
    console = wide_console()
    m, setup = result["machine"], result["setup"]
    table = Table(
        title=f"reduce techniques on digits — {m['cpu']}, {m['torch_threads']} torch thread(s), "
        f"torch {m['torch']}; seeds {setup['seeds']}; latency: {setup['latency']}"
    )
    columns = ["task", "technique", "acc %", "Δ pt", "nonzero ÷", "size ÷", "ms", "speed-up"]
    for col in [*columns, "ms (b=1)", "J/1k ÷", "cost s"]:
        table.add_column(col, justify="left" if col in ("task", "technique") else "right")
    for r in result["rows"]:
        if "failed" in r:
            table.add_row(r["task"], r["technique"], f"[red]FAILED: {r['failed']}")
            continue
        table.add_row(
            r["task"],
            r["technique"],
            f"{100 * r['accuracy']:.2f}",
            f"{r['accuracy_delta_pt']:+.2f}",
            f"{r['nonzero_reduction']:.2f}x" if "nonzero_reduction" in r else "int8",
            f"{r['size_ratio']:.2f}x",
            f"{r['latency_ms']:.2f}",
            f"{r['speedup']:.2f}x",
            f"{r['latency_ms_batch_1']:.3f}",
            f"{r['infer_energy_ratio']:.2f}x",
            f"{r['cost_s']:.1f}",
        )
    console.print(table)
    facts = Table(title="technique report() (first seed)")
    for col in ("task", "technique", "facts"):
        facts.add_column(col)
    for r in result["rows"]:
        if r.get("report"):
            text = ", ".join(f"{k}={_fmt(v)}" for k, v in r["report"].items())
            facts.add_row(r["task"], r["technique"], text)
    console.print(facts)
    targets_table = Table(title="targets")
    for col in ("target", "met", "measured"):
        targets_table.add_column(col)
    for t in result["targets"]:
        measured = t["measured"]
        text = (
            ", ".join(f"{k}={_fmt(v)}" for k, v in measured.items())
            if isinstance(measured, dict)
            else str(measured)
        )
        targets_table.add_row(t["target"], "[green]yes" if t["met"] else "[red]no", text)
    console.print(targets_table)
    bf = result["bf16_autocast_training"]
    console.print(
        f"bf16 autocast training, digits-mlp, 2 epochs, median of 3: float32 "
        f"{bf['float32_s']:.2f} s, bf16 autocast {bf['bf16_autocast_s']:.2f} s "
        f"({bf['time_ratio']:.2f}x the float32 time); CPU native bf16: {m['bf16_cpu_support']}"
    )
    sweep = result.get("channel_prune_val_sweep")
    if sweep:
        table = Table(title=f"channel-prune 50 % on digits-cnn, {sweep['split']}")
        for col in ("recipe", "Δ pt (val)", "per seed"):
            table.add_column(col)
        for r in sweep["rows"]:
            per_seed = ", ".join(f"{d:+.2f}" for d in r["val_delta_pt_by_seed"])
            table.add_row(r["recipe"], f"{r['val_delta_pt']:+.2f}", per_seed)
        console.print(table)


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=30, help="timed passes per variant")
    parser.add_argument("--batch", type=int, default=256, help="inference batch size")
    parser.add_argument(
        "--energy-windows", type=int, default=3, help="inference-energy windows per model"
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=list(dict.fromkeys(t for t, _, _, _ in PLAN)),
        help="rerun these tasks only, keeping the others' rows from --out (default: all)",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)"
    )
    parser.add_argument(
        "--no-sweep",
        dest="sweep",
        action="store_false",
        help="skip the channel-prune recipe sweep on the validation split (~2 min)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = run(args)
    result["setup"]["total_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_tables(result)
    print(f"wrote {args.out} in {result['setup']['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
