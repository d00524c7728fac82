"""Test isolation (no test reads the user's config or writes to ~/.frugal, its registry or its
spool) and a throw-away
PostgreSQL server for every test that needs one (fixture ``postgres_url``).

The server is started from the machine's PostgreSQL binaries (Debian's postgresql package) on a
Unix socket in a temp folder — no TCP, no network. It skips with the reason when the binaries, the
driver or a way to run them are missing. FRUGAL_TEST_POSTGRES_URL points the tests at an existing
server.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _isolated_frugal_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("FRUGAL_DB", str(home / "frugal.db"))
    monkeypatch.setenv("FRUGAL_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("FRUGAL_SPOOL", str(home / "spool"))
    for var in ("FRUGAL_REGION", "FRUGAL_PUE", "FRUGAL_OUTER_RUN"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _no_run_left_tracked() -> Iterator[None]:
    """A test that leaves a tracker started (a session never ended, a ``start()`` with no
    ``stop()``) leaves an active run that the next test's ``frugalml.epoch_end()`` would find:
    stop it here and fail the test that leaked it."""
    yield
    tracker_module = sys.modules.get("frugalml.measure.tracker")
    if tracker_module is None:
        return
    leaked = list(tracker_module._LIVE)
    for tracker in leaked:
        tracker.stop(status="interrupted", error="left running by a test")
    if leaked:
        pytest.fail(
            f"{len(leaked)} tracker(s) left running: {[t.run.name for t in leaked]}; stop them "
            "(end the session, leave the `with` block, call stop()) before the test returns"
        )


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("FRUGAL_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL backend: psycopg not installed (pip install 'frugalml[postgres]')")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL backend: no PostgreSQL server binaries (apt-get install postgresql)"
        )
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("PostgreSQL backend: running as root without runuser to drop to 'postgres'")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(
                "PostgreSQL backend: running as root and no 'postgres' user to run the server"
            )
        prefix = ["runuser", "-u", "postgres", "--"]
    base = tempfile.mkdtemp(prefix="frugal-pg-")
    os.chmod(base, 0o777)
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.mkdir(sock)
    os.chmod(sock, 0o777)

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    try:
        run(f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
        run(
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-w",
            "-l",
            os.path.join(base, "log"),
            "-o",
            f"-k {sock} -c listen_addresses='' -c fsync=off",
            "start",
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"PostgreSQL backend: could not start a test server ({e})")
    try:
        # A bare postgresql:// URL, as users write it: frugalml maps it to psycopg 3.
        yield f"postgresql://postgres@/postgres?host={sock}"
    finally:
        subprocess.run(
            [*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)
