"""Shared set-up of the integration tests: everything local, one torch thread, an MLflow file
store per test, and a runner for the examples in examples/integrations/."""

from __future__ import annotations

import os
import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

# Read by huggingface_hub and MLflow at import: no hub calls, no telemetry (set before either
# is imported by any test).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "true")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "integrations"


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: on a shared 2-core VM two OpenMP threads spin against other jobs and
    a tiny model's step gets ten times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local MLflow file store (MLflow 3 asks for an explicit opt-in to it). Set as the
    process-wide URI: Lightning's MLFlowLogger sets that global too, and it wins over the
    environment."""
    mlflow = pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


def run_example(name: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run an example as ``python examples/integrations/NAME`` would, in this process (its
    framework is imported once for the whole test session), from ``cwd``."""
    monkeypatch.chdir(cwd)
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
