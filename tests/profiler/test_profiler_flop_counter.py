"""Agreement with torch.utils.flop_counter.FlopCounterMode, and the documented differences."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import frugalml  # noqa: E402
from frugalml.profiler.passes import count_forward, count_train_step  # noqa: E402


def _reference(model, x, *, train: bool) -> dict[str, int]:
    """FlopCounterMode's FLOPs by operator for the same pass frugalml counts."""
    model.train(train)
    with FlopCounterMode(display=False) as counter:
        if train:
            out = model(x)
            params = [p for p in model.parameters() if p.requires_grad]
            torch.autograd.grad([out], params, [torch.ones_like(out)])
        else:
            with torch.no_grad():
                model(x)
    return {str(op): flops for op, flops in counter.get_flop_counts().get("Global", {}).items()}


def _models():
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, dilation=2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),
    )
    mlp = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 4))
    return [(cnn, torch.randn(2, 3, 16, 16)), (mlp, torch.randn(5, 12))]


@pytest.mark.parametrize("train", [False, True], ids=["forward", "train-step"])
@pytest.mark.parametrize("index", [0, 1], ids=["cnn", "mlp"])
def test_flops_equal_two_macs_on_shared_operators(index, train):
    model, x = _models()[index]
    reference = _reference(model, x, train=train)
    tally = count_train_step(model, (x,), {}) if train else count_forward(model, (x,), {})[0]
    assert reference, "FlopCounterMode counted nothing; the comparison would be empty"
    for op, flops in reference.items():
        assert 2 * tally.by_operator[op].macs == flops, op


def test_bias_additions_are_counted_on_top():
    model = nn.Linear(6, 3)
    reference = _reference(model, torch.randn(4, 6), train=False)
    p = frugalml.profile(model, torch.randn(4, 6))
    assert reference["aten.addmm"] == 2 * p.macs
    assert p.by_operator["aten.addmm"] == reference["aten.addmm"] + 4 * 3


def test_grouped_convolution_backward_difference():
    """FlopCounterMode multiplies the weight gradient of a grouped conv by `groups`."""
    groups = 4
    conv = nn.Conv2d(4, 4, 3, groups=groups, bias=False)
    x = torch.randn(1, 4, 6, 6)
    reference = _reference(conv, x, train=True)
    tally = count_train_step(conv, (x,), {})
    forward_macs = 4 * 4 * 4 * (4 // groups) * 9  # 4x4 outputs x 4 channels x 1 x 9
    # no input gradient (x needs none): the weight gradient does one MAC per forward MAC
    assert tally.by_operator["aten.convolution_backward"].macs == forward_macs
    assert reference["aten.convolution_backward"] == 2 * forward_macs * groups


def test_attention_on_cpu_is_missed_by_flop_counter_mode():
    q = torch.randn(1, 2, 5, 8)

    class Sdpa(nn.Module):
        def forward(self, x):
            return nn.functional.scaled_dot_product_attention(x, x, x)

    reference = _reference(Sdpa(), q, train=False)
    p = frugalml.profile(Sdpa(), q)
    assert sum(reference.values()) == 0  # the CPU kernel has no formula there
    assert p.macs == 1 * 2 * 5 * 5 * (8 + 8)


def test_elementwise_operators_counted_only_here():
    model = nn.Sequential(nn.LayerNorm(8), nn.GELU(), nn.Softmax(dim=-1))
    x = torch.randn(3, 8)
    assert _reference(model, x, train=False) == {}
    p = frugalml.profile(model, x)
    n = 3 * 8
    assert p.flops == (6 + 2) * n + 5 * n + 5 * n  # layer norm + affine, gelu, softmax
