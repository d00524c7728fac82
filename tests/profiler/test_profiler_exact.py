"""Exact MAC (and FLOP) counts, each computed by hand in the test."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import frugalml  # noqa: E402


class Fn(nn.Module):
    """Wraps a function: counting must see functional calls, not only modules."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    p = frugalml.profile(nn.Linear(7, 5, bias=bias), torch.randn(3, 7))
    assert p.macs == 3 * 7 * 5
    assert p.flops == 2 * 3 * 7 * 5 + (3 * 5 if bias else 0)  # bias: one add per output


def test_linear_on_3d_input():
    p = frugalml.profile(nn.Linear(7, 5), torch.randn(2, 4, 7))
    assert p.macs == 2 * 4 * 7 * 5


def test_conv2d_stride_padding_groups_dilation():
    conv = nn.Conv2d(4, 6, kernel_size=3, stride=2, padding=1, groups=2, dilation=2)
    x = torch.randn(2, 4, 11, 11)
    side = (11 + 2 * 1 - 2 * (3 - 1) - 1) // 2 + 1  # = 5
    p = frugalml.profile(conv, x)
    outputs = 2 * 6 * side * side
    assert conv(x).shape == (2, 6, side, side)
    assert p.macs == outputs * (4 // 2) * 3 * 3  # each output: C_in/groups x kernel MACs
    assert p.flops == 2 * p.macs + outputs


def test_depthwise_separable_block():
    block = nn.Sequential(
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 1, bias=False),
    )
    p = frugalml.profile(block, torch.randn(1, 8, 10, 10))
    depthwise = 8 * 10 * 10 * 9
    pointwise = 16 * 10 * 10 * 8
    assert p.macs == depthwise + pointwise
    elements = 8 * 10 * 10
    batch_norm_eval = 4 * elements  # normalise 2 + weight 1 + bias 1
    relu = elements
    assert p.flops == 2 * (depthwise + pointwise) + batch_norm_eval + relu
    assert p.by_module["Sequential.0"] == depthwise
    assert p.by_module["Sequential.3"] == pointwise


@pytest.mark.parametrize("groups", [1, 2])
def test_transposed_convolution(groups):
    deconv = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=groups)
    x = torch.randn(2, 4, 5, 5)
    p = frugalml.profile(deconv, x)
    assert deconv(x).shape == (2, 6, 10, 10)  # (5-1)*2 - 2 + 3 + 1
    # every input element meets (C_out/groups) x kernel weights
    assert p.macs == (2 * 4 * 5 * 5) * (6 // groups) * 9
    assert p.flops == 2 * p.macs + 2 * 6 * 10 * 10


def test_conv1d_and_conv3d():
    assert frugalml.profile(nn.Conv1d(3, 4, 5), torch.randn(2, 3, 20)).macs == 2 * 4 * 16 * 3 * 5
    p = frugalml.profile(nn.Conv3d(2, 3, 3, bias=False), torch.randn(1, 2, 5, 6, 7))
    assert p.macs == 3 * (3 * 4 * 5) * 2 * 27


@pytest.mark.parametrize(
    ("fn", "shapes", "macs"),
    [
        (torch.bmm, [(3, 4, 5), (3, 5, 6)], 3 * 4 * 5 * 6),
        (torch.matmul, [(2, 3, 4, 5), (5, 6)], 2 * 3 * 4 * 5 * 6),
        (lambda a, b: torch.einsum("bij,bjk->bik", a, b), [(3, 4, 5), (3, 5, 6)], 3 * 4 * 5 * 6),
        (lambda a, b: a @ b, [(4, 5), (5, 6)], 4 * 5 * 6),
    ],
    ids=["bmm", "matmul-broadcast", "einsum", "operator"],
)
def test_batched_matmul_functional(fn, shapes, macs):
    p = frugalml.profile(Fn(fn), tuple(torch.randn(s) for s in shapes))
    assert p.macs == macs
    assert p.flops == 2 * macs


def test_baddbmm_counts_the_add():
    p = frugalml.profile(
        Fn(torch.baddbmm), (torch.randn(3, 4, 6), torch.randn(3, 4, 5), torch.randn(3, 5, 6))
    )
    assert p.macs == 3 * 4 * 5 * 6
    assert p.flops == 2 * p.macs + 3 * 4 * 6


class Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x):
        b, s, d = x.shape

        def split(t):
            return t.view(b, s, self.heads, d // self.heads).transpose(1, 2)

        y = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        return self.o(y.transpose(1, 2).reshape(b, s, d))


B, S, D, H = 2, 5, 8, 2
ATTENTION_MACS = 4 * (B * S) * D * D + B * H * S * S * (D // H + D // H)


def test_attention_block_sdpa():
    p = frugalml.profile(Attention(D, H), torch.randn(B, S, D))
    assert p.macs == ATTENTION_MACS
    scores = B * H * S * S
    assert p.by_operator_macs["aten._scaled_dot_product_flash_attention_for_cpu"] == (
        B * H * S * S * D
    )
    assert p.by_operator["aten._scaled_dot_product_flash_attention_for_cpu"] == (
        2 * B * H * S * S * D + 6 * scores  # scale + softmax per score
    )


def test_attention_block_multihead_module():
    mha = nn.MultiheadAttention(D, H, batch_first=True, bias=False)
    p = frugalml.profile(Fn(lambda x: mha(x, x, x)[0]), torch.randn(B, S, D))
    assert p.macs == ATTENTION_MACS  # same arithmetic through bmm + softmax


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def test_lenet5():
    p = frugalml.profile(LeNet5(), torch.randn(2, 1, 32, 32))
    conv1 = 6 * 28 * 28 * 1 * 25
    conv2 = 16 * 10 * 10 * 6 * 25
    fcs = 400 * 120 + 120 * 84 + 84 * 10
    assert p.macs == 2 * (conv1 + conv2 + fcs)
    per_sample_other = (
        6 * 28 * 28 * 2  # conv1 bias + relu
        + 6 * 14 * 14 * 4  # max pool 2x2: 4 per output
        + 16 * 10 * 10 * 2  # conv2 bias + relu
        + 16 * 5 * 5 * 4
        + (120 + 84) * 2  # fc1, fc2 bias + relu
        + 10  # fc3 bias
    )
    assert p.flops == 2 * p.macs + 2 * per_sample_other
    assert p.by_module["LeNet5.conv2"] == 2 * conv2
    assert p.unknown_operators == {}


def test_transformer_encoder_layer():
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    b, s, d, ff, h = 2, 6, 16, 32, 4
    tokens = b * s
    expected = (
        3 * tokens * d * d  # q, k, v projections
        + b * h * s * s * (d // h) * 2  # QK^T and PV
        + tokens * d * d  # output projection
        + 2 * tokens * d * ff  # feed-forward
    )
    p = frugalml.profile(layer, torch.randn(b, s, d))
    assert p.macs == expected
    assert p.unknown_operators == {}
    # eval + no_grad would take PyTorch's fused fast path; counting sees through it
    with torch.no_grad():
        assert frugalml.profile(layer.eval(), torch.randn(b, s, d)).macs == expected
    with torch.inference_mode():
        assert frugalml.profile(layer, torch.randn(b, s, d)).macs == expected


@pytest.mark.parametrize(("cls", "gates"), [(nn.LSTM, 4), (nn.GRU, 3)])
def test_recurrent_layers(cls, gates):
    batch, steps, inputs, hidden = 2, 5, 8, 16
    p = frugalml.profile(cls(inputs, hidden, batch_first=True), torch.randn(batch, steps, inputs))
    # every step: the input and the hidden state through each gate's weights
    assert p.macs == batch * steps * gates * hidden * (inputs + hidden)
    assert p.unknown_operators == {}
