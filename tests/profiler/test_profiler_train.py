"""Training-step FLOPs: counted from the backward operators actually dispatched."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import frugalml  # noqa: E402
from frugalml.errors import InputError  # noqa: E402

BATCH, D0, D1, D2 = 4, 6, 5, 3


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D0, D1), nn.ReLU(), nn.Linear(D1, D2))


def test_two_layer_mlp_train_step_is_exact():
    """Rule: forward + weight gradients + input gradients, none for the first layer."""
    p = frugalml.profile(_mlp(), torch.randn(BATCH, D0), train=True)
    layer1, layer2 = BATCH * D0 * D1, BATCH * D1 * D2
    forward_macs = layer1 + layer2
    assert p.macs == forward_macs
    weight_grads = layer1 + layer2
    input_grads = layer2  # the first layer's input needs no gradient
    assert p.train_step_macs == forward_macs + weight_grads + input_grads
    assert p.train_step_macs == 3 * forward_macs - layer1
    forward_other = BATCH * D1 + BATCH * D1 + BATCH * D2  # bias adds, relu
    backward_other = BATCH * D2 + BATCH * D1 + BATCH * D1  # bias grads (sums), relu grad
    assert p.flops == 2 * forward_macs + forward_other
    assert p.train_step_flops == 2 * p.train_step_macs + forward_other + backward_other
    assert p.train_step_unknown_operators == {}


def test_input_that_needs_grad_adds_nothing_to_a_step():
    x = torch.randn(BATCH, D0, requires_grad=True)
    p = frugalml.profile(_mlp(), x, train=True)
    assert p.train_step_macs == 3 * p.macs - BATCH * D0 * D1


def test_frozen_first_layer_computes_no_weight_gradient():
    model = _mlp()
    model[0].requires_grad_(False)
    p = frugalml.profile(model, torch.randn(BATCH, D0), train=True)
    # layer 1: forward only; layer 2: forward and weight gradient; no input gradient is
    # computed at all, since nothing before layer 2 needs one
    assert p.train_step_macs == BATCH * D0 * D1 + 2 * BATCH * D1 * D2


def test_loss_fn_is_counted():
    target = torch.randn(BATCH, D2)
    p = frugalml.profile(
        _mlp(),
        torch.randn(BATCH, D0),
        train=True,
        loss_fn=lambda out: nn.functional.mse_loss(out, target),
    )
    seeded = frugalml.profile(_mlp(), torch.randn(BATCH, D0), train=True)
    n = BATCH * D2
    assert p.train_step_macs == seeded.train_step_macs
    # mse forward 3/elem, its backward 2/elem
    assert p.train_step_flops - seeded.train_step_flops == 3 * n + 2 * n
    assert "aten.mse_loss" in p.train_step_by_operator


def test_cnn_train_step_has_no_unknown_operators():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.1),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 5),
        nn.LogSoftmax(dim=1),
    )
    p = frugalml.profile(model, torch.randn(2, 3, 8, 8), train=True)
    assert p.train_step_unknown_operators == {}
    conv, linear = 2 * 4 * 8 * 8 * 3 * 9, 2 * 64 * 5
    assert p.macs == conv + linear
    # forward + weight gradients (= forward) + the linear layer's input gradient; the
    # conv's input needs none
    assert p.train_step_macs == 2 * (conv + linear) + linear


def test_train_step_without_trainable_parameters_is_refused():
    model = _mlp().requires_grad_(False)
    with pytest.raises(InputError, match="trainable"):
        frugalml.profile(model, torch.randn(BATCH, D0), train=True)
