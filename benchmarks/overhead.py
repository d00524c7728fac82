"""Overhead of tracking: a CPU-bound PyTorch training loop, import, cold start, idle cost.

Paired runs alternate untracked / tracked (order swapped every pair) on the same fixed amount
of work, each timed end to end *including* tracker start and stop; the figure is the median
of the per-pair ratios tracked / untracked. Tracking uses the defaults (1 s interval, process
scope, this machine's sensors, registry writes to a temporary SQLite file).

Targets (issue #2): whole overhead <= 1 %, ``import frugalml`` <= 0.2 s without importing torch,
tracker start + stop <= 0.1 s. Issue #17: constructor + start + stop in a fresh process <= 50 ms
(median of 7 fresh processes), <= 0.03 CPU-s per minute of an idle tracked run at the default
1 s interval, ``tracker_cpu_s`` within 20 % of ``getrusage``.

Cold start, idle cost and the self-report run each in fresh interpreters (``sys.executable``),
so the figures include every import the tracker makes. Cold start is measured twice: in a bare
interpreter that imported only ``frugalml`` (the issue's definition), and after ``import torch``
(what a training script has done before it starts a tracker: torch loads most of the standard
library modules the tracker needs). Idle cost is the process's CPU time (``resource.getrusage``)
over a window in the middle of a tracked run whose main thread sleeps: everything that window
costs is the tracker's (sampler, writer, registry, files).

Every fresh interpreter reads bytecode compiled once beforehand (``PYTHONPYCACHEPREFIX`` in a
temporary folder), as a pip-installed package does: where ``PYTHONDONTWRITEBYTECODE`` is set (it
is on the project's machines), a source checkout would otherwise recompile each of its modules
in every process. ``PYTHONPATH`` selects the package measured (``--label`` names it), so the
same script measures an older checkout for a before/after table.

    python benchmarks/overhead.py [--parts import,startstop,loop,cold,idle,self]
        [--seconds 30] [--pairs 5] [--idle-window 30] [--repeats 3] [--results FILE]
        [--label NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "overhead.json"
#: The environment of every fresh interpreter (see the module docstring); set by main().
ENV: dict[str, str] = dict(os.environ)


def compiled_env(folder: str) -> dict[str, str]:
    """``os.environ`` with bytecode cached under ``folder`` (written by the first process)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = folder
    return env


def python(code: str, *args: str) -> str:
    """Run ``code`` in a fresh interpreter; its last line of output."""
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=ENV
    )
    return out.stdout.strip().splitlines()[-1]


IMPORT_PROBE = (
    "import sys, time\n"
    "t = time.perf_counter()\n"
    "import frugalml\n"
    "dt = time.perf_counter() - t\n"
    "print(dt, 'torch' in sys.modules, 'sqlalchemy' in sys.modules, 'numpy' in sys.modules)\n"
)


def import_time(repeats: int = 7) -> dict[str, object]:
    times = []
    heavy = None
    python(IMPORT_PROBE)  # compiles the bytecode
    for _ in range(repeats):
        dt, torch_loaded, sa_loaded, np_loaded = python(IMPORT_PROBE).split()
        times.append(float(dt))
        heavy = {
            "torch": torch_loaded == "True",
            "sqlalchemy": sa_loaded == "True",
            "numpy": np_loaded == "True",
        }
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "runs": repeats,
        "imports_heavy": heavy,
    }


def start_stop_time(db: str, repeats: int = 20) -> dict[str, float]:
    from frugalml.measure.tracker import Tracker

    first = None
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        tracker = Tracker("start-stop", db=db, handle_signals=False)
        tracker.start()
        tracker.stop()
        dt = time.perf_counter() - t
        if i == 0:
            first = dt  # includes the one-off SQLAlchemy import in the sampler thread
        else:
            times.append(dt)
    return {
        "first_s": float(first or 0.0),
        "median_s": statistics.median(times),
        "max_s": max(times),
        "runs": repeats,
    }


def make_job(seconds: float):
    import torch

    torch.manual_seed(0)
    X = torch.randn(4096, 256)
    y = torch.randint(0, 10, (4096,))
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def steps(n: int) -> None:
        for i in range(n):
            idx = slice((i * 128) % 4096, (i * 128) % 4096 + 128)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
            opt.step()

    steps(50)  # warm-up
    t = time.perf_counter()
    steps(200)
    per_step = (time.perf_counter() - t) / 200
    return steps, max(1, int(seconds / per_step))


def overhead(seconds: float, pairs: int, db: str) -> dict[str, object]:
    from rich.progress import Progress

    from frugalml.measure.tracker import Tracker

    steps, n = make_job(seconds)
    ratios, plain, tracked, cpu_ratios, own = [], [], [], [], []
    with Progress(transient=True) as progress:
        task = progress.add_task("paired runs", total=2 * pairs)
        for p in range(pairs):
            order = ("plain", "tracked") if p % 2 == 0 else ("tracked", "plain")
            times, cpu = {}, {}
            for variant in order:
                t, c = time.perf_counter(), time.process_time()
                if variant == "tracked":
                    with Tracker("overhead", db=db, handle_signals=False) as run:
                        steps(n)
                    own.append(run.tracker_cpu_s / run.duration_s)
                else:
                    steps(n)
                times[variant] = time.perf_counter() - t
                cpu[variant] = time.process_time() - c
                progress.advance(task)
            plain.append(times["plain"])
            tracked.append(times["tracked"])
            ratios.append(times["tracked"] / times["plain"])
            cpu_ratios.append(cpu["tracked"] / cpu["plain"])
    return {
        "steps": n,
        "pairs": pairs,
        "plain_s": plain,
        "tracked_s": tracked,
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "median_overhead_pct": (statistics.median(ratios) - 1) * 100,
        "cpu_ratios": cpu_ratios,
        "median_cpu_overhead_pct": (statistics.median(cpu_ratios) - 1) * 100,
        "plain_spread_pct": (max(plain) - min(plain)) / statistics.median(plain) * 100,
        # the tracker's own CPU time (start, sampler thread, stop) per second of job
        "tracker_cpu_per_s": own,
        "median_tracker_cpu_pct": statistics.median(own) * 100,
    }


COLD_PROBE = (
    "import sys, time, json\n"
    "if sys.argv[2] == 'torch':\n"
    "    import torch\n"
    "import frugalml\n"
    "t0 = time.perf_counter()\n"
    "tracker = frugalml.Tracker('cold', db=sys.argv[1], handle_signals=False)\n"
    "t1 = time.perf_counter()\n"
    "sa_after_init = 'sqlalchemy' in sys.modules\n"
    "tracker.start()\n"
    "t2 = time.perf_counter()\n"
    "run = tracker.stop()\n"
    "t3 = time.perf_counter()\n"
    "print(json.dumps({'init_s': t1 - t0, 'start_s': t2 - t1, 'stop_s': t3 - t2,\n"
    "                  'total_s': t3 - t0, 'sqlalchemy_after_init': sa_after_init,\n"
    "                  'status': run.status}))\n"
)


def cold_start(db: str, repeats: int = 7, preload: str = "-") -> dict[str, object]:
    """Constructor + start + stop in fresh interpreters (after ``import frugalml``, and
    ``import torch`` first when ``preload`` is ``torch``), registry writes included; the
    registry file exists already (its first creation is a one-off)."""
    python(COLD_PROBE, db, preload)
    rows = [json.loads(python(COLD_PROBE, db, preload)) for _ in range(repeats)]
    totals = [r["total_s"] for r in rows]
    return {
        "median_s": statistics.median(totals),
        "min_s": min(totals),
        "max_s": max(totals),
        "median_init_s": statistics.median(r["init_s"] for r in rows),
        "median_start_s": statistics.median(r["start_s"] for r in rows),
        "median_stop_s": statistics.median(r["stop_s"] for r in rows),
        "sqlalchemy_after_init": any(r["sqlalchemy_after_init"] for r in rows),
        "runs": repeats,
    }


IDLE_PROBE = (
    "import sys, time, json, resource\n"
    "from frugalml.measure.tracker import Tracker\n"
    "interval, window, warm, db, out = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]\n"
    "def cpu():\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    return r.ru_utime + r.ru_stime\n"
    "tracker = Tracker('idle', db=db, out_dir=out if out != '-' else None, interval_s=interval,\n"
    "                  handle_signals=False)\n"
    "run = tracker.start()\n"
    "time.sleep(warm)\n"
    "c0, t0 = cpu(), time.monotonic()\n"
    "time.sleep(window)\n"
    "c1, t1 = cpu(), time.monotonic()\n"
    "tracker.stop()\n"
    "print(json.dumps({'cpu_s_per_min': (c1 - c0) / (t1 - t0) * 60, 'window_s': t1 - t0}))\n"
)


def idle_cost(
    tmp: str, intervals: tuple[float, ...], window_s: float, repeats: int
) -> dict[str, object]:
    """CPU seconds per minute of an idle tracked run (registry + --out files), steady state:
    measured over a window that starts once the run is warm (registry open, first writes)."""
    out: dict[str, object] = {}
    for with_out in (True, False):
        per: dict[str, list[float]] = {str(i): [] for i in intervals}
        for rep in range(repeats):
            procs = []
            for interval in intervals:  # the intervals run side by side: CPU time, not wall
                window = max(window_s, 6 * interval)
                warm = max(5.0, 2 * interval)
                tag = f"{interval}-{rep}-{with_out}"
                procs.append(
                    (
                        interval,
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-c",
                                IDLE_PROBE,
                                str(interval),
                                str(window),
                                str(warm),
                                f"sqlite:///{tmp}/idle-{tag}.db",
                                f"{tmp}/out-{tag}" if with_out else "-",
                            ],
                            stdout=subprocess.PIPE,
                            text=True,
                            env=ENV,
                        ),
                    )
                )
            for interval, p in procs:
                stdout, _ = p.communicate(timeout=600)
                per[str(interval)].append(
                    json.loads(stdout.strip().splitlines()[-1])["cpu_s_per_min"]
                )
        out["with_out" if with_out else "registry_only"] = {
            k: {"median_cpu_s_per_min": statistics.median(v), "runs": v} for k, v in per.items()
        }
    return out


SELF_PROBE = (
    "import sys, time, json, resource\n"
    "from frugalml.measure.tracker import Tracker\n"
    "def cpu():\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    return r.ru_utime + r.ru_stime\n"
    "c0 = cpu()\n"
    "tracker = Tracker('self', db=sys.argv[1], out_dir=sys.argv[2], interval_s=float(sys.argv[3]),\n"
    "                  handle_signals=False)\n"
    "run = tracker.start()\n"
    "time.sleep(float(sys.argv[4]))\n"
    "run = tracker.stop()\n"
    "c1 = cpu()\n"
    "print(json.dumps({'tracker_cpu_s': run.tracker_cpu_s, 'getrusage_s': c1 - c0}))\n"
)


def self_report(tmp: str, repeats: int = 3, seconds: float = 10.0) -> dict[str, object]:
    """``run.tracker_cpu_s`` against the process's CPU time (getrusage) from the constructor to
    stop, in a fresh process whose main thread only sleeps (registry + --out, 0.1 s interval)."""
    db = f"sqlite:///{tmp}/self.db"
    python(SELF_PROBE, db, f"{tmp}/self-warm", "0.1", "0.5")  # creates the registry (a one-off)
    rows = [
        json.loads(python(SELF_PROBE, db, f"{tmp}/self-{i}", "0.1", str(seconds)))
        for i in range(repeats)
    ]
    ratios = [r["tracker_cpu_s"] / r["getrusage_s"] for r in rows]
    return {"rows": rows, "ratios": ratios, "median_ratio": statistics.median(ratios)}


PARTS = ("import", "startstop", "loop", "cold", "idle", "self")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS)
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of one job (s)")
    parser.add_argument("--pairs", type=int, default=5, help="paired runs")
    parser.add_argument("--idle-window", type=float, default=30.0, help="idle window (s)")
    parser.add_argument("--repeats", type=int, default=3, help="idle / self-report repeats")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON output file")
    parser.add_argument("--label", default="this checkout", help="what is measured")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")

    from rich.table import Table

    import frugalml
    from frugalml.cli._common import console as wide_console
    from frugalml.measure.hardware import machine_hardware

    result: dict[str, object] = {
        "benchmark": "overhead",
        "label": args.label,
        "frugalml_source": str(Path(frugalml.__file__).parent),
        "machine": machine_hardware(),
        "targets": {
            "overhead_pct": 1.0,
            "import_s": 0.2,
            "start_stop_s": 0.1,
            "cold_start_s": 0.05,
            "idle_cpu_s_per_min_at_1s": 0.03,
            "self_report_ratio": [0.8, 1.2],
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        ENV.clear()
        ENV.update(compiled_env(f"{tmp}/pycache"))
        db = f"sqlite:///{tmp}/bench.db"
        if "import" in parts:
            result["import"] = import_time()
        if "startstop" in parts:
            result["start_stop"] = start_stop_time(db)
        if "cold" in parts:
            result["cold_start"] = cold_start(db)
            result["cold_start_after_torch"] = cold_start(db, preload="torch")
        if "idle" in parts:
            result["idle"] = idle_cost(tmp, (0.1, 1.0, 10.0), args.idle_window, args.repeats)
        if "self" in parts:
            result["self_report"] = self_report(tmp, args.repeats)
        if "loop" in parts:
            import torch

            result["torch_threads"] = torch.get_num_threads()
            result["overhead"] = overhead(args.seconds, args.pairs, db)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2))

    table = Table(title="frugalml tracking overhead (measured on this machine)")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    table.add_column("how")
    ov: Any = result.get("overhead")
    if ov:
        table.add_row(
            "whole-job overhead",
            f"{ov['median_overhead_pct']:+.2f} %",
            "<= 1 %",
            f"median of {ov['pairs']} paired ratios, {ov['steps']} training steps "
            f"(~{statistics.median(ov['plain_s']):.0f} s) each",
        )
        table.add_row(
            "tracker's own CPU time",
            f"{ov['median_tracker_cpu_pct']:.2f} %",
            "<= 1 %",
            "CPU seconds spent by the tracker (tracker_cpu_s: every thread, constructor to stop) "
            "per second of job: the direct cost",
        )
        table.add_row(
            "CPU-time overhead",
            f"{ov['median_cpu_overhead_pct']:+.2f} %",
            "",
            "same pairs, process CPU seconds (less sensitive to other tenants' load); untracked runs "
            f"varied by {ov['plain_spread_pct']:.0f} % among themselves",
        )
    imp: Any = result.get("import")
    if imp:
        table.add_row(
            "import frugalml",
            f"{imp['median_s'] * 1000:.0f} ms",
            "<= 200 ms",
            f"median of {imp['runs']} fresh interpreters; torch imported: {imp['imports_heavy']['torch']}",
        )
    ss: Any = result.get("start_stop")
    if ss:
        table.add_row(
            "start + stop (warm process)",
            f"{ss['median_s'] * 1000:.1f} ms",
            "<= 100 ms",
            f"median of {ss['runs']} in one process (first call {ss['first_s'] * 1000:.0f} ms)",
        )
    for key, what in (("cold_start", ""), ("cold_start_after_torch", ", after import torch")):
        cold: Any = result.get(key)
        if not cold:
            continue
        table.add_row(
            f"cold start: constructor + start + stop{what}",
            f"{cold['median_s'] * 1000:.0f} ms",
            "<= 50 ms",
            f"median of {cold['runs']} fresh processes (init {cold['median_init_s'] * 1000:.0f}, "
            f"start {cold['median_start_s'] * 1000:.0f}, stop {cold['median_stop_s'] * 1000:.0f} ms); "
            f"SQLAlchemy imported by the constructor: {cold['sqlalchemy_after_init']}",
        )
    idle: Any = result.get("idle")
    if idle:
        for variant, rows in idle.items():
            for interval, row in rows.items():
                table.add_row(
                    f"idle cost, {interval} s interval ({variant.replace('_', ' ')})",
                    f"{row['median_cpu_s_per_min']:.3f} CPU-s/min",
                    "<= 0.03" if interval == "1.0" else "",
                    f"median of {len(row['runs'])} fresh processes, getrusage over "
                    f"{max(args.idle_window, 6 * float(interval)):.0f} s of a warm idle run",
                )
    sr: Any = result.get("self_report")
    if sr:
        table.add_row(
            "tracker_cpu_s / getrusage",
            f"{sr['median_ratio']:.2f}",
            "0.8-1.2",
            f"median of {len(sr['ratios'])} fresh processes, constructor to stop, 10 s idle at 0.1 s",
        )
    wide_console().print(table)
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
