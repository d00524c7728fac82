"""Measured effect of each reduce-stage technique on scikit-learn's bundled digits.

Trains three baselines on a fixed stratified split of digits (1797 8x8 images; 60 %
train, 10 % validation, 30 % = 540 test), applies each technique through
``frugalml.reduce.get_technique`` and measures on the test split:

- accuracy, and its change in percentage points against the task's baseline;
- parameters and non-zero parameters (``model.parameters()``; int8 layers pack their
  weights outside it, so those rows show the saved size instead);
- size = bytes of ``torch.save(model.state_dict())``;
- batch-inference latency: median of ``--repeats`` timed forward passes over one batch
  of ``--batch`` test images, all variants of a task timed in the same rounds, in turn,
  so the speed-ups are ratios taken under the same machine load;
- the wall time of ``apply`` (fine-tuning and calibration included) and the
  technique's own ``report()``.

Tasks: ``digits-mlp`` (64-256-256-10 MLP), ``digits-cnn`` (three 3x3 conv blocks of
16/32/64 channels) and ``digits-mlp-wide`` (64-2048-2048-10 MLP, because dynamic int8
only pays off when the Linear layers are wide enough for the matrix products, not the
per-batch activation quantisation, to dominate).

Run (the lock keeps other benchmarks off the cores while timing):

    flock /tmp/frugal-bench.lock .venv/bin/python benchmarks/compression.py

Writes benchmarks/results/compression.json and prints Rich tables.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from frugalml.reduce import count_nonzero, count_params, get_technique, state_dict_bytes
from frugalml.reduce.quantize import bf16_cpu_support
from frugalml.train import TrainData, evaluate, fit, mlp, small_cnn

RESULTS = Path(__file__).parent / "results" / "compression.json"
SEED = 0


def digits_split() -> tuple[Any, ...]:
    """Digits scaled to [0, 1], split 60/10/30 stratified with a fixed seed."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.3, random_state=SEED, stratify=y
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=1 / 7, random_state=SEED, stratify=y_rest
    )
    return X_train, y_train, X_val, y_val, X_test, y_test


def make_task(name: str, split: tuple[Any, ...]) -> tuple[TrainData, Any, Any]:
    X_train, y_train, X_val, y_val, X_test, y_test = split
    recipe: dict[str, Any] = {"batch_size": 64, "lr": 1e-3, "seed": SEED}
    factory: Callable[..., nn.Module]
    if name == "digits-mlp":
        factory, shape, recipe["epochs"] = functools.partial(mlp, 64, 256, 10, 2), (-1, 64), 40
    elif name == "digits-mlp-wide":
        factory, shape, recipe["epochs"] = functools.partial(mlp, 64, 2048, 10, 2), (-1, 64), 10
    elif name == "digits-cnn":
        factory = functools.partial(small_cnn, 1, 10, (16, 32, 64))
        shape, recipe["epochs"] = (-1, 1, 8, 8), 20
    else:
        raise ValueError(name)
    data = TrainData.from_arrays(
        X_train.reshape(shape), y_train, X_val.reshape(shape), y_val, make_model=factory, **recipe
    )
    X_te = torch.as_tensor(X_test.reshape(shape), dtype=torch.float32)
    return data, X_te, torch.as_tensor(y_test)


# (task, registry name, params) in run order.
PLAN: list[tuple[str, str, dict[str, Any]]] = [
    ("digits-mlp", "magnitude-prune", {}),
    ("digits-mlp", "weight-cluster", {"n_clusters": 16}),
    ("digits-mlp", "distill", {"student_width": 0.25}),
    ("digits-mlp", "binary-connect", {"mode": "deterministic"}),
    ("digits-mlp", "binary-connect", {"mode": "stochastic"}),
    ("digits-mlp", "int8-dynamic", {}),
    ("digits-mlp", "int8-static", {}),
    ("digits-mlp", "qat", {}),
    ("digits-mlp", "bf16", {}),
    ("digits-mlp", "fp16", {}),
    ("digits-mlp", "channel-prune", {"pruning_ratio": 0.5}),
    ("digits-cnn", "channel-prune", {"pruning_ratio": 0.5}),
    ("digits-cnn", "int8-static", {}),
    ("digits-cnn", "qat", {}),
    ("digits-cnn", "int8-dynamic", {}),
    ("digits-cnn", "bf16", {}),
    ("digits-cnn", "fp16", {}),
    ("digits-mlp-wide", "int8-dynamic", {}),
]


def latencies_s(models: dict[str, nn.Module], X: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds per forward pass of ``X``, variants timed in turn in each round."""
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for m in models.values():
            m.eval()
            for _ in range(3):
                m(X)
        for _ in range(repeats):
            for key, m in models.items():
                t0 = time.perf_counter()
                m(X)
                times[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def bf16_training_ratio(data: TrainData, epochs: int, repeats: int) -> dict[str, float]:
    """Median seconds of ``epochs`` training epochs, float32 vs bf16 autocast, interleaved."""
    assert data.make_model is not None
    runs: dict[str, list[float]] = {"float32": [], "bf16-autocast": []}
    for _ in range(repeats):
        for key, dtype in (("float32", None), ("bf16-autocast", torch.bfloat16)):
            model = data.make_model()
            t0 = time.perf_counter()
            fit(model, data, epochs=epochs, autocast_dtype=dtype)
            runs[key].append(time.perf_counter() - t0)
    out = {f"{k}_s": statistics.median(v) for k, v in runs.items()}
    out["slowdown"] = out["bf16-autocast_s"] / out["float32_s"]
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    split = digits_split()
    console = Console()
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for task in dict.fromkeys(t for t, _, _ in PLAN):
        data, X_test, y_test = make_task(task, split)
        assert data.make_model is not None
        torch.manual_seed(SEED)
        baseline = data.make_model()
        t0 = time.perf_counter()
        fit(baseline, data)
        train_s = time.perf_counter() - t0
        models: dict[str, nn.Module] = {"baseline": baseline}
        task_rows = [_row(task, "baseline", {}, baseline, X_test, y_test, train_s, {})]
        for t_task, name, params in PLAN:
            if t_task != task:
                continue
            technique = get_technique(name, **params)
            start = data.make_model() if technique.kind == "train" else baseline
            label = name if name != "binary-connect" else f"{name} ({params['mode']})"
            t0 = time.perf_counter()
            try:
                model = technique.apply(start, data)
            except Exception as e:  # a failed technique is a row with its reason
                task_rows.append({"task": task, "technique": label, "failed": str(e)})
                continue
            apply_s = time.perf_counter() - t0
            models[label] = model
            task_rows.append(
                _row(
                    task,
                    label,
                    technique.get_params(),
                    model,
                    X_test,
                    y_test,
                    apply_s,
                    technique.report(),
                )
            )
            console.log(f"{task}: {label} done in {apply_s:.1f} s")
        X_batch = X_test[: args.batch]
        lat = latencies_s(models, X_batch, args.repeats)
        base = task_rows[0]
        for row in task_rows:
            if "failed" in row:
                continue
            row["latency_ms"] = lat[row["technique"]] * 1e3
            row["speedup"] = lat["baseline"] / lat[row["technique"]]
            row["accuracy_delta_pt"] = 100 * (row["accuracy"] - base["accuracy"])
            row["size_ratio"] = base["size_bytes"] / row["size_bytes"]
            if row["nonzero_params"] is not None and base["nonzero_params"]:
                row["nonzero_reduction"] = base["nonzero_params"] / row["nonzero_params"]
                row["param_reduction"] = base["params"] / row["params"]
        rows += task_rows
        if task == "digits-mlp":
            extra["bf16_autocast_training"] = bf16_training_ratio(data, 2, 3)
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
            "data": "sklearn digits /16, stratified 60/10/30 split, seed 0; test n=540",
            "latency": f"median of {args.repeats} interleaved forward passes, batch {args.batch}",
            "size": "bytes of torch.save(state_dict)",
        },
        "rows": rows,
        "targets": targets(rows),
        **extra,
    }


def _row(
    task: str,
    label: str,
    params: dict[str, Any],
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    seconds: float,
    report: dict[str, Any],
) -> dict[str, Any]:
    has_params = any(True for _ in model.parameters()) and not _is_int8(model)
    return {
        "task": task,
        "technique": label,
        "params_set": params,
        "accuracy": evaluate(model, X, y),
        "params": count_params(model) if has_params else None,
        "nonzero_params": count_nonzero(model) if has_params else None,
        "size_bytes": state_dict_bytes(model),
        "apply_s": seconds,
        "report": report,
    }


def _is_int8(model: nn.Module) -> bool:
    return any(type(m).__module__.startswith("torch.ao.nn.") for m in model.modules())


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each checked against the measured rows."""

    def find(task: str, technique: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["task"] == task and r["technique"] == technique), None)

    out = []

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
    console = Console()
    m = result["machine"]
    table = Table(
        title=f"reduce techniques on digits — {m['cpu']}, {m['torch_threads']} torch thread(s), "
        f"torch {m['torch']}; {result['setup']['latency']}"
    )
    for col in (
        "task",
        "technique",
        "acc %",
        "Δ pt",
        "nonzero ÷",
        "size ÷",
        "speed-up",
        "apply s",
        "technique facts",
    ):
        table.add_column(
            col, justify="left" if col in ("task", "technique", "technique facts") else "right"
        )
    for r in result["rows"]:
        if "failed" in r:
            table.add_row(
                r["task"],
                r["technique"],
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                f"[red]FAILED: {r['failed']}",
            )
            continue
        facts = ", ".join(f"{k}={_fmt(v)}" for k, v in r["report"].items())
        table.add_row(
            r["task"],
            r["technique"],
            f"{100 * r['accuracy']:.2f}",
            f"{r['accuracy_delta_pt']:+.2f}",
            f"{r['nonzero_reduction']:.2f}x" if "nonzero_reduction" in r else "int8",
            f"{r['size_ratio']:.2f}x",
            f"{r['speedup']:.2f}x",
            f"{r['apply_s']:.1f}",
            facts,
        )
    console.print(table)
    targets_table = Table(title="targets")
    targets_table.add_column("target")
    targets_table.add_column("met")
    targets_table.add_column("measured")
    for t in result["targets"]:
        measured = t["measured"]
        text = (
            ", ".join(f"{k}={_fmt(v)}" for k, v in measured.items())
            if isinstance(measured, dict)
            else str(measured)
        )
        targets_table.add_row(t["target"], "[green]yes" if t["met"] else "[red]no", text)
    console.print(targets_table)
    bf = result.get("bf16_autocast_training")
    if bf:
        console.print(
            f"bf16 autocast training on digits-mlp (2 epochs, median of 3): float32 "
            f"{bf['float32_s']:.2f} s, bf16 autocast {bf['bf16-autocast_s']:.2f} s "
            f"({bf['slowdown']:.2f}x the float32 time); CPU bf16 support: {m['bf16_cpu_support']}"
        )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=30, help="timed passes per variant")
    parser.add_argument("--batch", type=int, default=256, help="inference batch size")
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
