"""Freeze a registry of the current schema version for the upgrade test.

Run it on the code *before* a schema change (``git stash`` or a checkout of the previous
commit), then commit the file it writes::

    python tests/store/freeze_registry.py      # writes tests/store/data/registry-v<N>.db

The content is fixed (two runs, samples, metrics) and uses only the public Store API, so
``test_migrations.py`` can check that an upgrade keeps every row.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from frugalml.store import Store
from frugalml.store.schema import SCHEMA_VERSION

DATA = Path(__file__).parent / "data"

RUNS = [
    {
        "id": "f1000000000000a1",
        "name": "frozen-finished",
        "started_at": 1_700_000_000.0,
        "region": "FR",
        "intensity_g_per_kwh": 56.0,
        "pue": 1.0,
        "scope": "process",
        "interval_s": 1.0,
        "pid": 1,
        "summary": {"id": "f1000000000000a1", "status": "finished", "energy_j": {"total": 30.0}},
    },
    {
        "id": "f1000000000000b2",
        "name": "frozen-running",
        "started_at": 1_700_000_100.0,
        "region": "world",
        "intensity_g_per_kwh": 473.0,
        "pue": 1.0,
        "scope": "machine",
        "interval_s": 0.5,
        "pid": 2,
        "summary": {"id": "f1000000000000b2", "status": "running"},
    },
]


def main() -> None:
    path = DATA / f"registry-v{SCHEMA_VERSION}.db"
    if path.exists():
        sys.exit(f"{path} exists: a frozen file never changes")
    DATA.mkdir(exist_ok=True)
    store = Store(path)
    for row in RUNS:
        store.create_run(dict(row))
    store.write(
        "f1000000000000a1",
        samples=[
            {
                "t_s": float(t),
                "timestamp": 1_700_000_000.0 + t,
                "component": c,
                "energy_j": e,
                "power_w": e,
            }
            for t in (1, 2, 3)
            for c, e in (("cpu", 8.0), ("dram", 2.0))
        ],
        metrics=[
            {
                "name": "accuracy",
                "value": 0.5 + 0.1 * s,
                "step": s,
                "t_s": float(s),
                "timestamp": 1_700_000_000.0 + s,
                "energy_j": 10.0 * s,
            }
            for s in (1, 2, 3)
        ],
        update={
            "status": "finished",
            "ended_at": 1_700_000_003.0,
            "duration_s": 3.0,
            "energy_j": 30.0,
            "co2e_g": 30.0 / 3.6e6 * 56.0,
            "methods": {"cpu": "cpu-model", "dram": "ram-model"},
            "uncertainty": 0.35,
            "exit_code": 0,
        },
    )
    store.write(
        "f1000000000000b2",
        samples=[
            {
                "t_s": 0.5,
                "timestamp": 1_700_000_100.5,
                "component": "system",
                "energy_j": 5.0,
                "power_w": 10.0,
            }
        ],
        update={"duration_s": 0.5, "energy_j": 5.0, "methods": {"system": "constant"}},
    )
    store.close()
    with sqlite3.connect(path) as conn:  # one self-contained file: no -wal/-shm beside it
        conn.execute("PRAGMA journal_mode=DELETE")
    sqlite3.connect(path).execute("VACUUM")
    print(f"wrote {path} (schema version {SCHEMA_VERSION})")


if __name__ == "__main__":
    main()
