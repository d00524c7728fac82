"""Parameter counts, sizes by dtype, state_dict bytes, bytes moved and intensity."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import frugalml  # noqa: E402
from frugalml.profiler.params import param_stats  # noqa: E402


def test_counts_and_sizes():
    model = nn.Sequential(nn.Linear(10, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    with torch.no_grad():
        model[2].weight[0] = 0
    stats = param_stats(model, state_dict_size=True)
    assert stats.params == 44 + 8 + 10
    assert stats.params_trainable == 8 + 10
    assert stats.params_nonzero == 62 - 4 - 4  # zeroed row, batch-norm bias initialised to 0
    buffers = 4 * 4 + 4 * 4 + 8  # running mean, var (float32), num_batches_tracked (int64)
    assert stats.size_bytes_by_dtype == {"float32": 62 * 4 + 32, "int64": 8}
    assert stats.size_bytes == 62 * 4 + buffers
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert stats.state_dict_bytes == len(buffer.getvalue())


def test_state_dict_size_only_on_request():
    model = nn.Linear(3, 2)
    assert param_stats(model).state_dict_bytes is None
    assert frugalml.profile(model, torch.ones(1, 3)).state_dict_bytes is None
    sized = frugalml.profile(model, torch.ones(1, 3), state_dict_size=True)
    assert sized.state_dict_bytes is not None and sized.state_dict_bytes > sized.size_bytes


def test_each_weight_is_read_once_for_its_non_zero_count(monkeypatch):
    from frugalml.profiler import traffic

    counted = []
    real = traffic._count_nonzero
    monkeypatch.setattr(traffic, "_count_nonzero", lambda t: counted.append(t.shape) or real(t))
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4, bias=False))
    p = frugalml.profile(model, torch.randn(2, 6))
    # the forward pass reads the weights transposed; the statistics reuse those counts
    assert sorted(counted) == sorted([(6, 5), (5,), (5, 4)])
    assert p.params_nonzero == p.params


def test_count_nonzero_false_reads_no_weight(monkeypatch):
    from frugalml.profiler import traffic
    from frugalml.profiler.render import render

    monkeypatch.setattr(traffic, "_count_nonzero", lambda t: pytest.fail("weights were read"))
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4))
    p = frugalml.profile(model, torch.randn(2, 6), count_nonzero=False, train=True)
    assert p.params_nonzero is p.macs_effective is p.flops_effective is None
    assert p.train_step_flops_effective is None
    assert p.macs == 2 * (6 * 5 + 5 * 4) and p.params == 6 * 5 + 5 + 5 * 4 + 4
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200)
    console.print(render(p))
    text = console.file.getvalue()
    assert "non-zero not counted" in text and "effective FLOPs" not in text


def test_fp16_dynamic_quantization_sizes_weights_as_float16():
    import warnings

    from torch.ao.quantization import quantize_dynamic

    model = nn.Sequential(nn.Linear(8, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice
        q = quantize_dynamic(model, {nn.Linear}, dtype=torch.float16)
    p = frugalml.profile(q, torch.randn(2, 8))
    assert p.size_bytes_by_dtype == {"float16": 8 * 4 * 2, "float32": 4 * 4}  # bias stays
    assert p.params == 8 * 4 + 4


def test_shared_parameters_count_once():
    layer = nn.Linear(3, 3)
    assert param_stats(nn.Sequential(layer, layer)).params == 12


def test_half_precision_sizes():
    p = frugalml.profile(nn.Linear(8, 8).half(), torch.randn(2, 8).half())
    assert p.size_bytes_by_dtype == {"float16": 72 * 2}
    assert p.macs_by_dtype == {"float16": 128}


def test_bytes_moved_of_a_linear_layer():
    x = torch.randn(4, 8)
    p = frugalml.profile(nn.Linear(8, 3), x)
    reads = (8 * 3 + 3 + 4 * 8) * 4  # weight, bias (broadcast: read once), input
    writes = 4 * 3 * 4
    assert p.bytes_moved == reads + writes
    assert p.bytes_moved_weights == (8 * 3 + 3) * 4
    assert p.bytes_moved_by_dtype == {"float32": reads + writes}
    assert p.arithmetic_intensity == pytest.approx(p.flops / p.bytes_moved)


def test_views_move_no_bytes():
    class Reshape(nn.Module):
        def forward(self, x):
            return x.view(-1).unsqueeze(0).t()

    assert frugalml.profile(Reshape(), torch.randn(3, 4)).bytes_moved == 0


def test_embedding_reads_only_the_gathered_rows():
    table = nn.Embedding(10_000, 16)
    tokens = torch.tensor([[1, 2, 3]])
    p = frugalml.profile(table, tokens)
    rows = 3 * 16 * 4
    assert p.bytes_moved == rows + 3 * 8 + rows  # gathered rows, int64 indices, output
    assert p.bytes_moved_weights == rows
