"""Forecast error on real training runs, frugalml's model against carbontracker's; and the
advice's measured savings against what ``frugal bench`` then measures.

Forecast (``--part forecast``). Each run trains a bench task under ``frugalml.Tracker`` and takes
a reading (``Tracker.sample(persist=False)``: cumulative joules and seconds since the tracker
started) at every epoch end, as ``run.epoch_end()`` will:

- ``steady``: the digits-mlp baseline (30 epochs), after one untracked warm-up epoch, as the
  bench does;
- ``cold-start``: the same in a fresh process with no warm-up: the first epoch pays PyTorch's
  lazy initialisation;
- ``slow-first-epoch``: digits-mlp whose first epoch reads every sample from its own ``.npy``
  file and preprocesses it (upsampling, Gaussian smoothing, downsampling), caching the result
  that later epochs use (a data-loading cache warm-up);
- ``growing``: ``progressive`` on digits-mlp, two stages of 15 epochs (the second stage trains a
  512-512 block, the first a 64-512 one), readings through the bench's per-epoch hook
  (``bench_context(evaluate_test=...)``);
- ``early-stopped``: digits-mlp under ``EnergyAwareEarlyStopping`` with its defaults (the
  callback ``early-stop-energy`` uses: window 5, relative gain 0.1, training loss), 30 epochs
  configured; the callback's state (the monitored losses) is given to the forecast. Besides
  10 % and 25 % of the epochs it ran, it is also forecast after 10 % of the configured epochs.

After 10 % and 25 % of the epochs each run actually ran (rounded up, at least one), the total
energy is forecast by carbontracker's method (energy so far / epochs so far x configured
epochs) and by ``frugalml.measure.forecast.forecast``; the error is against the run's measured
total. For the growing run frugalml is also given a declared schedule (``work``): each stage's
relative cost from a timing probe (20 training steps of each stage's network, before training),
and, for contrast, from each stage's training FLOPs. Figures are medians over ``--repeats``
runs per scenario (scenarios interleaved), with the spread.

Advice (``--part advise``): for three bench models (untrained, batch 256 of random inputs),
``frugalml.advise.measure_model`` (what ``frugal advise --model`` runs) measures the data-free
techniques; then ``run_bench`` (what ``frugal bench`` runs) trains each task and measures the
same techniques on the trained model (its own recipe: magnitude-prune fine-tunes). Both at one
torch thread. Agreement: the ratio of each, and whether both rank the techniques the same.

Energy on this machine is ``cpu-model+ram-model`` (CPU time x a per-thread power; no RAPL).

Run under the shared lock:

    .venv/bin/python benchmarks/forecast.py

Writes benchmarks/results/forecast.json and prints Rich tables.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.table import Table

from frugalml.bench.tasks import get_task
from frugalml.cli._common import console as wide_console
from frugalml.measure.forecast import EarlyStopping, EpochReading, forecast
from frugalml.measure.tracker import Tracker
from frugalml.train import EpochEnd, TrainData, evaluate, fit

RESULTS = Path(__file__).parent / "results" / "forecast.json"
console = wide_console(stderr=True)
FRACTIONS = (0.1, 0.25)
SCENARIOS = ("steady", "cold-start", "slow-first-epoch", "growing", "early-stopped")
ADVICE_TASKS = ("digits-mlp", "digits-cnn", "breast-cancer-mlp")
ADVICE_TECHNIQUES = ("int8-dynamic", "magnitude-prune")


# --- recording --------------------------------------------------------------------------------


class Recorder:
    """A tracker and the epoch-end readings taken from it."""

    def __init__(self, name: str) -> None:
        self.tracker = Tracker(name, db=False, handle_signals=False)
        self.readings: list[tuple[int, float, float]] = []

    def __enter__(self) -> Recorder:
        self.tracker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.tracker.stop()

    def epoch_end(self) -> None:
        run = self.tracker.sample(persist=False)
        self.readings.append((len(self.readings) + 1, run.duration_s, run.energy_j["total"]))


def digits() -> tuple[Any, TrainData, Any, Any]:
    task = get_task("digits-mlp")
    data, X_test, y_test = task.train_data(seed=0)
    return task, data, X_test, y_test


def steady(warm: bool = True) -> dict[str, Any]:
    task, data, _, _ = digits()
    torch.manual_seed(0)
    if warm:  # as the bench: one-off process costs are not the run's
        fit(task.make_model(), data, epochs=1)
    with Recorder("steady") as rec:
        fit(task.make_model(), data, callbacks=[lambda end: rec.epoch_end()])
    return {"readings": rec.readings, "total_epochs": data.epochs}


def cold_start() -> dict[str, Any]:
    """``steady`` without warm-up, in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", "cold-start"],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _preprocess(path: Path) -> np.ndarray:
    from scipy import ndimage

    image = np.load(path).reshape(8, 8)
    big = ndimage.zoom(image, 4, order=1)
    smooth = ndimage.gaussian_filter(big, 1.0)
    return ndimage.zoom(smooth, 0.25, order=1).reshape(-1)


def slow_first_epoch() -> dict[str, Any]:
    task, data, _, _ = digits()
    X = data.X_train.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, row in enumerate(X):
            files.append(Path(tmp) / f"{i}.npy")
            np.save(files[-1], row)
        torch.manual_seed(0)
        fit(task.make_model(), data, epochs=1)  # the same warm-up as steady: only the cache differs
        model = task.make_model()
        opt = torch.optim.Adam(model.parameters(), lr=data.lr)
        cache: dict[int, np.ndarray] = {}
        generator = torch.Generator().manual_seed(0)
        with Recorder("slow-first-epoch") as rec:
            for _ in range(data.epochs):
                model.train()
                order = torch.randperm(len(X), generator=generator)
                for start in range(0, len(X), data.batch_size):
                    idx = order[start : start + data.batch_size].tolist()
                    for i in idx:  # read and preprocess on first sight, then from the cache
                        if i not in cache:
                            cache[i] = _preprocess(files[i])
                    xb = torch.as_tensor(np.stack([cache[i] for i in idx]), dtype=torch.float32)
                    opt.zero_grad(set_to_none=True)
                    loss = torch.nn.functional.cross_entropy(model(xb), data.y_train[idx])
                    loss.backward()
                    opt.step()
                rec.epoch_end()
    return {"readings": rec.readings, "total_epochs": data.epochs}


def _stage_nets(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The network each progressive stage trains (lower blocks frozen: block + classifier)."""
    from frugalml.reduce.progressive import mlp_blocks

    blocks, head = mlp_blocks(model)
    return [torch.nn.Sequential(b, head) for b in blocks]


def _probe_s(net: torch.nn.Module, width: int, batch: int) -> float:
    """Median time of one training step (Adam) of ``net`` on a batch: the timing probe."""
    net = copy.deepcopy(net)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.randn(batch, width), torch.zeros(batch, dtype=torch.int64)
    times = []
    for _ in range(23):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[3:])


def growing() -> dict[str, Any]:
    from frugalml.profiler import profile
    from frugalml.reduce.progressive import Progressive

    task, data, X_test, y_test = digits()
    stage_epochs = [15, 15]
    torch.manual_seed(0)
    fit(task.make_model(), data, epochs=1)
    nets = _stage_nets(task.make_model())
    widths = [64, 512]
    probe = [_probe_s(n, w, data.batch_size) for n, w in zip(nets, widths)]
    flops = [
        profile(n, torch.randn(1, w), train=True).train_step_flops for n, w in zip(nets, widths)
    ]
    technique = Progressive(epochs_per_stage=stage_epochs)
    with Recorder("growing") as rec:

        def on_epoch(model: torch.nn.Module) -> float:
            rec.epoch_end()
            return evaluate(model, X_test, y_test)

        technique.bench_context(evaluate_test=on_epoch)
        technique.apply(task.make_model(), data)

    def per_epoch(costs: list[float]) -> list[float]:
        return [c / costs[0] for c, n in zip(costs, stage_epochs) for _ in range(n)]

    return {
        "readings": rec.readings,
        "total_epochs": sum(stage_epochs),
        "schedules": {"probe": per_epoch(probe), "flops": per_epoch([float(f) for f in flops])},
    }


def early_stopped() -> dict[str, Any]:
    from frugalml.reduce.early_stop import EnergyAwareEarlyStopping

    task, data, _, _ = digits()
    torch.manual_seed(0)
    fit(task.make_model(), data, epochs=1)
    losses: list[float] = []
    with Recorder("early-stopped") as rec:
        stopper = EnergyAwareEarlyStopping(energy=rec.tracker)

        def on_epoch(end: EpochEnd) -> bool:
            rec.epoch_end()
            losses.append(end.train_loss)
            return stopper(end)

        fit(task.make_model(), data, callbacks=[on_epoch])
    return {
        "readings": rec.readings,
        "total_epochs": data.epochs,
        "early_stopping": {"window": stopper.window, "min_relative_gain": 0.1, "values": losses},
    }


RUNNERS: dict[str, Callable[[], dict[str, Any]]] = {
    "steady": steady,
    "cold-start": cold_start,
    "slow-first-epoch": slow_first_epoch,
    "growing": growing,
    "early-stopped": early_stopped,
}


# --- evaluation -------------------------------------------------------------------------------


def carbontracker(readings: list[EpochReading], total_epochs: int) -> float:
    """carbontracker's prediction: mean energy per epoch so far x the configured epochs."""
    last = readings[-1]
    return last.energy_j / last.epoch * total_epochs


def evaluate_run(run: dict[str, Any]) -> dict[str, Any]:
    readings = [EpochReading(e, t, j) for e, t, j in run["readings"]]
    truth = readings[-1].energy_j
    truth_s = readings[-1].t_s
    out: dict[str, Any] = {"epochs_run": len(readings), "energy_j": truth, "duration_s": truth_s}
    points = {f"at_{int(f * 100)}pct": max(1, math.ceil(f * len(readings))) for f in FRACTIONS}
    if len(readings) < run["total_epochs"]:  # stopped early: also at 10 % of the configured
        points["at_10pct_of_configured"] = min(
            len(readings), max(1, math.ceil(0.1 * run["total_epochs"]))
        )
    for key, k in points.items():
        seen = readings[:k]
        stop = None
        if "early_stopping" in run:
            es = run["early_stopping"]
            stop = EarlyStopping.relative_gain(
                es["window"], es["min_relative_gain"], values=es["values"][:k]
            )
        ours = forecast(seen, run["total_epochs"], early_stopping=stop)
        row: dict[str, Any] = {
            "epochs_seen": k,
            "carbontracker_error": carbontracker(seen, run["total_epochs"]) / truth - 1,
            "frugalml_error": ours.energy_j / truth - 1,
            "frugalml_method": ours.method,
            "frugalml_covered": ours.energy_j_low <= truth <= ours.energy_j_high,
            "frugalml_interval": [ours.energy_j_low / truth - 1, ours.energy_j_high / truth - 1],
            "frugalml_duration_error": ours.duration_s / truth_s - 1,
        }
        for name, work in run.get("schedules", {}).items():
            f = forecast(seen, run["total_epochs"], work=work, early_stopping=stop)
            row[f"schedule_{name}_error"] = f.energy_j / truth - 1
            row[f"schedule_{name}_covered"] = f.energy_j_low <= truth <= f.energy_j_high
        out[key] = row
    return out


def summarise(evals: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for scenario, runs in evals.items():
        keys = [k for k in runs[0] if k.startswith("at_")]
        for key in keys:
            points = [r[key] for r in runs if key in r]
            errors = [k for k in points[0] if k.endswith("_error")]
            row: dict[str, Any] = {
                "scenario": scenario,
                "at": key[3:].replace("pct", " %").replace("_of_configured", " of configured"),
                "epochs_seen": [p["epochs_seen"] for p in points],
                "epochs_run": [r["epochs_run"] for r in runs],
                "methods": sorted({p["frugalml_method"] for p in points}),
                "coverage": statistics.fmean(p["frugalml_covered"] for p in points),
            }
            for name in errors:
                abs_errors = [abs(p[name]) for p in points]
                row[name.replace("_error", "_abs_error_median")] = statistics.median(abs_errors)
                row[name.replace("_error", "_error_range")] = [
                    min(p[name] for p in points),
                    max(p[name] for p in points),
                ]
            rows.append(row)
    return rows


def forecast_part(repeats: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in SCENARIOS}
    for r in range(repeats):
        order = SCENARIOS[r % len(SCENARIOS) :] + SCENARIOS[: r % len(SCENARIOS)]
        for name in order:
            console.print(f"[dim]repeat {r + 1}/{repeats}: {name}[/dim]")
            runs[name].append(RUNNERS[name]())
    evals = {name: [evaluate_run(run) for run in series] for name, series in runs.items()}
    return {"runs": runs, "evaluations": evals, "table": summarise(evals)}


# --- advice agreement -------------------------------------------------------------------------


def advice_part(seconds: float, repeats: int) -> dict[str, Any]:
    from frugalml.advise.how import measure_model
    from frugalml.bench import run_bench

    rows = []
    for name in ADVICE_TASKS:
        task = get_task(name)
        torch.manual_seed(0)
        example = torch.randn(256, *task.input_shape)
        console.print(f"[dim]advice: {name}[/dim]")
        base, options = measure_model(
            task.make_model(),
            example,
            seconds=seconds,
            repeats=repeats,
            techniques=ADVICE_TECHNIQUES,
        )
        advised = {o.technique: o.ratio for o in options if o.measured}
        console.print(f"[dim]bench: {name}[/dim]")
        results = run_bench([name], list(ADVICE_TECHNIQUES), suite="full", db=False)
        block = results["tasks"][name]
        bench_base = block["baseline"]["infer_energy_j_per_1k"]
        benched = {
            t: row["infer_energy_j_per_1k"] / bench_base
            for t, row in block["techniques"].items()
            if row.get("status", "ok") != "failed"
        }
        order_advised = sorted(advised, key=lambda t: advised[t])
        order_bench = sorted(benched, key=lambda t: benched[t])
        rows.append(
            {
                "task": name,
                "advise_baseline_j_per_1k": base.infer_energy_j_per_1k,
                "bench_baseline_j_per_1k": bench_base,
                "advise_ratio": advised,
                "bench_ratio": benched,
                "difference": {t: advised[t] - benched[t] for t in advised if t in benched},
                "same_ranking": order_advised == order_bench,
                "energy_method": base.energy_method,
            }
        )
    return {
        "seconds": seconds,
        "repeats": repeats,
        "bench_suite": "full (3 repeats, 1 s inference windows)",
        "rows": rows,
    }


# --- output -----------------------------------------------------------------------------------


def targets(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    get = {(r["scenario"], r["at"]): r for r in table}
    out = []
    s = get[("steady", "10 %")]
    out.append(
        {
            "target": "steady run (digits-mlp): <= 5 % error at 10 % of the epochs",
            "measured": f"{s['frugalml_abs_error_median'] * 100:.1f} % (median)",
            "met": s["frugalml_abs_error_median"] <= 0.05,
        }
    )
    g = get[("growing", "10 %")]
    out.append(
        {
            "target": "growing run (progressive): <= 10 % error at 10 % of the epochs",
            "measured": (
                f"data only {g['frugalml_abs_error_median'] * 100:.1f} %; with the probed "
                f"schedule {g['schedule_probe_abs_error_median'] * 100:.1f} % (medians)"
            ),
            "met": g["schedule_probe_abs_error_median"] <= 0.10,
            "met_data_only": g["frugalml_abs_error_median"] <= 0.10,
        }
    )
    for scenario in SCENARIOS[1:]:
        for at in ("10 %", "25 %"):
            r = get[(scenario, at)]
            ours = r["frugalml_abs_error_median"]
            best = min(ours, r.get("schedule_probe_abs_error_median", math.inf))
            out.append(
                {
                    "target": f"{scenario} at {at}: lower error than carbontracker's method",
                    "measured": (
                        f"frugalml {ours * 100:.1f} %"
                        + (
                            f" (with schedule {r['schedule_probe_abs_error_median'] * 100:.1f} %)"
                            if "schedule_probe_abs_error_median" in r
                            else ""
                        )
                        + f" vs carbontracker {r['carbontracker_abs_error_median'] * 100:.1f} %"
                    ),
                    "met": best < r["carbontracker_abs_error_median"],
                    "met_data_only": ours < r["carbontracker_abs_error_median"],
                }
            )
    return out


def show(data: dict[str, Any]) -> None:
    out = wide_console()
    if "forecast" in data:
        t = Table(title="Forecast error of total energy (median |error| over runs)")
        for col in ("run", "at", "epochs", "carbontracker", "frugalml", "method", "covered"):
            t.add_column(col)
        for r in data["forecast"]["table"]:
            ours = f"{r['frugalml_abs_error_median'] * 100:.1f} %"
            if "schedule_probe_abs_error_median" in r:
                ours += f" (schedule {r['schedule_probe_abs_error_median'] * 100:.1f} %)"
            t.add_row(
                r["scenario"],
                r["at"],
                f"{min(r['epochs_seen'])}-{max(r['epochs_seen'])} of {min(r['epochs_run'])}-{max(r['epochs_run'])}",
                f"{r['carbontracker_abs_error_median'] * 100:.1f} %",
                ours,
                ",".join(r["methods"]),
                f"{r['coverage'] * 100:.0f} %",
            )
        out.print(t)
    if "advice" in data:
        t = Table(title="Advice (measure_model) vs frugal bench: inference energy ratio")
        for col in ("task", "technique", "advise", "bench", "same ranking"):
            t.add_column(col)
        for r in data["advice"]["rows"]:
            for tech, ratio in r["advise_ratio"].items():
                t.add_row(
                    r["task"],
                    tech,
                    f"{ratio:.2f}",
                    f"{r['bench_ratio'].get(tech, float('nan')):.2f}",
                    str(r["same_ranking"]),
                )
        out.print(t)
    for tg in data.get("targets", []):
        out.print(f"{'MET' if tg['met'] else 'NOT MET'}: {tg['target']}: {tg['measured']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--part", choices=["forecast", "advise", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=5, help="runs per forecast scenario")
    parser.add_argument("--advise-seconds", type=float, default=1.0)
    parser.add_argument("--advise-repeats", type=int, default=3)
    parser.add_argument("--one", choices=["cold-start"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.one == "cold-start":
        print(json.dumps(steady(warm=False)))
        return 0
    started = time.perf_counter()
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    from frugalml.measure.hardware import machine_hardware

    data: dict[str, Any] = {
        "machine": {
            "cpu": machine_hardware().get("cpu_model"),
            "torch": torch.__version__,
            "torch_threads": 1,
            "python": platform.python_version(),
            "energy_method": "cpu-model+ram-model",
        },
        "method": __doc__,
    }
    if args.part in ("forecast", "all"):
        data["forecast"] = forecast_part(args.repeats)
        data["targets"] = targets(data["forecast"]["table"])
    elif "forecast" in previous:
        data["forecast"], data["targets"] = previous["forecast"], previous.get("targets", [])
    if args.part in ("advise", "all"):
        data["advice"] = advice_part(args.advise_seconds, args.advise_repeats)
    elif "advice" in previous:
        data["advice"] = previous["advice"]
    data["total_s"] = time.perf_counter() - started
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    show(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
