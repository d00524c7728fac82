"""Soak test of the run registry under faults (issue #11).

Many processes run many short tracked runs at a 0.1 s interval into one registry, logging a
metric every few milliseconds and timing each ``log_metric`` call, while a disrupter holds the
registry's exclusive lock for 5 s every 20 s and (PostgreSQL) restarts the server once. At the
end, runs, samples and metrics the trackers took are counted against what the registry holds
(after the usual next-access import of the spool), with the worst ``log_metric`` latency a job
saw and the wall time. Beside each ``log_metric`` call the loop times a control call that does
the same work in plain Python (build the row, append it) without the tracker: its worst
latency is what the process's scheduling alone costs on this machine (other processes, the
GIL shared with the tracker's threads), the floor under any ``log_metric`` figure.

    python benchmarks/soak.py [--procs 16] [--runs 200]
        [--run-seconds 0.5] [--backends sqlite,postgresql]

PostgreSQL is a throw-away server started from the machine's binaries on a Unix socket (as the
tests do); it is skipped with the reason when that is not possible.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "soak.json"

WORKER = r"""
import json, sys, time
from frugalml.measure.tracker import Tracker
from frugalml.testing import ConstantPowerSensor
url, proc, runs, seconds, interval, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
kept = []
def control(name, value, step=None):  # log_metric's work without the tracker: the noise floor
    kept.append({"name": name, "value": float(value), "step": step, "t_s": time.time()})
with open(out, "w") as f:
    for i in range(runs):
        tracker = Tracker(f"soak-{proc}-{i}", sensors=[ConstantPowerSensor(10.0)], db=url,
                          interval_s=interval, handle_signals=False)
        run = tracker.start()
        worst, slow, n, end = 0.0, 0, 0, time.monotonic() + seconds
        c_worst, c_slow = 0.0, 0
        while time.monotonic() < end:
            t = time.perf_counter()
            run.log_metric("loss", 1.0 / (n + 1), step=n)
            dt = time.perf_counter() - t
            worst, slow = max(worst, dt), slow + (dt >= 0.005)
            t = time.perf_counter()
            control("loss", 1.0 / (n + 1), step=n)
            dt = time.perf_counter() - t
            c_worst, c_slow = max(c_worst, dt), c_slow + (dt >= 0.005)
            kept.clear()
            n += 1
            time.sleep(0.01)
        t = time.perf_counter()
        run = tracker.stop()
        f.write(json.dumps({"id": run.id, "samples": run.sample_rows, "metrics": n,
                            "worst_log_metric_s": worst, "log_metric_over_5ms": slow,
                            "worst_control_s": c_worst, "control_over_5ms": c_slow,
                            "stop_s": time.perf_counter() - t, "status": run.status,
                            "registry": run.registry}) + "\n")
        f.flush()
"""


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


class Postgres:
    """A throw-away PostgreSQL server on a Unix socket."""

    def __init__(self) -> None:
        bindir = _pg_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
        self.bindir = bindir
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.base = tempfile.mkdtemp(prefix="frugal-soak-pg-")
        os.chmod(self.base, 0o777)
        self.data, self.sock = os.path.join(self.base, "data"), os.path.join(self.base, "sock")
        os.mkdir(self.sock)
        os.chmod(self.sock, 0o777)
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self._ctl("start")
        self.url = f"postgresql://postgres@/postgres?host={self.sock}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.prefix, f"{self.bindir}/{tool}", *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def _ctl(self, action: str) -> None:
        self._run(
            "pg_ctl",
            "-D",
            self.data,
            "-w",
            "-l",
            os.path.join(self.base, "log"),
            "-o",
            f"-k {self.sock} -c listen_addresses='' -c fsync=off -c max_connections=200",
            "-m",
            "fast",
            action,
        )

    def restart(self) -> None:
        self._ctl("restart")

    def close(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


class Disrupter(threading.Thread):
    """Holds the registry's exclusive lock for ``hold_s`` every ``every_s``; restarts the
    PostgreSQL server once, at ``restart_at_s``."""

    def __init__(
        self, kind: str, target: Any, every_s: float, hold_s: float, restart_at_s: float | None
    ) -> None:
        super().__init__(daemon=True)
        self.kind, self.target = kind, target
        self.every_s, self.hold_s, self.restart_at_s = every_s, hold_s, restart_at_s
        self.stop_event = threading.Event()
        self.locks = 0
        self.restarts = 0
        self.errors: list[str] = []

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop_event.wait(self.every_s - self.hold_s):
            try:
                self._hold()
                self.locks += 1
            except Exception as e:  # the soak goes on; the report says it
                self.errors.append(f"lock: {e}")
            due = self.restart_at_s is not None and time.monotonic() - t0 >= self.restart_at_s
            if due and not self.restarts:
                try:
                    self.target.restart()
                    self.restarts += 1
                except Exception as e:
                    self.errors.append(f"restart: {e}")

    def _hold(self) -> None:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.target, isolation_level=None, timeout=60)
            conn.execute("BEGIN EXCLUSIVE")
            self.stop_event.wait(self.hold_s)
            conn.execute("COMMIT")
            conn.close()
            return
        import psycopg

        conninfo = self.target.url
        with psycopg.connect(conninfo) as conn:
            conn.execute("LOCK TABLE runs, samples, metrics IN ACCESS EXCLUSIVE MODE")
            self.stop_event.wait(self.hold_s)
            conn.rollback()


def soak(kind: str, args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    from frugalml.store import Store

    server = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp}/soak.db"
        target: Any = f"{tmp}/soak.db"
    else:
        server = Postgres()
        url, target = server.url, server
    spool = f"{tmp}/spool-{kind}"
    env = {**os.environ, "FRUGAL_SPOOL": spool, "FRUGAL_CONFIG": f"{tmp}/none.toml"}
    env.pop("FRUGAL_DB", None)
    os.environ["FRUGAL_SPOOL"] = spool
    try:
        Store(url).close()  # the schema, once
        expected_s = args.runs * (args.run_seconds + 0.15)
        disrupter = Disrupter(
            kind, target, args.every, args.hold, expected_s * 0.4 if server else None
        )
        t0 = time.monotonic()
        disrupter.start()
        procs = []
        for p in range(args.procs):
            out = f"{tmp}/{kind}-{p}.jsonl"
            cmd = [sys.executable, "-c", WORKER, url, str(p), str(args.runs)]
            cmd += [str(args.run_seconds), str(args.interval), out]
            procs.append((subprocess.Popen(cmd, env=env), out))
        for proc, _ in procs:
            proc.wait()
        wall = time.monotonic() - t0
        disrupter.stop_event.set()
        disrupter.join(60)
        rows = [json.loads(line) for _, out in procs for line in Path(out).read_text().splitlines()]
        failed_procs = sum(1 for proc, _ in procs if proc.returncode != 0)
        store = Store(url)  # the next access: imports what waits in the spool
        ids = [r["id"] for r in rows]
        stored_runs = {r.id: r for r in _records(store, ids)}
        stored_samples, stored_metrics = _row_counts(store, ids)
        latencies = [r["worst_log_metric_s"] for r in rows]
        spooled = sum(1 for r in rows if (r["registry"] or {}).get("spooled"))
        delayed = sum((r["registry"] or {}).get("delayed_rows", 0) for r in rows)
        return {
            "backend": kind,
            "processes": args.procs,
            "runs_per_process": args.runs,
            "interval_s": args.interval,
            "run_seconds": args.run_seconds,
            "runs_expected": args.procs * args.runs,
            "runs_reported_by_trackers": len(rows),
            "runs_stored": len(stored_runs),
            "runs_finished": sum(1 for r in stored_runs.values() if r.status == "finished"),
            "samples_expected": sum(r["samples"] for r in rows),
            "samples_stored": stored_samples,
            "metrics_expected": sum(r["metrics"] for r in rows),
            "metrics_stored": stored_metrics,
            "runs_spooled_at_stop": spooled,
            "sample_rows_delayed": delayed,
            "worst_log_metric_ms": max(latencies) * 1000 if latencies else None,
            "log_metric_calls": sum(r["metrics"] for r in rows),
            "log_metric_calls_over_5ms": sum(r["log_metric_over_5ms"] for r in rows),
            # the same loop's plain-Python control call: what the process's scheduling costs
            "worst_control_ms": max(r["worst_control_s"] for r in rows) * 1000 if rows else None,
            "control_calls_over_5ms": sum(r["control_over_5ms"] for r in rows),
            "median_stop_s": statistics.median(r["stop_s"] for r in rows) if rows else None,
            "worst_stop_s": max(r["stop_s"] for r in rows) if rows else None,
            "median_worst_log_metric_ms": statistics.median(latencies) * 1000
            if latencies
            else None,
            "locks_held": disrupter.locks,
            "lock_hold_s": args.hold,
            "lock_every_s": args.every,
            "server_restarts": disrupter.restarts,
            "disrupter_errors": disrupter.errors,
            "failed_processes": failed_procs,
            "wall_s": wall,
            "spool_left": sorted(os.listdir(spool)) if os.path.isdir(spool) else [],
        }
    finally:
        if server is not None:
            server.close()


def _records(store: Any, ids: list[str]) -> list[Any]:
    out = []
    for i in range(0, len(ids), 500):
        out.extend(store.list_runs(limit=None, ids=ids[i : i + 500]))
    return out


def _row_counts(store: Any, ids: list[str]) -> tuple[int, int]:
    import sqlalchemy as sa

    from frugalml.store import schema

    samples = metrics = 0
    with store.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            samples += conn.execute(
                sa.select(sa.func.count()).where(schema.samples.c.run_id.in_(chunk))
            ).scalar_one()
            metrics += conn.execute(
                sa.select(sa.func.count()).where(schema.metrics.c.run_id.in_(chunk))
            ).scalar_one()
    return int(samples), int(metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=16)
    parser.add_argument("--runs", type=int, default=200, help="tracked runs per process")
    parser.add_argument("--run-seconds", type=float, default=0.5, help="length of one run")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--every", type=float, default=20.0, help="seconds between locks")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds a lock is held")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    from rich.table import Table

    from frugalml.cli._common import console as wide_console
    from frugalml.measure.hardware import machine_hardware

    results: dict[str, Any] = {
        "benchmark": "soak",
        "machine": machine_hardware(),
        "targets": {"lost": 0, "worst_log_metric_ms": 5.0},
        "backends": {},
    }
    for kind in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                results["backends"][kind] = soak(kind, args, tmp)
            except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
                results["backends"][kind] = {"skipped": str(e)}
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=2))

    table = Table(title="registry soak (measured on this machine)")
    for col in (
        "backend",
        "runs stored/expected",
        "samples stored/expected",
        "metrics stored/expected",
        "worst log_metric",
        "faults",
        "wall",
    ):
        table.add_column(col)
    for kind, r in results["backends"].items():
        if "skipped" in r:
            table.add_row(kind, "skipped: " + r["skipped"], "", "", "", "", "")
            continue
        table.add_row(
            kind,
            f"{r['runs_stored']:,}/{r['runs_expected']:,} ({r['runs_finished']:,} finished)",
            f"{r['samples_stored']:,}/{r['samples_expected']:,}",
            f"{r['metrics_stored']:,}/{r['metrics_expected']:,}",
            f"{r['worst_log_metric_ms']:.2f} ms ({r['log_metric_calls_over_5ms']:,} of "
            f"{r['log_metric_calls']:,} calls >= 5 ms); control call "
            f"{r['worst_control_ms']:.2f} ms ({r['control_calls_over_5ms']:,} >= 5 ms)",
            f"{r['locks_held']} locks x {r['lock_hold_s']:g} s, {r['server_restarts']} restarts; "
            f"{r['runs_spooled_at_stop']} runs spooled at stop, {r['sample_rows_delayed']} rows late",
            f"{r['wall_s']:.0f} s",
        )
    wide_console().print(table)
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
