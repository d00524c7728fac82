"""``--device``: what can be checked without a GPU (the choice, the error, the data moved, a
CPU-only technique run on the CPU under a GPU bench and saying so)."""

from __future__ import annotations

import pytest
import torch

from frugalml.bench.config import BenchConfig, resolve_device
from frugalml.errors import InputError


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_is_the_cpu_without_a_gpu_and_cuda_is_one_clear_error(no_gpu):
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(InputError, match=r"^device 'cuda': PyTorch sees no CUDA GPU") as e:
        resolve_device("cuda")
    assert "--device cpu" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError, match="'device' parameter"):
        BenchConfig(tasks=["iris-mlp"], techniques=[], device="tpu").plan()


def test_auto_and_cuda_take_a_gpu_pytorch_sees(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == resolve_device("cuda") == "cuda"
    assert BenchConfig(tasks=["iris-mlp"], techniques=[], device="auto").plan().device == "cuda"


def test_cli_cuda_without_a_gpu_exits_2_and_creates_nothing(no_gpu, tmp_path, monkeypatch, capsys):
    from frugalml.cli.main import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--device", "cuda", "--task", "iris-mlp", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "PyTorch sees no CUDA GPU" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_task_data_moves_to_the_device_with_its_model_factory():
    from frugalml.bench.harness import _data_on
    from frugalml.bench.tasks import get_task

    data, _, _ = get_task("digits-5to9-mlp").train_data(0)
    moved = _data_on(data, "meta")  # a device every torch has: no GPU needed to check
    assert moved.X_train.device.type == "meta" and moved.y_val.device.type == "meta"
    assert next(moved.make_model(width=0.5).parameters()).device.type == "meta"
    assert moved.source.X_train.device.type == "meta"  # the transfer task's source data too
    assert data.X_train.device.type == "cpu"  # the original is left alone


def test_a_cpu_only_technique_runs_on_the_cpu_under_a_gpu_bench_and_says_so():
    from frugalml.bench.apply import Context, run_stack
    from frugalml.bench.chain import parse_stack
    from frugalml.bench.harness import _device_note
    from frugalml.bench.tasks import get_task

    data, X, y = get_task("iris-mlp").train_data(0)
    model = data.make_model()
    cpu = Context(model, data, X, y, 0, {"accuracy": 0.9, "train_energy_j": 1.0}, "cpu")
    gpu = Context(None, None, None, None, 0, cpu.base_run, "cuda", on_cpu=lambda: cpu)
    row = run_stack(
        parse_stack("int8-dynamic"),
        lambda name, params: dict(params),
        gpu,
        measure_s=0.02,
        tracker_args=lambda phase: {"name": phase, "db": False, "handle_signals": False},
    )
    assert "failed" not in row, row.get("failed")
    assert row["device"] == "cpu" and row["steps"][0]["device"] == "cpu"
    note = _device_note({**row, "status": "ok"}, "cuda")
    assert note == (
        "runs on the CPU only (eager-mode int8 kernels run on the CPU only): measured on the "
        "CPU, the baseline on cuda"
    )
    assert _device_note({**row, "status": "ok"}, "cpu") is None
