"""Stacked recipes: how far the best row of each task cuts inference and training energy.

Runs the quick suite (``frugal bench --suite quick``: every technique that applies to each
task, then each task's declared candidate stacks, ``Task.stacks``) once per seed, and for the
five target tasks finds, per purpose, the row (a single technique or a stack) with the lowest
cost within the task's accuracy tolerance:

- per seed, ratios are the row's cost over the baseline's of the same run (``ratios`` of
  ``results.json``: ``infer_energy_per_1k``, ``train_energy_total``), accuracy deltas in points
  against the same seed's baseline;
- across seeds, a row's figure is the median of its per-seed ratios and the mean of its deltas;
  the best row per purpose is the lowest median ratio among the rows whose mean delta is within
  the tolerance (1 pt) and that were ok on every seed;
- the bench's own choice per seed (``best`` in ``results.json``) is recorded beside it.

Targets (issue #16): >= 10x less inference energy per 1,000 samples at <= 1 pt on at least 3
of the five tasks; >= 5x less training energy at <= 1 pt on at least 3; the quick suite within
5 minutes (its duration on each seed is recorded: this run *is* the quick suite).

Energy is ``cpu-model+ram-model`` on machines without RAPL (CPU time x rated power per
thread): proportional to CPU work, not a wall-socket reading.

Run (alone on the machine: other work skews the timings):

    .venv/bin/python benchmarks/stacks.py [--seeds 0,1,2]

Writes benchmarks/results/stacks.json (or ``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from frugalml.bench import BenchConfig, run_bench
from frugalml.cli._common import console as wide_console

RESULTS = Path(__file__).parent / "results" / "stacks.json"
TASKS = ("digits-mlp", "digits-cnn", "breast-cancer-mlp", "iris-mlp", "zipf-10k")
TOLERANCE_PT = 1.0
TARGETS = {  # purpose -> (ratio key, the cost must be at most this fraction, tasks needed)
    "inference-energy": ("infer_energy_per_1k", 0.1, 3),
    "training-energy": ("train_energy_total", 0.2, 3),
}
SUITE_LIMIT_S = 300.0
ROW_KEYS = ("status", "verdict", "verdict_purpose", "verdict_reason", "verdicts", "ratios")
console = wide_console(stderr=True)


def run_seed(seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    results = run_bench(BenchConfig(suite="quick", seed=seed, db=False))
    wall = time.perf_counter() - t0
    console.print(f"seed {seed}: quick suite in {wall:.0f} s")
    return {"seed": seed, "wall_s": wall, "results": results}


def per_row(runs: list[dict[str, Any]], task: str) -> dict[str, dict[str, Any]]:
    """Every row of ``task`` across seeds: per-seed ratios, deltas, verdicts; medians."""
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        t = run["results"]["tasks"][task]
        for name, row in t["techniques"].items():
            r = row.get("ratios") or {}
            entry = rows.setdefault(
                name, {"seeds": [], "ok": 0, "steps": len(row.get("steps") or []) or 1}
            )
            entry["seeds"].append(
                {
                    "seed": run["seed"],
                    "status": row["status"],
                    "reason": row.get("reason"),
                    "accuracy": row.get("accuracy"),
                    "accuracy_delta_pt": r.get("accuracy_delta_pt"),
                    "infer_energy_per_1k": r.get("infer_energy_per_1k"),
                    "train_energy_total": r.get("train_energy_total"),
                    "verdict": row.get("verdict"),
                    "verdict_purpose": row.get("verdict_purpose"),
                    "verdict_reason": row.get("verdict_reason"),
                }
            )
            entry["ok"] += row["status"] == "ok"
    for entry in rows.values():
        ok = [s for s in entry["seeds"] if s["status"] == "ok"]
        entry["all_ok"] = len(ok) == len(runs)
        deltas = [s["accuracy_delta_pt"] for s in ok if s["accuracy_delta_pt"] is not None]
        entry["accuracy_delta_pt_mean"] = statistics.fmean(deltas) if deltas else None
        for key, _, _ in TARGETS.values():
            values = [s[key] for s in ok if s[key] is not None]
            entry[f"{key}_median"] = statistics.median(values) if values else None
    return rows


def best(rows: dict[str, dict[str, Any]], key: str) -> tuple[str, dict[str, Any]] | None:
    fit = [
        (e[f"{key}_median"], name, e)
        for name, e in rows.items()
        if e["all_ok"]
        and e[f"{key}_median"] is not None
        and e["accuracy_delta_pt_mean"] is not None
        and e["accuracy_delta_pt_mean"] >= -TOLERANCE_PT
    ]
    if not fit:
        return None
    _, name, entry = min(fit, key=lambda f: (f[0], -f[2]["accuracy_delta_pt_mean"]))
    return name, entry


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    for task in TASKS:
        rows = per_row(runs, task)
        out: dict[str, Any] = {"rows": rows, "best": {}, "bench_best": {}}
        for purpose, (key, limit, _) in TARGETS.items():
            found = best(rows, key)
            if found is None:
                out["best"][purpose] = None
            else:
                name, e = found
                per_seed = [s[key] for s in e["seeds"]]
                out["best"][purpose] = {
                    "row": name,
                    "steps": e["steps"],
                    "ratio_median": e[f"{key}_median"],
                    "times_less_median": 1 / e[f"{key}_median"],
                    "ratio_per_seed": per_seed,
                    "accuracy_delta_pt_mean": e["accuracy_delta_pt_mean"],
                    "accuracy_delta_pt_per_seed": [s["accuracy_delta_pt"] for s in e["seeds"]],
                    "met": e[f"{key}_median"] <= limit,
                }
            out["bench_best"][purpose] = [
                run["results"]["tasks"][task]["best"].get(purpose) for run in runs
            ]
        tasks[task] = out
    targets = []
    for purpose, (_, limit, needed) in TARGETS.items():
        met = [t for t in TASKS if (tasks[t]["best"][purpose] or {}).get("met")]
        figures = "; ".join(
            f"{t} {b['times_less_median']:.1f}x ({b['row']}, {b['accuracy_delta_pt_mean']:+.2f} pt)"
            if (b := tasks[t]["best"][purpose])
            else f"{t}: no row within {TOLERANCE_PT:g} pt"
            for t in TASKS
        )
        targets.append(
            {
                "target": f">= {1 / limit:g}x less {purpose.replace('-', ' ')} at <= "
                f"{TOLERANCE_PT:g} pt on at least {needed} of {len(TASKS)} tasks",
                "met": len(met) >= needed,
                "tasks_met": met,
                "measured": figures,
            }
        )
    walls = [r["results"]["config"]["duration_s"] for r in runs]
    targets.append(
        {
            "target": f"quick suite within {SUITE_LIMIT_S / 60:g} minutes",
            "met": max(walls) <= SUITE_LIMIT_S,
            "measured": "; ".join(f"seed {r['seed']}: {w:.0f} s" for r, w in zip(runs, walls)),
        }
    )
    return {"tasks": tasks, "targets": targets, "suite_duration_s": walls}


def print_table(summary: dict[str, Any]) -> None:
    t = Table(title="best row per task (medians over seeds; Δ mean)")
    for col in ("task", "purpose", "row", "x less", "per seed", "Δ pt", "met"):
        t.add_column(col)
    for task, out in summary["tasks"].items():
        for purpose, b in out["best"].items():
            if b is None:
                t.add_row(task, purpose, "—", "", "", "", "no")
                continue
            t.add_row(
                task,
                purpose,
                b["row"],
                f"{b['times_less_median']:.1f}x",
                ", ".join(f"{1 / r:.1f}x" for r in b["ratio_per_seed"] if r),
                f"{b['accuracy_delta_pt_mean']:+.2f}",
                "yes" if b["met"] else "no",
            )
    wide_console().print(t)
    for target in summary["targets"]:
        wide_console().print(f"{'MET' if target['met'] else 'NOT MET'}: {target['target']}: ")
        wide_console().print(f"    {target['measured']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file to write")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    runs = [run_seed(s) for s in seeds]
    summary = summarise(runs)
    first = runs[0]["results"]
    data = {
        "machine": {**first["machine"], "platform": platform.platform()},
        "command": ".venv/bin/python benchmarks/stacks.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "seeds": seeds,
        "tolerance_pt": TOLERANCE_PT,
        "energy_method": first["config"]["energy_method"],
        "rule": (
            "per seed: cost ratio to the same run's baseline; across seeds: median ratio, mean "
            "accuracy delta; best = lowest median ratio among rows ok on every seed with a mean "
            f"delta within {TOLERANCE_PT:g} pt"
        ),
        **summary,
        "verdicts_seed_0": {
            task: {
                name: {k: row.get(k) for k in ROW_KEYS}
                for name, row in [("baseline", t["baseline"]), *t["techniques"].items()]
            }
            for task, t in first["tasks"].items()
        },
        "total_s": time.perf_counter() - t0,
    }
    args.out.write_text(json.dumps(data, indent=1, default=str) + "\n")
    print_table(summary)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
