"""The session check in the repository's conftest.py: a test session that writes into the
checkout fails, one that writes only to tmp_path passes (run in a throw-away git repository)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GIT = shutil.which("git")
PLUGINS_OFF = ["-p", "no:cacheprovider", "-p", "no:socket", "-p", "no:timeout"]


def _session(tmp_path: Path, test_body: str, git: bool = True) -> subprocess.CompletedProcess[str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "conftest.py", repo / "conftest.py")
    (repo / ".gitignore").write_text("/frugal-out/\n")
    (repo / "test_x.py").write_text(f"def test_x(tmp_path):\n    {test_body}\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "HOME": str(tmp_path)}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    if git:
        assert GIT is not None
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
            subprocess.run([GIT, *cmd], cwd=repo, check=True, env=env, capture_output=True)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "test_x.py", *PLUGINS_OFF],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )


@pytest.mark.skipif(GIT is None, reason="git is not installed")
def test_a_session_that_writes_into_the_checkout_fails(tmp_path):
    # an ignored, empty folder is a stray too: frugal bench --list once created this one
    res = _session(
        tmp_path, "import os; os.makedirs('frugal-out/bench'); open('stray.txt', 'w').write('x')"
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "working tree not clean" in res.stdout
    assert "frugal-out/bench" in res.stdout and "stray.txt" in res.stdout
    assert "test_x.py" not in res.stdout.split("working tree not clean")[1]


def test_without_git_new_files_still_fail_the_session(tmp_path):
    res = _session(
        tmp_path, "(tmp_path / 'fine.txt').write_text('x'); open('s.txt', 'w')", git=False
    )
    assert res.returncode == 1 and "working tree not clean" in res.stdout, res.stdout
    assert "s.txt" in res.stdout and "fine.txt" not in res.stdout
