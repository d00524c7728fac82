"""Checks for the whole pytest session, doctests included (tests/conftest.py has the fixtures).

- Docstring examples (``--doctest-modules`` over src/frugalml) run with the same isolation as
  the tests: no doctest reads the user's config or writes to ~/.frugal.
- The suite leaves the working tree as it found it: a file or folder a test (or the code
  under test) creates in the checkout instead of a temporary folder, or a tracked file it
  changes, fails the session. Ignored and empty folders count (an empty, ignored
  ``frugal-out/bench`` is still a stray). Without git (not a checkout) only new files and
  folders are checked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
# What running Python, pytest and the linters legitimately leaves behind.
CACHES = re.compile(
    r"(^|/)(__pycache__|\.pytest_cache|\.mypy_cache|\.ruff_cache|\.venv|[^/]*\.egg-info)(/|$)"
)


def tree_state(root: Path = ROOT) -> set[str]:
    """Every file and folder under ``root`` (empty folders included: git does not show them),
    plus ``git status`` lines when it is a git checkout (modified tracked files); caches, the
    virtual environment and .git left out."""
    state = set()
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        dirs[:] = [d for d in dirs if d != ".git" and not CACHES.search(f"{rel}/{d}/")]
        state.update(f"{rel}/{name}" for name in dirs + files if name != ".git")
    git = shutil.which("git")
    if git is None:
        return state
    try:
        res = subprocess.run(
            [git, "-C", str(root), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return state
    if res.returncode == 0:
        state.update(f"git: {line}" for line in res.stdout.splitlines() if line)
    return state


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BEFORE] = tree_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_BEFORE, None)
    if before is None:
        return
    after = tree_state()
    stray = sorted(after - before)
    if stray:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            "The test session changed the working tree (write to tmp_path instead):\n  "
            + "\n  ".join(stray)
        )
        if reporter is not None:
            reporter.write_sep("=", "working tree not clean", red=True)
            reporter.write_line(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[set[str]]()


@pytest.fixture(autouse=True)
def _isolated_doctest_env(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not isinstance(request.node, pytest.DoctestItem):
        return
    home = tmp_path_factory.mktemp("doctest-home")
    monkeypatch.setenv("FRUGAL_DB", str(home / "frugal.db"))
    monkeypatch.setenv("FRUGAL_CONFIG", str(home / "config.toml"))
    for var in ("FRUGAL_REGION", "FRUGAL_PUE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(home)
