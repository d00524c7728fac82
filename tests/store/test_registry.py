"""Contract suite of the run registry, parametrised over backends.

PostgreSQL runs on a throw-away server started from the machine's binaries (see conftest.py),
or on FRUGAL_TEST_POSTGRES_URL; it skips with the reason when neither is possible.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from frugalml.errors import ConfigError, StoreError
from frugalml.store import Store, resolve_db_url
from frugalml.store.registry import effective_status
from frugalml.store.schema import SCHEMA_VERSION


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'reg.db'}")
    else:
        s = Store(request.getfixturevalue("postgres_url"))
        _empty(s)
    yield s
    s.close()


def _empty(store):
    from frugalml.store import schema

    with store.engine.begin() as conn:
        for table in (schema.metrics, schema.samples, schema.runs):
            conn.execute(table.delete())


def _row(run_id, **kw):
    return {
        "id": run_id,
        "name": kw.pop("name", "r"),
        "started_at": kw.pop("started_at", time.time()),
        "region": "FR",
        "pue": 1.0,
        "scope": "process",
        "interval_s": 1.0,
        "pid": os.getpid(),
        **kw,
    }


def test_create_write_read(store):
    store.create_run(_row("a1", name="<script>x</script>"))
    store.write(
        "a1",
        samples=[
            {"t_s": 1.0, "timestamp": 1.0, "component": "cpu", "energy_j": 3.0, "power_w": 3.0}
        ],
        metrics=[
            {"name": "acc", "value": 0.9, "step": 1, "t_s": 1.0, "timestamp": 1.0, "energy_j": 3.0}
        ],
        update={"energy_j": 3.0, "co2e_g": 0.1, "methods": {"cpu": "rapl"}, "summary": {"k": 1}},
    )
    rec = store.get_run("a1")
    assert rec.name == "<script>x</script>"
    assert rec.energy_j == 3.0 and rec.methods == {"cpu": "rapl"} and rec.summary == {"k": 1}
    assert rec.status == "running"
    assert len(store.samples("a1")) == 1 and store.metrics("a1")[0]["value"] == 0.9


def test_list_newest_first_paging_and_filters(store):
    for i in range(5):
        store.create_run(
            _row(f"id{i}", name="even" if i % 2 == 0 else "odd", started_at=1000.0 + i)
        )
        store.write(f"id{i}", update={"status": "finished"})
    assert [r.id for r in store.list_runs(limit=2)] == ["id4", "id3"]
    assert [r.id for r in store.list_runs(limit=2, offset=2)] == ["id2", "id1"]
    assert [r.id for r in store.list_runs(name="odd")] == ["id3", "id1"]
    assert store.count_runs() == 5


def test_prefix_lookup_errors(store):
    store.create_run(_row("abc1"))
    store.create_run(_row("abc2"))
    with pytest.raises(ConfigError, match="ambiguous"):
        store.get_run("abc")
    with pytest.raises(ConfigError, match="No run"):
        store.get_run("zzz")
    assert store.get_run("abc2").id == "abc2"


def test_schema_version_recorded(store):
    assert store.schema_version == SCHEMA_VERSION


def test_newer_schema_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    s = Store(url)
    with s.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE frugal_meta SET value='999' WHERE key='schema_version'")
    s.close()
    with pytest.raises(StoreError, match="Upgrade frugalml"):
        Store(url)


def test_wal_mode(tmp_path):
    s = Store(tmp_path / "w.db")
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    from frugalml.store.backend import SqliteWriter

    writer = SqliteWriter(f"sqlite:///{tmp_path / 'w.db'}", str(tmp_path / "w.db"))
    try:  # the tracker's own writer (sqlite3, no SQLAlchemy): the same settings
        assert writer._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert writer._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        writer.close()


def test_dead_writer_shows_interrupted():
    row = {
        "status": "running",
        "host": __import__("socket").gethostname(),
        "pid": 2**22 + 12345,
        "started_at": time.time(),
        "heartbeat_at": time.time(),
        "interval_s": 1.0,
    }
    assert effective_status(row) == "interrupted"
    row["pid"] = os.getpid()
    row["started_at"] = time.time()
    assert effective_status(row) == "running"
    remote = {
        "status": "running",
        "host": "elsewhere",
        "pid": 1,
        "started_at": 0.0,
        "heartbeat_at": 0.0,
    }
    assert effective_status(remote, now=1000.0) == "interrupted"
    assert effective_status({**remote, "heartbeat_at": 990.0}, now=1000.0) == "running"


def test_malformed_urls():
    for bad in ("sqlitex:/nope", "://x", "postgres ql://x", "sqlite:relative.db"):
        with pytest.raises(ConfigError, match="registry URL"):
            Store(bad)
    assert resolve_db_url("rel.db").startswith("sqlite:////")


def test_unknown_dialect():
    with pytest.raises(ConfigError, match="Unknown database kind"):
        Store("nosuchdb://user@host/db")


WRITER = textwrap.dedent(
    """
    import sys, time
    from frugalml.measure.tracker import Tracker
    from frugalml.testing import ConstantPowerSensor
    db, out, i = sys.argv[1], sys.argv[2], sys.argv[3]
    with Tracker(f"proc{i}", sensors=[ConstantPowerSensor(10.0)], db=db, out_dir=out,
                 interval_s=0.02, handle_signals=False) as run:
        for k in range(20):
            time.sleep(0.03)
            run.log_metric("k", k, step=k)
    print(run.id)
    """
)


@pytest.mark.slow
def test_eight_processes_write_one_sqlite_registry(tmp_path):
    db = str(tmp_path / "shared.db")
    Store(db).close()  # create the schema once; concurrent creation is covered by the retry
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db, str(tmp_path / f"out{i}"), str(i)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    ids = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        ids.append(out.strip())
    store = Store(db)
    assert store.count_runs() == 8
    for i, run_id in enumerate(ids):
        rec = store.get_run(run_id)
        assert rec.status == "finished"
        with open(tmp_path / f"out{i}" / "samples.csv") as f:
            csv_rows = sum(1 for _ in f) - 1
        assert len(store.samples(run_id)) == csv_rows >= 4  # 2 components x >= 2 samples
        assert len(store.metrics(run_id)) == 20
        assert rec.energy_j == pytest.approx(sum(s["energy_j"] for s in store.samples(run_id)))
