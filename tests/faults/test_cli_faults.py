"""``frugal run`` and the read commands under faults: the documented PostgreSQL URL (issue #11,
2), planted symlinks in ``--out`` (9), SIGTERM at any moment (10), and bad values that must give
one line (issue #10)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from frugalml.cli.main import main
from frugalml.store import Store

FRUGAL = [sys.executable, "-m", "frugalml"]


def run_main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


# 2 -------------------------------------------------------------------------------------------
def test_02_the_documented_postgresql_url_records_the_run(postgres_url, capsys):
    assert postgres_url.startswith("postgresql://")  # bare, as the README writes it
    assert run_main(["run", "-q", "--db", postgres_url, "--name", "pg-bare", "--", "true"]) == 0
    assert "spool" not in capsys.readouterr().err  # written directly, not left waiting
    assert run_main(["runs", "--db", postgres_url, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["status"] for row in rows if row["name"] == "pg-bare"] == ["finished"]


# 9 -------------------------------------------------------------------------------------------
def test_09_out_never_writes_through_a_planted_symlink(tmp_path):
    out, victims = tmp_path / "out", tmp_path / "victims"
    out.mkdir()
    victims.mkdir()
    for name in ("samples.csv", "metrics.csv", "run.json"):
        (victims / name).write_text("precious\n")
        os.symlink(victims / name, out / name)
    assert (
        run_main(["run", "-q", "--db", str(tmp_path / "r.db"), "--out", str(out), "--", "true"])
        == 0
    )
    for name in ("samples.csv", "metrics.csv", "run.json"):
        assert (victims / name).read_text() == "precious\n"
        assert not (out / name).is_symlink()
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert (out / "samples.csv").read_text().startswith("t_s,timestamp,component")


# 10 ------------------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_10_signal_before_the_command_exists_ends_frugal_run_as_interrupted(tmp_path, monkeypatch):
    import frugalml.cli.run as cli_run
    from frugalml.measure.tracker import Tracker

    real_init = Tracker.__init__
    started = []

    def init_then_signal(self, *args, **kwargs):  # SIGTERM lands while frugal run validates
        real_init(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Tracker, "__init__", init_then_signal)
    monkeypatch.setattr(cli_run.subprocess, "Popen", lambda *a, **k: started.append(a))
    db = str(tmp_path / "r.db")
    assert run_main(["run", "-q", "--db", db, "--name", "early", "--", "sleep", "30"]) == 143
    assert started == []  # the command was never started
    (rec,) = Store(db).list_runs(name="early")
    assert rec.status == "interrupted" and "before the command was started" in rec.error
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_10_signal_while_the_command_starts_is_forwarded(tmp_path, monkeypatch):
    import frugalml.cli.run as cli_run

    real_popen = subprocess.Popen

    def popen_during_signal(*args, **kwargs):  # SIGTERM lands between fork and pid known
        os.kill(os.getpid(), signal.SIGTERM)
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(cli_run.subprocess, "Popen", popen_during_signal)
    db = str(tmp_path / "r.db")
    t = time.monotonic()
    assert run_main(["run", "-q", "--db", db, "--name", "mid", "--", "sleep", "30"]) == 143
    assert time.monotonic() - t < 20  # the command got the signal, not 30 s of sleep
    (rec,) = Store(db).list_runs(name="mid")
    assert rec.status == "interrupted" and rec.exit_code == 143


@pytest.mark.slow
def test_10_sigterm_around_the_start_of_the_command_leaves_no_orphan(tmp_path):
    db = str(tmp_path / "r.db")

    def start(i: int) -> tuple[subprocess.Popen[bytes], str]:
        marker = str(tmp_path / f"child-{i}")
        cmd = [*FRUGAL, "run", "-q", "--db", db, "--name", f"race-{i}", "--interval", "0.1"]
        cmd += ["--", "sh", "-c", f"echo $$ > {marker}; exec sleep 30"]
        return subprocess.Popen(cmd, stderr=subprocess.DEVNULL), marker

    # when does the command start, counted from frugal run's own start?
    proc, marker = start(0)
    t0 = time.monotonic()
    while not os.path.exists(marker) and time.monotonic() - t0 < 30:
        time.sleep(0.002)
    started_after = time.monotonic() - t0
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    for i, offset in enumerate((-0.03, -0.01, 0.005), 1):
        proc, marker = start(i)
        time.sleep(max(0.0, started_after + offset))
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        assert code in (143, -signal.SIGTERM), code  # 128 + 15, or killed before handlers
        if os.path.exists(marker):  # the command existed: it got the signal too
            with open(marker) as f:
                pid = int(f.read() or 0)
            deadline = time.monotonic() + 5
            while pid and _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not (pid and _alive(pid)), f"try {i}: the command was orphaned"
        if code == 143:  # frugal run had its handlers: the run is recorded as interrupted
            (rec,) = Store(db).list_runs(name=f"race-{i}")
            assert rec.status == "interrupted"


# bad input: one line, exit 2 -------------------------------------------------------------------
def test_interval_inf_must_be_finite(capsys):
    assert run_main(["run", "--interval", "inf", "--", "true"]) == 2
    err = capsys.readouterr().err
    assert "must be finite" in err and "Traceback" not in err


def test_config_value_of_the_wrong_kind_is_one_line(tmp_path, monkeypatch, capsys):
    config = tmp_path / "config.toml"
    config.write_text('interval_s = "fast"\n')
    monkeypatch.setenv("FRUGAL_CONFIG", str(config))
    assert run_main(["run", "--", "true"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "interval_s" in err and "'fast'" in err


def test_corrupt_registry_is_one_line_without_sql(tmp_path, capsys):
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"garbage" * 1000)
    for command in (["runs"], ["show", "abc"], ["report", "-o", "-"]):
        assert run_main([*command, "--db", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "corrupt" in err, err
        assert "sqlalche.me" not in err and "SELECT" not in err
