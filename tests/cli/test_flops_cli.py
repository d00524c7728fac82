"""``frugal flops``: targets, shapes, JSON, tables, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from frugalml.cli.flops import flops
from frugalml.cli.main import main
from frugalml.errors import InputError

MODELS = textwrap.dedent(
    """
    import torch.nn as nn

    def build():
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(4 * 8 * 8, 10))

    def two_inputs():
        class Two(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(5, 2)

            def forward(self, x, y):
                return self.a(x) + y.sum()
        return Two()

    def embedder():
        return nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))

    def not_a_module():
        return 42

    def broken():
        raise RuntimeError("weights missing")

    instance = nn.Linear(3, 3)
    NUMBER = 7
    """
)
CONV_MACS = 4 * 8 * 8 * 3 * 9
FC_MACS = 256 * 10


@pytest.fixture
def models_file(tmp_path):
    path = tmp_path / "zoo_models.py"
    path.write_text(MODELS)
    return path


def _json(args):
    result = CliRunner().invoke(flops, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_file_target_json(models_file):
    data = _json([f"{models_file}:build", "--input", "2x3x8x8", "--json"])
    assert data["macs"] == 2 * (CONV_MACS + FC_MACS)
    assert data["flops"] > 2 * data["macs"]
    assert data["params"] == data["params_trainable"] == 4 * 27 + 4 + 2560 + 10
    assert data["by_module"]["Sequential.0"] == 2 * CONV_MACS
    assert data["by_operator"]["aten.convolution"] == 2 * 2 * CONV_MACS + 2 * 256
    assert data["unknown_operators"] == {}
    assert "train_step_flops" not in data
    for key in ("params_nonzero", "size_bytes", "bytes_moved"):
        assert data[key] > 0


def test_module_target_train_and_depth(models_file, monkeypatch):
    monkeypatch.syspath_prepend(str(models_file.parent))
    data = _json(["zoo_models:build", "--input", "1x3x8x8", "--train", "--depth", "0", "--json"])
    assert data["train_step_flops"] > data["flops"]
    assert list(data["by_module"]) == ["Sequential"]


def test_several_inputs_and_integer_dtype(models_file):
    data = _json([f"{models_file}:two_inputs", "--input", "3x5", "--input", "3x2", "--json"])
    assert data["macs"] == 3 * 5 * 2
    data = _json([f"{models_file}:embedder", "--input", "2x6:int64", "--json"])
    assert data["macs"] == 2 * 6 * 4 * 2


def test_module_instance_and_dtype(models_file):
    data = _json([f"{models_file}:instance", "--input", "2x3", "--dtype", "float64", "--json"])
    assert data["size_bytes_by_dtype"] == {"float64": 12 * 8}


def test_tables(models_file):
    result = CliRunner().invoke(flops, [f"{models_file}:build", "--input", "1x3x8x8"])
    assert result.exit_code == 0, result.output
    assert "1 MAC (multiply-accumulate) = 2 FLOPs" in result.output
    assert "By module" in result.output and "By operator" in result.output
    result = CliRunner().invoke(
        flops, [f"{models_file}:build", "--input", "1x3x8x8", "--by", "module"]
    )
    assert "By operator" not in result.output


@pytest.mark.parametrize(
    ("target", "shape", "message"),
    [
        ("{file}:not_a_module", "1x3", "not a torch.nn.Module"),
        ("{file}:NUMBER", "1x3", "not a callable"),
        ("{file}:missing", "1x3", "has no attribute 'missing'"),
        ("{file}:broken", "1x3", "weights missing"),
        ("{dir}/absent.py:build", "1x3", "does not exist"),
        ("no_such_package_xyz.models:build", "1x3", "Cannot import module"),
        ("{file}", "1x3", "no ':callable' part"),
        ("{file}:build", "1x3xa", "Bad --input shape '1x3xa'"),
        ("{file}:build", "0x3", "Bad --input shape"),
        ("{file}:build", "2x3:int7", "Bad --input dtype"),
        ("{file}:build", "1x5x8x8", "The model rejected input shape 1x5x8x8"),
        # refused before anything is allocated (no MemoryError, no machine swapping)
        ("m:f", "99999999x99999999", "--input 99999999x99999999 needs 35.5 PiB"),
        ("{file}:build", "99999999999x99999999999x9999999999", "memory available"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(models_file, capsys, target, shape, message):
    target = target.format(file=models_file, dir=models_file.parent)
    with pytest.raises(SystemExit) as exit_info:
        main(["flops", target, "--input", shape])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("Error: ") and message in err
    assert "Traceback" not in err

    result = CliRunner().invoke(flops, [target, "--input", shape])
    assert isinstance(result.exception, InputError)


def test_measure_flag(models_file, monkeypatch):
    import contextlib
    from types import SimpleNamespace

    import frugalml

    @contextlib.contextmanager
    def fake_track(name, **kwargs):
        yield SimpleNamespace(
            energy_j={"total": 1.0}, duration_s=0.5, energy_method="fake", uncertainty={}
        )

    monkeypatch.setattr(frugalml, "track", fake_track, raising=False)
    data = _json(
        [f"{models_file}:build", "--input", "1x3x8x8", "--measure", "--runs", "3", "--json"]
    )
    assert data["latency"]["runs"] == 3
    assert data["energy"]["method"] == "fake"
