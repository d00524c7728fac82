"""Effective FLOPs of pruned weights, and counts of quantized modules."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
from torch.nn.utils import prune  # noqa: E402

import frugalml  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

BATCH, WIDTH = 8, 64


def _mlp(bias: bool = False):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(WIDTH, WIDTH, bias=bias), nn.ReLU(), nn.Linear(WIDTH, WIDTH, bias=bias)
    )


def _nonzero(model) -> int:
    return sum(int(torch.count_nonzero(m.weight)) for m in model if isinstance(m, nn.Linear))


@pytest.mark.parametrize("how", ["reparametrised", "removed"])
def test_ninety_percent_pruned_model(how):
    model = _mlp()
    for layer in (model[0], model[2]):
        prune.l1_unstructured(layer, "weight", amount=0.9)
        if how == "removed":
            prune.remove(layer, "weight")
    p = frugalml.profile(model, torch.randn(BATCH, WIDTH))
    nonzero = _nonzero(model)
    assert nonzero == 2 * (WIDTH * WIDTH - round(0.9 * WIDTH * WIDTH))
    assert p.params_nonzero == nonzero
    assert p.params_nonzero / p.params == pytest.approx(0.1, abs=0.001)
    # exact: each weight element meets BATCH inputs
    assert p.macs_effective == BATCH * nonzero
    assert p.macs == BATCH * 2 * WIDTH * WIDTH
    relu = BATCH * WIDTH
    # torch.nn.utils.prune recomputes weight_orig * weight_mask in every forward pass
    mask_multiply = 2 * WIDTH * WIDTH if how == "reparametrised" else 0
    assert p.flops_effective == 2 * BATCH * nonzero + relu + mask_multiply
    if how == "removed":
        assert p.flops_effective / p.flops == pytest.approx(0.1, abs=0.01)


def test_prune_mask_multiply_is_counted_as_real_work():
    model = _mlp()
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    p = frugalml.profile(model, torch.randn(BATCH, WIDTH))
    assert p.by_operator_calls["aten.mul"] == 1  # weight_orig * weight_mask, every forward
    assert p.by_operator["aten.mul"] == WIDTH * WIDTH


def test_sparse_conv_and_dense_activations():
    conv = nn.Conv2d(4, 8, 3, bias=False)
    with torch.no_grad():
        conv.weight[:, :2] = 0  # half the weights
    x = torch.randn(1, 4, 6, 6)
    p = frugalml.profile(conv, x)
    assert p.macs_effective * 2 == p.macs
    # a product of two activations (no weight) is never scaled
    mm = frugalml.profile(nn.Identity(), x)
    assert mm.macs_effective == mm.macs == 0


def test_input_gradient_uses_sparse_weights_weight_gradient_does_not():
    model = _mlp()
    with torch.no_grad():
        model[2].weight[:, : WIDTH // 2] = 0
    p = frugalml.profile(model, torch.randn(BATCH, WIDTH), train=True)
    layer = BATCH * WIDTH * WIDTH
    # forward: layer1 dense + layer2 half; backward: layer2 weight grad dense, its input
    # grad half, layer1 weight grad dense
    effective_macs = layer + layer // 2 + layer + layer // 2 + layer
    assert p.train_step_flops_effective == p.train_step_flops - 2 * (5 * layer - effective_macs)


def _quantize_dynamic(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def test_dynamic_int8_linear_counts_integer_macs():
    model = _mlp(bias=True).eval()
    x = torch.randn(BATCH, WIDTH)
    fp = frugalml.profile(model, x, state_dict_size=True)
    q = frugalml.profile(_quantize_dynamic(model), x, state_dict_size=True)
    assert q.macs == fp.macs
    assert q.macs_by_dtype == {"int8": fp.macs}
    assert fp.macs_by_dtype == {"float32": fp.macs}
    assert q.unknown_operators == {}
    assert q.by_operator_calls["quantized.linear_dynamic"] == 2
    # same parameters, stored as qint8 weights (1 byte) and float biases
    assert q.params == fp.params
    assert q.params_trainable == 0
    assert q.size_bytes_by_dtype["qint8"] == 2 * WIDTH * WIDTH
    assert q.state_dict_bytes < fp.state_dict_bytes


def test_static_int8_conv_and_linear():
    from torch.ao.quantization import DeQuantStub, QuantStub, convert, get_default_qconfig, prepare

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = QuantStub(), DeQuantStub()
            self.conv = nn.Conv2d(3, 4, 3, groups=1)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(4 * 6 * 6, 5)

        def forward(self, x):
            x = self.relu(self.conv(self.quant(x)))
            return self.dequant(self.fc(torch.flatten(x, 1)))

    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    model = Net().eval()
    fp = frugalml.profile(model, x)
    model.qconfig = get_default_qconfig("fbgemm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare(model)
        prepared(x)
        quantized = convert(prepared)
    q = frugalml.profile(quantized, x)
    conv_macs = 2 * 4 * 6 * 6 * 3 * 9
    fc_macs = 2 * 144 * 5
    assert fp.macs == conv_macs + fc_macs
    assert q.macs_by_dtype == {"int8": conv_macs + fc_macs}
    assert q.by_operator_macs["quantized.conv2d"] == conv_macs
    assert q.by_operator_macs["quantized.linear"] == fc_macs
    assert q.unknown_operators == {}
    assert q.params == fp.params


def test_fused_static_int8_modules_count_their_weights():
    # conv+relu / linear+relu fused before conversion become torch.ao.nn.intrinsic.quantized.*
    from torch.ao.quantization import (
        QuantWrapper,
        convert,
        fuse_modules,
        get_default_qconfig,
        prepare,
    )

    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    fp = frugalml.profile(body, torch.randn(1, 8))
    fused = fuse_modules(body, [["0", "1"]])
    model = QuantWrapper(fused).eval()
    model.qconfig = get_default_qconfig("fbgemm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare(model)
        prepared(torch.randn(32, 8))
        quantized = convert(prepared)
    assert "intrinsic" in type(quantized.module[0]).__module__
    q = frugalml.profile(quantized, torch.randn(1, 8))
    assert q.params == fp.params
    assert q.params_nonzero > 0.9 * fp.params
