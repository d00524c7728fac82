"""The spool (runs that could not reach their registry) and the one registry resolver."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from frugalml.errors import ConfigError, StoreError
from frugalml.store import Store, open_registry, resolve_db_url
from frugalml.store.spool import Journal, import_spooled


def _journal(spool: Path, url: str, run_id: str, *, final: bool, out_dir=None) -> Journal:
    j = Journal.create(
        spool,
        run_id,
        url=url,
        run={
            "id": run_id,
            "name": "spooled",
            "started_at": time.time(),
            "pue": 1.0,
            "intensity_g_per_kwh": 100.0,
            "summary": {"id": run_id, "status": "running"},
        },
        out_dir=out_dir,
    )
    for i in range(3):
        j.append_sample(
            [
                {
                    "t_s": i + 1.0,
                    "timestamp": time.time(),
                    "component": "cpu",
                    "energy_j": 2.0,
                    "power_w": 2.0,
                    "method": "rapl",
                }
            ],
            [
                {
                    "name": "loss",
                    "value": 1.0 / (i + 1),
                    "step": i,
                    "t_s": i + 1.0,
                    "timestamp": time.time(),
                    "energy_j": 2.0 * (i + 1),
                }
            ]
            if i == 1
            else [],
            i + 1,
        )
    if final:
        j.append_update({"status": "finished", "energy_j": 6.0, "ended_at": time.time()})
    return j


def test_a_dead_runs_journal_is_imported_once_with_a_notice(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    spool = Path(os.environ["FRUGAL_SPOOL"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"id": "dead1", "status": "running"}))
    _journal(spool, url, "dead1", final=False, out_dir=str(out)).close(delete=False)
    _journal(spool, url, "done1", final=True).close(delete=False)
    live = _journal(spool, url, "live1", final=False)  # its writer holds the lock
    with caplog.at_level(logging.WARNING):
        store = Store(url)
    assert "imported 2 spooled run(s)" in caplog.text
    dead, done = store.get_run("dead1"), store.get_run("done1")
    assert dead.status == "interrupted" and dead.energy_j == 6.0 and dead.duration_s == 3.0
    assert dead.summary["status"] == "interrupted"
    assert done.status == "finished"
    assert len(store.samples("dead1")) == 3 and len(store.metrics("dead1")) == 1
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    with pytest.raises(ConfigError):
        store.get_run("live1")
    assert sorted(p.name for p in spool.iterdir()) == ["live1.jsonl"]
    assert import_spooled(store, spool) == []  # nothing twice
    live.close(delete=False)
    assert import_spooled(store, spool) == ["live1"]


def test_a_journal_for_another_registry_stays(tmp_path):
    spool = Path(os.environ["FRUGAL_SPOOL"])
    _journal(spool, f"sqlite:///{tmp_path / 'other.db'}", "elsewhere", final=True).close(
        delete=False
    )
    Store(tmp_path / "r.db").close()
    assert (spool / "elsewhere.jsonl").exists()


def test_readers_import_without_waiting_and_create_nothing(tmp_path, caplog):
    db = tmp_path / "r.db"
    Store(db).close()
    spool = Path(os.environ["FRUGAL_SPOOL"])
    _journal(spool, f"sqlite:///{db}", "late1", final=True).close(delete=False)
    with caplog.at_level(logging.WARNING):
        assert [r.id for r in open_registry(db).list_runs()] == ["late1"]
    assert "imported 1 spooled run" in caplog.text
    _journal(spool, f"sqlite:///{tmp_path / 'absent.db'}", "x", final=True).close(delete=False)
    with pytest.raises(ConfigError, match="does not exist"):
        open_registry(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()


def test_a_cut_last_line_is_ignored(tmp_path):
    spool = Path(os.environ["FRUGAL_SPOOL"])
    url = f"sqlite:///{tmp_path / 'r.db'}"
    j = _journal(spool, url, "cut1", final=False)
    j.close(delete=False)
    with open(j.path, "a") as f:
        f.write('{"n":4,"s":[[4.0,1.0,"cpu",2.')  # killed mid-write
    store = Store(url)
    assert len(store.samples("cut1")) == 3


def test_one_resolver_flag_env_config_default(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'db = "{tmp_path / "from-config.db"}"\n')
    monkeypatch.setenv("FRUGAL_CONFIG", str(config))
    monkeypatch.setenv("FRUGAL_DB", str(tmp_path / "from-env.db"))
    assert resolve_db_url(tmp_path / "flag.db").endswith("/flag.db")
    assert resolve_db_url().endswith("/from-env.db")
    monkeypatch.delenv("FRUGAL_DB")
    assert resolve_db_url().endswith("/from-config.db")
    config.write_text("")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_db_url() == f"sqlite:///{tmp_path / 'home' / '.frugal' / 'frugal.db'}"


@pytest.mark.parametrize("bare", ["postgresql://u:p@h/db", "postgres://u:p@h/db"])
def test_bare_postgresql_urls_use_psycopg_3(bare):
    assert resolve_db_url(bare) == "postgresql+psycopg://u:p@h/db"
    assert resolve_db_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"


def test_readers_on_postgresql_cannot_write(postgres_url):
    Store(postgres_url).close()
    reader = Store(postgres_url, readonly=True)
    with pytest.raises(StoreError, match="read-only"):
        reader.create_run({"id": "nope", "name": "n", "started_at": 0.0})
    import sqlalchemy as sa

    with (
        pytest.raises(sa.exc.SQLAlchemyError, match="read-only transaction"),
        reader.engine.begin() as conn,
    ):
        conn.exec_driver_sql("CREATE TABLE sneaky (x int)")


def test_network_statements_time_out_as_configured(postgres_url, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("db_statement_timeout_s = 0.25\n")
    monkeypatch.setenv("FRUGAL_CONFIG", str(config))
    import sqlalchemy as sa

    for readonly in (False, True):
        store = Store(postgres_url, readonly=readonly)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "250ms"
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                conn.exec_driver_sql("SELECT pg_sleep(2)")
        store.close()


def test_config_file_values_are_checked(tmp_path, monkeypatch):
    from frugalml.config import load_config

    config = tmp_path / "config.toml"
    monkeypatch.setenv("FRUGAL_CONFIG", str(config))
    for text, key in (
        ('interval_s = "fast"', "interval_s"),
        ("interval_s = inf", "interval_s"),
        ("db = 3", "db"),
        ('scope = "galaxy"', "scope"),
        ("db_connect_timeout_s = -1", "db_connect_timeout_s"),
    ):
        config.write_text(text + "\n")
        with pytest.raises(ConfigError, match=key):
            load_config()
