"""Report test data: a registry filled through the Store API and a hand-built bench results.json.

Everything here is synthetic test data (clearly not measurements): fixed energies, a fixed
clock, runs that are finished, interrupted, failed or without samples.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from frugalml.store import Store

T0 = 1_700_000_000.0
XSS = "<script>alert(1)</script>"


def add_run(
    store: Store,
    run_id: str,
    name: str = "train",
    *,
    started_at: float = T0,
    duration_s: float = 10.0,
    status: str = "finished",
    power_w: dict[str, float] | None = None,
    methods: dict[str, str] | None = None,
    interval_s: float = 1.0,
    sample_times: list[float] | None = None,
    metrics: list[tuple[str, float, float]] | None = None,
    region: str = "FR",
    intensity: float = 44.18,
    pue: float = 1.0,
    tags: dict[str, str] | None = None,
) -> None:
    """A run with constant power per component, sampled at ``sample_times`` (default every
    ``interval_s`` up to ``duration_s``; ``[]`` for none) and metrics ``(name, value, t_s)``."""
    power_w = power_w or {"cpu": 20.0, "dram": 2.0}
    methods = methods or {"cpu": "cpu-model", "dram": "ram-model"}
    if sample_times is None:
        sample_times = [interval_s * (i + 1) for i in range(int(duration_s / interval_s))]
    samples, prev = [], 0.0
    for t in sample_times:
        for comp, p in power_w.items():
            samples.append(
                {
                    "t_s": t,
                    "timestamp": started_at + t,
                    "component": comp,
                    "energy_j": p * (t - prev),
                    "power_w": p,
                }
            )
        prev = t
    components = {c: p * duration_s for c, p in power_w.items()}
    total = sum(components.values())
    co2e = total / 3.6e6 * pue * intensity
    rows = [
        {
            "name": n,
            "value": v,
            "step": i,
            "t_s": t,
            "timestamp": started_at + t,
            "energy_j": total * t / duration_s,
        }
        for i, (n, v, t) in enumerate(metrics or [])
    ]
    last: dict[str, float] = {}
    for n, v, _ in metrics or []:
        last[n] = v
    summary: dict[str, Any] = {
        "id": run_id,
        "name": name,
        "status": status,
        "duration_s": duration_s,
        "energy_j": {**components, "total": total},
        "methods": methods,
        "measured": False,
        "uncertainty": {**{c: 0.4 for c in components}, "total": 0.4, "co2e": 0.43},
        "region": region,
        "region_name": {"FR": "France", "world": "World average"}.get(region, region),
        "region_source": "argument",
        "intensity_g_per_kwh": intensity,
        "pue": pue,
        "pue_source": "personal machine (no data-centre overhead)",
        "co2e_g": co2e,
        "scope": "process",
        "interval_s": interval_s,
        "hardware": {
            "cpu_model": "Test CPU 3000",
            "cpu_threads": 8,
            "ram_bytes": 16 * 2**30,
            "gpus": [],
        },
        "errors": [],
        "metrics": last,
        "tags": tags or {},
        "config": {},
        "frugalml_version": "0.1.0",
    }
    finished = status != "running"
    store.create_run(
        {
            "id": run_id,
            "name": name,
            "started_at": started_at,
            "region": region,
            "intensity_g_per_kwh": intensity,
            "pue": pue,
            "scope": "process",
            "interval_s": interval_s,
            "host": "test-host-elsewhere",
            "pid": 1,
        }
    )
    update = {
        "duration_s": duration_s,
        "energy_j": total,
        "co2e_g": co2e,
        "methods": methods,
        "uncertainty": 0.4,
        "summary": summary,
        "heartbeat_at": started_at + (sample_times[-1] if sample_times else 0.0),
    }
    if finished:
        update.update(status=status, ended_at=started_at + duration_s)
    store.write(run_id, samples=samples, metrics=rows, update=update)


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'reg.db'}")
    yield s
    s.close()


def bench_row(
    name: str,
    acc: float,
    train_j: float,
    infer_j: float,
    *,
    kind: str = "compress",
    base: dict[str, Any] | None = None,
    curve: list[list[float]] | None = None,
    run_ids: list[str] | None = None,
    status: str = "ok",
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "status": status,
        "reason": None if status == "ok" else "TechniqueError: test failure",
        "kind": kind,
        "config": {},
        "accuracy": acc if status == "ok" else None,
        "accuracy_std": 0.0,
        "accuracy_values": [acc],
        "train_energy_j": train_j,
        "train_energy_j_std": 0.0,
        "train_energy_j_total": train_j + (base["train_energy_j"] if base else 0.0),
        "train_energy_includes": "test data",
        "train_time_s": 1.0,
        "infer_energy_j_per_1k": infer_j,
        "latency_ms": {"batch_1": 0.1, "batch_256": 2.0},
        "params": 1000,
        "params_nonzero": 500,
        "size_bytes": 4000,
        "macs": 1000,
        "flops": 2000,
        "flops_effective": 1500,
        "energy_method": "cpu-model",
        "co2e_g": 0.01,
        "run_ids": run_ids or [],
        "ratios": {},
        "extra": {},
        "curve": curve,
    }
    if base is not None and status == "ok":
        row["ratios"] = {
            "accuracy_delta_pt": (acc - base["accuracy"]) * 100,
            "train_energy": train_j / base["train_energy_j"],
            "infer_energy_per_1k": infer_j / base["infer_energy_j_per_1k"],
        }
    return row


def bench_results(run_ids: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A results.json (schema frugalml.bench/1) with one task, three techniques, one failed."""
    ids = run_ids or {}
    base = bench_row(
        "baseline",
        0.95,
        100.0,
        2.0,
        kind="baseline",
        curve=[[20.0, 0.6], [50.0, 0.9], [100.0, 0.95]],
        run_ids=ids.get("baseline"),
    )
    return {
        "schema": "frugalml.bench/1",
        "machine": {
            "cpu_model": "Test CPU 3000",
            "cpu_threads": 8,
            "ram_bytes": 16 * 2**30,
            "gpus": [],
        },
        "config": {
            "suite": "quick",
            "tasks": ["iris-mlp"],
            "techniques": ["int8-dynamic", XSS, "broken"],
            "repeats": 1,
            "seed": 0,
            "started_at": "2023-11-14T22:13:20+00:00",
            "duration_s": 12.5,
            "region": "FR",
            "intensity_g_per_kwh": 44.18,
            "pue": 1.0,
            "energy_method": "cpu-model",
            "latency_batch": 256,
        },
        "tasks": {
            "iris-mlp": {
                "task": {
                    "name": "iris-mlp",
                    "dataset": "iris",
                    "model": "mlp 4-32-3",
                    "n_train": 112,
                    "n_test": 38,
                },
                "baseline": base,
                "techniques": {
                    "int8-dynamic": bench_row(
                        "int8-dynamic", 0.947, 5.0, 1.0, base=base, run_ids=ids.get("int8")
                    ),
                    XSS: bench_row(XSS, 0.90, 30.0, 0.5, base=base),
                    "broken": bench_row("broken", 0.0, 0.0, 0.0, base=base, status="failed"),
                },
            }
        },
    }


@pytest.fixture
def bench_dir(tmp_path):
    d = tmp_path / "bench"
    d.mkdir()
    (d / "results.json").write_text(json.dumps(bench_results()))
    return d
