"""Energy-aware search: what each search strategy spends to find a good model.

On ``digits-mlp`` and ``digits-cnn``, for each seed, with the same space (``hpo``: learning
rate, batch size, epochs, weight decay) and the same trial budget:

- grid vs random vs TPE vs TPE + Hyperband (``frugal search --sampler ... --pruner ...``);
- a multi-objective search (``--objectives accuracy,train_energy_j``, multi-objective TPE);
- the weight-sharing search (``--space nas --weight-sharing``) against training each of its
  candidate architectures alone (the same architectures, the task's recipe).

Figures, all measured in this run (``frugalml.search.optimize``, one worker, ``db=False``):

- *energy to target*: the energy of a search's trials, in trial order, up to and including the
  first trial whose validation accuracy is within 1 point of the best validation accuracy any
  method found for that task and seed (pruned and failed trials count; the search's overhead
  outside trials does not: it is paid once per search whatever its order);
- *search energy*: ``total_energy_j`` of ``search.json`` (trials + overhead outside them);
- *best accuracy*: the best validation accuracy of the search's completed trials, and the
  test accuracy of that trial.

Energy is ``cpu-model+ram-model`` on machines without RAPL (CPU time x rated power per
thread): proportional to CPU work, not a wall-socket reading. Medians over seeds.

Run (alone on the machine: other work skews the timings; ``--tasks``/``--seeds`` run a part
and merge it into the results file):

    .venv/bin/python benchmarks/search.py

Writes benchmarks/results/search.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from frugalml.cli._common import console as wide_console
from frugalml.search import optimize

RESULTS = Path(__file__).parent / "results" / "search.json"
console = wide_console(stderr=True)

METHODS = {
    "grid": {"sampler": "grid", "pruner": "none"},
    "random": {"sampler": "random", "pruner": "none"},
    "tpe": {"sampler": "tpe", "pruner": "none"},
    "tpe+hyperband": {"sampler": "tpe", "pruner": "hyperband"},
}
TARGET_PT = 1.0
COMMON = {"db": False, "infer_seconds": 0.1}


def search(task: str, space: str, seed: int, out: Path, **options: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    res = optimize(task, space, seed=seed, out_dir=str(out), **COMMON, **options)
    console.print(
        f"  {task} {space} {options} seed {seed}: {len(res.data['trials'])} trials, "
        f"{res.data['total_energy_j']:.0f} J, {time.perf_counter() - t0:.0f} s"
    )
    return res.data


def best_trial(data: dict[str, Any]) -> dict[str, Any] | None:
    done = [t for t in data["trials"] if t["state"] == "complete" and t["accuracy"] is not None]
    return max(done, key=lambda t: (t["accuracy"], -t["number"])) if done else None


def energy_to_target(data: dict[str, Any], target: float) -> float | None:
    spent = 0.0
    for t in sorted(data["trials"], key=lambda t: t["number"]):
        spent += t["energy_j"] or 0.0
        if t["state"] == "complete" and (t["accuracy"] or 0.0) >= target - 1e-12:
            return spent
    return None


def summary(data: dict[str, Any], target: float) -> dict[str, Any]:
    best = best_trial(data)
    states: dict[str, int] = {}
    for t in data["trials"]:
        states[t["state"]] = states.get(t["state"], 0) + 1
    return {
        "trials": len(data["trials"]),
        "states": states,
        "energy_to_target_j": energy_to_target(data, target),
        "total_energy_j": data["total_energy_j"],
        "overhead_energy_j": data["overhead_energy_j"],
        "best_accuracy": best["accuracy"] if best else None,
        "best_test_accuracy": best["test_accuracy"] if best else None,
        "best_params": best["params"] if best else None,
    }


def multi_objective(data: dict[str, Any]) -> dict[str, Any]:
    """Is there a front model within 1 pt of the most accurate trial at <= 1/3 its training
    energy?"""
    done = [t for t in data["trials"] if t["state"] == "complete"]
    top = max(done, key=lambda t: (t["accuracy"], -(t["train_energy_j"] or 0.0)))
    front = [t for t in done if t["number"] in data["pareto"]]
    ok = [
        t
        for t in front
        if (top["accuracy"] - t["accuracy"]) * 100 <= TARGET_PT + 1e-9
        and t["train_energy_j"] <= top["train_energy_j"] / 3
    ]
    cheapest = min(ok, key=lambda t: t["train_energy_j"]) if ok else None
    near = [t for t in front if (top["accuracy"] - t["accuracy"]) * 100 <= TARGET_PT + 1e-9]
    cheapest_near = min(near, key=lambda t: t["train_energy_j"])
    return {
        "trials": len(data["trials"]),
        "front": sorted(data["pareto"]),
        "front_points": [
            [t["number"], t["accuracy"], t["train_energy_j"], t["params"]]
            for t in sorted(front, key=lambda t: t["train_energy_j"])
        ],
        "cheapest_front_within_1pt": {
            "number": cheapest_near["number"],
            "accuracy": cheapest_near["accuracy"],
            "train_energy_j": cheapest_near["train_energy_j"],
            "energy_ratio": top["train_energy_j"] / cheapest_near["train_energy_j"],
        },
        "most_accurate": {k: top[k] for k in ("number", "accuracy", "train_energy_j")},
        "cheap_within_1pt": (
            {k: cheapest[k] for k in ("number", "accuracy", "train_energy_j")} if cheapest else None
        ),
        "energy_ratio": (top["train_energy_j"] / cheapest["train_energy_j"]) if cheapest else None,
        "met": cheapest is not None,
        "total_energy_j": data["total_energy_j"],
    }


def weight_sharing(task: str, seed: int, n: int, root: Path) -> dict[str, Any]:
    """The weight-sharing search, then every distinct candidate trained alone."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    ws = search(task, "nas", seed, root / "ws", weight_sharing=True, n_trials=n)
    retrain = next(t for t in ws["trials"] if t["number"] == ws["best"])
    candidates = [t for t in ws["trials"] if t["number"] != ws["best"] and t["state"] == "complete"]
    archs = list(
        {json.dumps(t["params"], sort_keys=True): t["params"] for t in candidates}.values()
    )
    # the same architectures through the ordinary nas search, each trained with the recipe
    out = root / "each"
    out.mkdir(parents=True)
    study = optuna.create_study(
        storage=JournalStorage(JournalFileBackend(str(out / "search.journal"))),
        study_name=f"{task}-nas",
        direction="maximize",
    )
    extra = {"block": "standard", "early_exit": False} if task.endswith("cnn") else {}
    for params in archs:
        study.enqueue_trial({**params, **extra})
    each = search(task, "nas", seed, out, n_trials=len(archs), sampler="random", pruner="none")
    best_each = best_trial(each)
    assert best_each is not None
    drop_pt = (best_each["accuracy"] - retrain["accuracy"]) * 100
    return {
        "candidates": len(candidates),
        "distinct_architectures": len(archs),
        "chosen": retrain["params"],
        "chosen_accuracy": retrain["accuracy"],
        "chosen_test_accuracy": retrain["test_accuracy"],
        "best_each": best_each["params"],
        "best_each_accuracy": best_each["accuracy"],
        "best_each_test_accuracy": best_each["test_accuracy"],
        "accuracy_gap_pt": drop_pt,
        "ws_energy_j": ws["total_energy_j"],
        "supernet_energy_j": ws["study"]["sessions"][0].get("supernet_energy_j"),
        "each_energy_j": each["total_energy_j"],
        "energy_ratio": each["total_energy_j"] / ws["total_energy_j"],
        "met": drop_pt <= TARGET_PT + 1e-9 and each["total_energy_j"] >= 5 * ws["total_energy_j"],
    }


def run_seed(
    task: str, seed: int, args: argparse.Namespace, done: dict[str, Any]
) -> dict[str, Any]:
    """The parts of one seed asked for in ``args.parts``, merged into what ``done`` holds."""
    out = dict(done)
    with tempfile.TemporaryDirectory(prefix="frugal-search-bench-") as tmp:
        root = Path(tmp)
        if "methods" in args.parts:
            raw = {
                m: search(task, "hpo", seed, root / m, n_trials=args.trials, **opts)
                for m, opts in METHODS.items()
            }
            best_any = max(
                (b["accuracy"] for d in raw.values() if (b := best_trial(d)) is not None),
                default=0.0,
            )
            target = best_any - TARGET_PT / 100
            out.update(
                target_accuracy=target,
                best_accuracy_any=best_any,
                methods={m: summary(d, target) for m, d in raw.items()},
            )
        if "multi" in args.parts:
            n = args.multi_trials or args.trials
            mo = search(
                task,
                "hpo",
                seed,
                root / "multi",
                n_trials=n,
                objectives=("accuracy", "train_energy_j"),
                sampler=args.multi_sampler,
            )
            key = (
                "multi_objective"
                if n == args.trials and args.multi_sampler == "tpe"
                else f"multi_objective_{args.multi_sampler}_{n}"
            )
            out[key] = {**multi_objective(mo), "sampler": args.multi_sampler}
        if "ws" in args.parts:
            out["weight_sharing"] = weight_sharing(task, seed, args.ws_trials, root / "wsroot")
    return out


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if len(known) == len(values) and known else None


def aggregate(task_runs: dict[str, Any]) -> dict[str, Any]:
    seeds = list(task_runs.values())
    out: dict[str, Any] = {"seeds": sorted(task_runs), "methods": {}}
    for m in METHODS:
        rows = [s["methods"][m] for s in seeds]
        out["methods"][m] = {
            "energy_to_target_j": _median([r["energy_to_target_j"] for r in rows]),
            "total_energy_j": _median([r["total_energy_j"] for r in rows]),
            "best_accuracy": _median([r["best_accuracy"] for r in rows]),
            "reached": sum(r["energy_to_target_j"] is not None for r in rows),
        }
    g = out["methods"]["grid"]["energy_to_target_j"]
    r = out["methods"]["random"]["energy_to_target_j"]
    h = out["methods"]["tpe+hyperband"]["energy_to_target_j"]
    out["targets"] = {
        "random_le_grid": {
            "grid_j": g,
            "random_j": r,
            "met": g is not None and r is not None and r <= g,
        },
        "hyperband_3x_less_than_grid": {
            "ratio": g / h if g and h else None,
            "per_seed": [
                s["methods"]["grid"]["energy_to_target_j"]
                / s["methods"]["tpe+hyperband"]["energy_to_target_j"]
                if s["methods"]["grid"]["energy_to_target_j"]
                and s["methods"]["tpe+hyperband"]["energy_to_target_j"]
                else None
                for s in seeds
            ],
            "met": bool(g and h and g / h >= 3),
        },
        **{
            f"{key}_front": {
                "per_seed": [s[key]["met"] for s in seeds],
                "cheapest_within_1pt_ratios": [
                    s[key]["cheapest_front_within_1pt"]["energy_ratio"]
                    if "cheapest_front_within_1pt" in s[key]
                    else None
                    for s in seeds
                ],
                "met": all(s[key]["met"] for s in seeds),
            }
            for key in sorted({k for s in seeds for k in s if k.startswith("multi_objective")})
            if all(key in s for s in seeds)
        },
        "weight_sharing": {
            "gaps_pt": [s["weight_sharing"]["accuracy_gap_pt"] for s in seeds],
            "energy_ratios": [s["weight_sharing"]["energy_ratio"] for s in seeds],
            "met_per_seed": [s["weight_sharing"]["met"] for s in seeds],
            "met": all(s["weight_sharing"]["met"] for s in seeds),
        },
    }
    return out


def table(results: dict[str, Any]) -> Table:
    t = Table(title="Search strategies (medians over seeds)", title_justify="left")
    for col in (
        "task",
        "method",
        "energy to target J",
        "search energy J",
        "best val acc",
        "reached",
    ):
        t.add_column(col, justify="left" if col in ("task", "method") else "right")
    for task, agg in results["aggregate"].items():
        for m, row in agg["methods"].items():
            t.add_row(
                task,
                m,
                "-" if row["energy_to_target_j"] is None else f"{row['energy_to_target_j']:.1f}",
                "-" if row["total_energy_j"] is None else f"{row['total_energy_j']:.1f}",
                "-" if row["best_accuracy"] is None else f"{row['best_accuracy'] * 100:.2f} %",
                f"{row['reached']}/{len(agg['seeds'])}",
            )
    return t


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["digits-mlp", "digits-cnn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--ws-trials", type=int, default=20)
    parser.add_argument(
        "--parts", nargs="+", default=["methods", "multi", "ws"], choices=["methods", "multi", "ws"]
    )
    parser.add_argument("--multi-trials", type=int, default=None, help="default: --trials")
    parser.add_argument("--multi-sampler", default="tpe", choices=["tpe", "nsga2", "random"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, Any] = (
        json.loads(args.out.read_text()) if args.out.is_file() else {"runs": {}, "aggregate": {}}
    )
    with tempfile.TemporaryDirectory() as tmp:  # imports and first-use costs, not measured
        for task in args.tasks:
            optimize(task, "hpo", n_trials=1, out_dir=f"{tmp}/{task}", **COMMON)
    t0 = time.perf_counter()
    for task in args.tasks:
        for seed in args.seeds:
            console.print(f"[bold]{task} seed {seed}[/bold]")
            runs = results["runs"].setdefault(task, {})
            runs[str(seed)] = run_seed(task, seed, args, runs.get(str(seed), {}))
            results["aggregate"][task] = aggregate(results["runs"][task])
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2) + "\n")
    results.setdefault("config", {}).update(
        {
            "trials": args.trials,
            "ws_trials": args.ws_trials,
            "target_pt": TARGET_PT,
            "space": "hpo",
            "threads": 1,
            "python": sys.version.split()[0],
            "machine": platform.processor() or platform.machine(),
            "last_run_s": time.perf_counter() - t0,
        }
    )
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    wide_console().print(table(results))


if __name__ == "__main__":
    main()
