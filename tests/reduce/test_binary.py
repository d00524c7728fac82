import math

import pytest
import torch

from frugalml.reduce import BinaryConnect
from frugalml.reduce.binary import _glorot_bound
from frugalml.reduce.layers import Binarize
from frugalml.train import evaluate, mlp


def _linears(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("mode", ["deterministic", "stochastic"])
def test_final_weights_are_plus_minus_glorot_bound(mode, vec_data):
    t = BinaryConnect(mode=mode, epochs=3)
    out = t.apply(vec_data.make_model(), vec_data)
    for layer in _linears(out):
        h = math.sqrt(1.5 / (layer.in_features + layer.out_features))
        values = layer.weight.unique().tolist()
        assert 1 <= len(values) <= 2
        assert all(abs(abs(v) - h) < 1e-6 for v in values)
    assert t.binarized_layers_ == 3
    assert t.binary_weights_ == sum(m.weight.numel() for m in _linears(out))
    assert t.bits_per_weight_ == pytest.approx(1 + 32 * 3 / t.binary_weights_)


def test_scale_none_gives_plus_minus_one(vec_data):
    out = BinaryConnect(scale="none", epochs=1).apply(vec_data.make_model(), vec_data)
    for layer in _linears(out):
        assert set(layer.weight.unique().tolist()) <= {-1.0, 1.0}


def test_hidden_only_keeps_first_and_last_float(vec_data):
    t = BinaryConnect(layers="hidden", epochs=1)
    out = t.apply(vec_data.make_model(), vec_data)
    first, middle, last = _linears(out)
    assert middle.weight.unique().numel() <= 2
    assert first.weight.unique().numel() > 2 and last.weight.unique().numel() > 2
    assert t.binarized_layers_ == 1


def test_learns_with_binary_weights(vec_data):
    out = BinaryConnect(epochs=6).apply(vec_data.make_model(), vec_data)
    assert evaluate(out, vec_data.X_val, vec_data.y_val) > 0.6  # chance is 1/3


def test_straight_through_gradient_and_exact_values():
    p = Binarize(0.5, stochastic=False)
    w = torch.tensor([-0.3, 0.0, 0.2, 0.7], requires_grad=True)
    out = p(w)
    assert out.tolist() == [-0.5, 0.5, 0.5, 0.5]
    (out * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert w.grad.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_stochastic_rounding_follows_hard_sigmoid():
    torch.manual_seed(0)
    p = Binarize(1.0, stochastic=True).train()
    w = torch.full((20000,), 0.5)  # P(+1) = (0.5 + 1) / 2 = 0.75
    out = p(w)
    assert set(out.unique().tolist()) == {-1.0, 1.0}
    assert (out == 1).float().mean().item() == pytest.approx(0.75, abs=0.02)
    assert p.eval()(w).unique().tolist() == [1.0]  # deterministic at evaluation


def test_real_weights_stay_clipped_during_training(vec_data):
    # a trained model with large weights is clipped into [-H, H] before training binary
    model = mlp(16, 32, 3, 2)
    with torch.no_grad():
        for layer in _linears(model):
            layer.weight.mul_(100)
    out = BinaryConnect(epochs=1).apply(model, vec_data)
    for layer in _linears(out):
        assert layer.weight.abs().max() <= _glorot_bound(layer.weight) + 1e-7


def test_compressed_size_counts_one_bit_per_weight(vec_data):
    t = BinaryConnect(epochs=1)
    out = t.apply(vec_data.make_model(), vec_data)
    n = t.binary_weights_
    biases = sum(m.bias.numel() for m in _linears(out))
    assert t.compressed_size_bytes_ == math.ceil(n / 8) + 4 * 3 + 4 * biases
