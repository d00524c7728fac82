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


def test_a_row_reports_nvml_energy_per_component(monkeypatch):
    """Under a GPU's NVML sensor (the fake), a row's training and inference energy each keep
    the GPU's share as its own component beside the CPU's."""
    from frugalml.bench.apply import Context, run_stack
    from frugalml.bench.chain import parse_stack
    from frugalml.bench.tasks import get_task
    from frugalml.measure.nvml import NvmlSensor
    from frugalml.measure.registry import create_sensor
    from frugalml.testing._nvml import FakeGPU, FakeNVML

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    data, X, y = get_task("iris-mlp").train_data(0)
    ctx = Context(data.make_model(), data, X, y, 0, {"accuracy": 0.9, "train_energy_j": 1.0})

    def tracker_args(phase):
        gpu = NvmlSensor(nvml=FakeNVML([FakeGPU(energy_step_j=2.0)]))
        sensors = [gpu, create_sensor("cpu-model")]
        return {"name": phase, "db": False, "handle_signals": False, "sensors": sensors}

    row = run_stack(
        parse_stack("channel-prune(fine_tune_epochs=0)+int8-dynamic"),
        lambda name, params: dict(params),
        ctx,
        measure_s=0.02,
        tracker_args=tracker_args,
    )
    assert "failed" not in row, row.get("failed")
    for components in (row["train_energy_j_components"], row["infer_energy_j_per_1k_components"]):
        assert components["gpu:0"] > 0 and any(k.startswith("cpu") for k in components)
    # the row's figure is its steps' sum, component by component
    steps = row["steps"]
    assert row["train_energy_j_components"]["gpu:0"] == pytest.approx(
        sum(s["train_energy_j_components"]["gpu:0"] for s in steps)
    )
