"""Schema versions: every frozen registry of an older version upgrades with all its rows (on
SQLite and PostgreSQL), and creation/migration is serialised between concurrent first writers
(see tests/faults)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from frugalml.store import Store, open_registry, schema
from frugalml.store.columns import (
    FORECAST_COLUMNS,
    METRIC_COLUMNS,
    RUN_COLUMNS,
    SAMPLE_COLUMNS,
    SCHEMA_VERSION,
)
from frugalml.store.migrations import MIGRATIONS

FROZEN = sorted((Path(__file__).parent / "data").glob("registry-v*.db"))


def test_every_version_has_a_migration_and_every_old_version_a_frozen_file():
    assert sorted(MIGRATIONS) == list(range(2, SCHEMA_VERSION + 1))
    versions = sorted(int(p.stem.split("-v")[1]) for p in FROZEN)
    assert versions == list(range(1, SCHEMA_VERSION))


def test_columns_without_sqlalchemy_match_the_schema():
    assert tuple(c.name for c in schema.runs.c) == RUN_COLUMNS
    assert tuple(c.name for c in schema.samples.c)[2:] == SAMPLE_COLUMNS
    assert tuple(c.name for c in schema.metrics.c)[2:] == METRIC_COLUMNS
    assert tuple(c.name for c in schema.forecasts.c)[2:] == FORECAST_COLUMNS


@pytest.mark.parametrize("frozen", FROZEN, ids=lambda p: p.stem)
def test_frozen_registry_upgrades_with_every_row(tmp_path, frozen, caplog):
    db = tmp_path / "old.db"
    shutil.copy(frozen, db)
    before = _counts(db)
    store = Store(db)
    assert store.schema_version == SCHEMA_VERSION
    assert "upgraded the registry" in caplog.text
    assert _counts(db) == before
    finished = store.get_run("f1000000000000a1")
    assert finished.status == "finished" and finished.energy_j == 30.0
    assert [s["energy_j"] for s in store.samples(finished.id)] == [8.0, 2.0] * 3
    assert all(s["method"] is None for s in store.samples(finished.id))  # added in v2
    assert [m["value"] for m in store.metrics(finished.id)] == pytest.approx([0.6, 0.7, 0.8])
    assert store.get_run("f1000000000000b2").status == "interrupted"  # its writer is long gone
    store.write(  # and the new columns take values
        finished.id,
        samples=[
            {
                "t_s": 4.0,
                "timestamp": 4.0,
                "component": "cpu",
                "energy_j": 1.0,
                "power_w": 1.0,
                "method": "rapl",
            }
        ],
    )
    assert store.samples(finished.id)[-1]["method"] == "rapl"
    assert store.forecasts(finished.id) == []  # the table of v3, empty after the upgrade
    forecast = dict.fromkeys(FORECAST_COLUMNS, 1.0) | {"method": "level"}
    store.write(finished.id, forecasts=[forecast])
    assert [f["method"] for f in store.forecasts(finished.id)] == ["level"]


def test_a_reader_upgrades_an_old_registry_it_can_write(tmp_path):
    db = tmp_path / "old.db"
    shutil.copy(FROZEN[0], db)
    assert len(open_registry(db).list_runs()) == 2
    assert Store(db, readonly=True).schema_version == SCHEMA_VERSION


def test_upgrade_is_one_transaction(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    shutil.copy(FROZEN[-1], db)  # the version before this one

    def broken(conn: sa.Connection) -> None:
        raise RuntimeError("disk gone mid-migration")

    monkeypatch.setitem(MIGRATIONS, SCHEMA_VERSION, broken)
    with pytest.raises(Exception, match="disk gone"):
        Store(db)
    with sqlite3.connect(db) as conn:  # still the old version, untouched
        assert conn.execute("SELECT value FROM frugal_meta").fetchone() == (
            str(SCHEMA_VERSION - 1),
        )


def _counts(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return tuple(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("runs", "samples", "metrics")
        )  # type: ignore[return-value]


@pytest.mark.parametrize("frozen", FROZEN, ids=lambda p: p.stem)
def test_frozen_registry_upgrades_on_postgresql(postgres_url, frozen):
    """A frozen registry, loaded table by table into a new PostgreSQL database, upgrades
    there too (``ALTER TABLE`` under the advisory lock) with every row."""
    import psycopg

    from frugalml.store.url import resolve_db_url

    conninfo = resolve_db_url(postgres_url).replace("postgresql+psycopg://", "postgresql://")
    name = f"old_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = postgres_url.replace("/postgres?", f"/{name}?")
    try:
        old = sa.create_engine(f"sqlite:///{frozen}")
        tables = sa.MetaData()
        tables.reflect(bind=old)
        pg = sa.create_engine(resolve_db_url(url))
        tables.create_all(pg)
        with old.connect() as src, pg.begin() as dst:
            for table in tables.sorted_tables:
                rows = [dict(r._mapping) for r in src.execute(sa.select(table))]
                if rows:
                    dst.execute(sa.insert(table), rows)
        pg.dispose()
        old.dispose()
        store = Store(url)
        assert store.schema_version == SCHEMA_VERSION
        finished = store.get_run("f1000000000000a1")
        assert finished.status == "finished" and finished.energy_j == 30.0
        assert [s["energy_j"] for s in store.samples(finished.id)] == [8.0, 2.0] * 3
        assert all(s["method"] is None for s in store.samples(finished.id))  # added in v2
        assert store.get_run("f1000000000000b2").status == "interrupted"
        store.close()
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
