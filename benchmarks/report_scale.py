"""Report at scale: render time for 100 / 1,000 / 10,000 runs, and leaderboard pages over 10,000.

The registry is a temporary SQLite file filled with **synthetic benchmark fixtures** (not
measurements): 10,000 runs written through ``Store.create_run`` / ``Store.write``, each with 10
samples of two components and 5 logged accuracy values carrying cumulative energy; 5 % never
log accuracy, 1 % were interrupted, 1 % have no samples. Every figure below is a wall-clock
median of ``--repeats`` timings on this machine (time.perf_counter), taken after one untimed
warm-up; ratios compare variants measured in the same run.

    python benchmarks/report_scale.py [--runs 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "report_scale.json"
T0 = 1_700_000_000.0


def populate(store: Any, n: int, seed: int = 0) -> float:
    """Write ``n`` synthetic runs; return the seconds it took."""
    rng = random.Random(seed)
    t = time.perf_counter()
    for i in range(n):
        run_id = f"{i:016x}"
        started = T0 + i * 60.0
        cpu_w, dram_w = rng.uniform(5, 60), rng.uniform(0.5, 4)
        interrupted, silent = i % 100 == 7, i % 100 == 13
        ticks = [] if silent else [float(k + 1) for k in range(10)]
        samples = [
            {"t_s": tk, "timestamp": started + tk, "component": c, "energy_j": p, "power_w": p}
            for tk in ticks
            for c, p in (("cpu", cpu_w), ("dram", dram_w))
        ]
        total = (cpu_w + dram_w) * 10.0
        acc = rng.uniform(0.6, 0.99)
        metrics = []
        if i % 20 != 3:
            metrics = [
                {
                    "name": "accuracy",
                    "value": acc * (0.6 + 0.08 * e),
                    "step": e,
                    "t_s": 2.0 * e,
                    "timestamp": started + 2.0 * e,
                    "energy_j": total * e / 5,
                }
                for e in range(1, 6)
            ]
        summary = {
            "id": run_id,
            "name": f"synthetic-{i}",
            "status": "finished",
            "duration_s": 10.0,
            "energy_j": {"cpu": cpu_w * 10, "dram": dram_w * 10, "total": total},
            "methods": {"cpu": "cpu-model", "dram": "ram-model"},
            "measured": False,
            "uncertainty": {"cpu": 0.4, "dram": 0.5, "total": 0.38, "co2e": 0.41},
            "region": "FR",
            "region_name": "France",
            "region_source": "argument",
            "intensity_g_per_kwh": 44.18,
            "pue": 1.0,
            "pue_source": "personal machine (no data-centre overhead)",
            "scope": "process",
            "interval_s": 1.0,
            "hardware": {
                "cpu_model": "Synthetic CPU",
                "cpu_threads": 8,
                "ram_bytes": 16 * 2**30,
                "gpus": [],
            },
            "errors": [],
            "metrics": {"accuracy": metrics[-1]["value"]} if metrics else {},
            "tags": {},
            "config": {},
            "frugalml_version": "bench-fixture",
        }
        store.create_run(
            {
                "id": run_id,
                "name": f"synthetic-{i}",
                "started_at": started,
                "region": "FR",
                "intensity_g_per_kwh": 44.18,
                "pue": 1.0,
                "scope": "process",
                "interval_s": 1.0,
                "host": "benchmark-fixture",
                "pid": 1,
            }
        )
        update = {
            "duration_s": 10.0,
            "energy_j": total,
            "co2e_g": total / 3.6e6 * 44.18,
            "methods": summary["methods"],
            "uncertainty": 0.38,
            "summary": summary,
            "heartbeat_at": started + 10.0,
        }
        if not interrupted:
            update.update(status="finished", ended_at=started + 10.0)
        store.write(run_id, samples=samples, metrics=metrics, update=update)
    return time.perf_counter() - t


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    fn()  # warm-up: imports, SQLite page cache
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="frugal-report-scale-"))
    try:
        run_benchmark(tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_benchmark(tmp: Path, args: argparse.Namespace) -> None:
    from rich.table import Table

    from frugalml.cli._common import console as wide_console
    from frugalml.measure.hardware import machine_hardware
    from frugalml.report import (
        build_report,
        render_html,
        render_json,
        render_markdown,
        runs_leaderboard,
    )
    from frugalml.store import Store

    console = wide_console()
    store = Store(f"sqlite:///{tmp / 'registry.db'}")
    console.print(
        f"Writing {args.runs:,} synthetic fixture runs (benchmark data, not measurements) ..."
    )
    populate_s = populate(store, args.runs)
    rows: list[dict[str, Any]] = []

    def add(what: str, seconds: float, **extra: Any) -> None:
        rows.append({"what": what, "median_s": seconds, **extra})

    for n in sorted({n for n in (100, 1000, args.runs) if n <= args.runs}):
        build_s, report = timed(lambda n=n: build_report(store=store, last=n), args.repeats)
        html_s, html = timed(lambda r=report: render_html(r), args.repeats)
        json_s, _ = timed(lambda r=report: render_json(r), args.repeats)
        add(f"report of {n:,} runs: build", build_s, runs=n)
        add(f"report of {n:,} runs: render HTML", html_s, runs=n, html_bytes=len(html.encode()))
        add(f"report of {n:,} runs: render JSON", json_s, runs=n)
        if n == 1000:
            md_dir = tmp / "md"
            md_s, _ = timed(lambda r=report, d=md_dir: render_markdown(r, d, "md"), args.repeats)
            add(
                "report of 1,000 runs: render Markdown + PNG plots",
                md_s,
                runs=n,
                png_files=len(list(md_dir.glob("*.png"))),
            )
            add("report of 1,000 runs: build + HTML", build_s + html_s, runs=n)
    if args.runs >= 1000:
        cmd = [
            sys.executable,
            "-m",
            "frugalml",
            "report",
            "--last",
            "1000",
            "--db",
            store.url,
            "-o",
            str(tmp / "cli.html"),
        ]
        cli_s, _ = timed(lambda: subprocess.run(cmd, check=True, capture_output=True), args.repeats)
        add("`frugal report --last 1000 -o r.html` end to end (new process)", cli_s, runs=1000)
    pages = runs_leaderboard(store, page_size=50).pages
    for page in (1, pages // 2, pages):
        s, board = timed(lambda p=page: runs_leaderboard(store, page=p, page_size=50), args.repeats)
        add(
            f"leaderboard over {args.runs:,} runs: page {page} of {pages}",
            s,
            runs=args.runs,
            ranked=board.ranked_total,
            rows_on_page=len(board.by_accuracy_per_kwh),
        )
    first = next(r for r in rows if r["what"].endswith("page 1 of " + str(pages)))
    last = rows[-1]
    hw = machine_hardware()
    result = {
        "benchmark": "report_scale",
        "data": f"{args.runs:,} synthetic fixture runs written through Store.create_run/write "
        "(benchmark data, not measurements)",
        "machine": {
            "cpu_model": hw["cpu_model"],
            "cpu_threads_visible": hw["cpu_threads_visible"],
            "ram_bytes": hw["ram_bytes"],
            "python": hw["python"],
        },
        "repeats": args.repeats,
        "populate_s": populate_s,
        "rows": rows,
        "ratios": {"leaderboard_last_page_over_first": last["median_s"] / first["median_s"]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title=f"frugal report at scale — {result['data']}", title_justify="left")
    table.add_column("what")
    table.add_column("median (s)", justify="right")
    table.add_column("detail")
    for r in rows:
        detail = ", ".join(
            f"{k}={v:,}" for k, v in r.items() if k not in ("what", "median_s", "runs")
        )
        table.add_row(r["what"], f"{r['median_s']:.3f}", detail)
    console.print(table)
    console.print(
        f"Populating the registry took {populate_s:.1f} s. Last / first leaderboard page: "
        f"{result['ratios']['leaderboard_last_page_over_first']:.2f}×. "
        f"Machine: {hw['cpu_model']}, {hw['cpu_threads_visible']} threads. Wrote {RESULTS}."
    )
    store.close()


if __name__ == "__main__":
    main()
