"""What an epoch end and a budget cost a training: ``run.epoch_end()`` per call, the channel of
``frugal run``, and how far past its budget ``frugal run --on-budget stop`` lets a command go.

Parts (each repeated, medians with the range):

- ``cost``: per-call wall time of ``run.epoch_end()`` (a reading of every sensor, the forecast,
  the budget check) against ``Tracker.sample()`` (the reading alone), in a tracked process with
  this machine's default sensors, a registry in a temporary SQLite file, 1 s sampling and
  ``echo=False``; ``calls`` calls after one untimed call (the first loads numpy for the model).
  Each repeat is a fresh tracker. Also the first call of a fresh interpreter (the model's
  import included), and ``frugalml.epoch_end()`` in a command under ``frugal run`` (the send on
  the channel; the outer run takes the reading): per-call time in the command, and whether the
  outer run recorded a forecast for every call.
- ``budget``: ``frugal run --budget-j B --on-budget stop`` on a command that keeps one core busy
  for ever, in epochs of 0.2 s reported with ``frugalml.epoch_end()`` or with no epoch ends
  (the budget is then checked at each 1 s sample only). Figures: the run's final energy against
  B (the overshoot), in joules, as a share of B and as seconds of the command's mean power, and
  the command's exit (124 expected).

    python benchmarks/epoch_end.py [--parts cost,budget]
        [--repeats 5] [--calls 300] [--budget-j 3] [--results FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from frugalml.cli._common import console as wide_console

RESULTS = Path(__file__).parent / "results" / "epoch_end.json"
console = wide_console(stderr=True)
FRUGAL_RUN = [sys.executable, "-m", "frugalml", "run", "-q"]

CHILD_CALLS = """
import sys, time
import frugalml
n = int(sys.argv[1])
frugalml.epoch_end(1, n + 1)  # untimed: imports
t = []
for epoch in range(2, n + 2):
    t0 = time.perf_counter()
    frugalml.epoch_end(epoch, n + 1)
    t.append(time.perf_counter() - t0)
t.sort()
print(t[len(t) // 2])
"""

CHILD_BURN = """
import sys, time
import frugalml
epoch_s = float(sys.argv[1])
epoch = 0
while True:
    end = time.perf_counter() + epoch_s
    while time.perf_counter() < end:
        pass
    epoch += 1
    if epoch_s < 1:
        frugalml.epoch_end(epoch, 10_000)
"""

FIRST_CALL = """
import time, frugalml
with frugalml.track("first", db=False, total_epochs=10, echo=False) as run:
    t0 = time.perf_counter()
    run.epoch_end()
    print(time.perf_counter() - t0)
"""


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def per_call(fn: Any, calls: int) -> float:
    """Median seconds of ``fn()`` over ``calls`` calls."""
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def part_cost(repeats: int, calls: int, folder: str) -> dict[str, Any]:
    from frugalml.measure.tracker import Tracker

    epoch_s, sample_s, first_s, channel_s, recorded = [], [], [], [], []
    for i in range(repeats):
        tracker = Tracker(
            "cost", db=f"{folder}/cost.db", total_epochs=10 * calls, echo=False, interval_s=1.0
        )
        with tracker as run:
            run.epoch_end()  # untimed: the model's import
            epoch_s.append(per_call(run.epoch_end, calls))
            sample_s.append(per_call(tracker.sample, calls))
        out = subprocess.run(
            [sys.executable, "-c", FIRST_CALL], capture_output=True, text=True, check=True
        )
        first_s.append(float(out.stdout.strip().splitlines()[-1]))
        db = f"{folder}/channel-{i}.db"
        script = Path(folder) / "calls.py"
        script.write_text(CHILD_CALLS)
        out = subprocess.run(
            [*FRUGAL_RUN, "--db", db, "--", sys.executable, str(script), str(calls)],
            capture_output=True,
            text=True,
            check=True,
        )
        channel_s.append(float(out.stdout.strip().splitlines()[-1]))
        from frugalml.store import open_registry

        store = open_registry(db)
        (listed,) = store.list_runs()
        recorded.append(len(store.forecasts(listed.id)) / (calls + 1))
        store.close()
        console.print(
            f"cost {i + 1}/{repeats}: epoch_end {epoch_s[-1] * 1e6:.0f} µs, sample "
            f"{sample_s[-1] * 1e6:.0f} µs, first call {first_s[-1] * 1e3:.0f} ms, channel "
            f"{channel_s[-1] * 1e6:.0f} µs, recorded {recorded[-1]:.0%}"
        )
    return {
        "calls": calls,
        "epoch_end_us": summary([s * 1e6 for s in epoch_s]),
        "sample_us": summary([s * 1e6 for s in sample_s]),
        "forecast_and_budget_us": summary(
            [(e - s) * 1e6 for e, s in zip(epoch_s, sample_s, strict=True)]
        ),
        "first_call_fresh_process_ms": summary([s * 1e3 for s in first_s]),
        "channel_send_us": summary([s * 1e6 for s in channel_s]),
        "outer_recorded_share": summary(recorded),
    }


def one_budget_run(budget_j: float, epoch_s: float, folder: str, i: int) -> dict[str, Any]:
    from frugalml.store import open_registry

    db = f"{folder}/budget-{epoch_s}-{i}.db"
    script = Path(folder) / "burn.py"
    script.write_text(CHILD_BURN)
    t0 = time.monotonic()
    out = subprocess.run(
        [
            *FRUGAL_RUN,
            *("--db", db, "--budget-j", str(budget_j), "--on-budget", "stop", "--grace", "5"),
            *("--", sys.executable, str(script), str(epoch_s)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall_s = time.monotonic() - t0
    store = open_registry(db)
    (listed,) = store.list_runs()
    run = store.get_run(listed.id)
    store.close()
    over_j = run.energy_j - budget_j
    power_w = run.energy_j / run.duration_s
    return {
        "exit_code": out.returncode,
        "status": run.status,
        "energy_j": run.energy_j,
        "duration_s": run.duration_s,
        "wall_s": wall_s,
        "overshoot_j": over_j,
        "overshoot_share": over_j / budget_j,
        "overshoot_s": over_j / power_w,
    }


def part_budget(repeats: int, budget_j: float, folder: str) -> dict[str, Any]:
    out: dict[str, Any] = {"budget_j": budget_j}
    for label, epoch_s in (("epoch_ends_every_0.2s", 0.2), ("no_epoch_ends", 10.0)):
        runs = []
        for i in range(repeats):
            runs.append(one_budget_run(budget_j, epoch_s, folder, i))
            r = runs[-1]
            console.print(
                f"budget {label} {i + 1}/{repeats}: exit {r['exit_code']}, {r['status']}, "
                f"{r['energy_j']:.2f} J of {budget_j} J (+{r['overshoot_share']:.0%}, "
                f"{r['overshoot_s']:.2f} s of its power)"
            )
        out[label] = {
            "runs": runs,
            "exit_codes": sorted({r["exit_code"] for r in runs}),
            "overshoot_share": summary([r["overshoot_share"] for r in runs]),
            "overshoot_s": summary([r["overshoot_s"] for r in runs]),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="cost,budget")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--budget-j", type=float, default=3.0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    parts = args.parts.split(",")
    started = time.monotonic()
    result: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "energy_method": "this machine's default sensors (cpu-model+ram-model without RAPL)",
        },
        "method": __doc__,
    }
    with tempfile.TemporaryDirectory() as folder:
        if "cost" in parts:
            result["cost"] = part_cost(args.repeats, args.calls, folder)
        if "budget" in parts:
            result["budget"] = part_budget(args.repeats, args.budget_j, folder)
    result["total_s"] = time.monotonic() - started
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title="epoch_end and budgets (medians, range)")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    if "cost" in result:
        c = result["cost"]
        for key, unit in (
            ("epoch_end_us", "µs"),
            ("sample_us", "µs"),
            ("forecast_and_budget_us", "µs"),
            ("first_call_fresh_process_ms", "ms"),
            ("channel_send_us", "µs"),
            ("outer_recorded_share", ""),
        ):
            s = c[key]
            table.add_row(key, f"{s['median']:.3g} {unit} ({s['min']:.3g}–{s['max']:.3g})")
    if "budget" in result:
        for label in ("epoch_ends_every_0.2s", "no_epoch_ends"):
            b = result["budget"][label]
            table.add_row(
                f"budget overshoot, {label}",
                f"{b['overshoot_share']['median']:+.1%} of the budget, "
                f"{b['overshoot_s']['median']:.2f} s of power; exits {b['exit_codes']}",
            )
    console.print(table)
    console.print(f"written to {args.results}")


if __name__ == "__main__":
    main()
