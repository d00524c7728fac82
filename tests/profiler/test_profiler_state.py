"""Counting leaves the model, its outputs and the RNG as they were, in any mode."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import frugalml  # noqa: E402


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 3),
    )


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_model_state_and_outputs_unchanged(mode, train):
    model = _model()
    model.train(mode != "eval")
    if mode == "mixed":
        model[1].eval()  # a frozen batch norm inside a training model
    flags = [m.training for m in model.modules()]
    x = torch.randn(2, 3, 8, 8)
    before = _snapshot(model)
    torch.manual_seed(123)
    rng = torch.random.get_rng_state()
    out_before = model.eval()(x)
    for m, flag in zip(model.modules(), flags):
        m.training = flag
    torch.random.set_rng_state(rng)

    p = frugalml.profile(model, x, train=train)

    assert p.macs > 0
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert [m.training for m in model.modules()] == flags
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    assert all(param.grad is None for param in model.parameters())
    assert torch.equal(model.eval()(x), out_before)


def test_existing_gradients_are_kept():
    model = _model()
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    grads = [param.grad.clone() for param in model.parameters()]
    frugalml.profile(model, torch.randn(2, 3, 8, 8), train=True)
    assert all(torch.equal(g, param.grad) for g, param in zip(grads, model.parameters()))


def test_counts_do_not_depend_on_mode_or_grad_context():
    model = _model()
    x = torch.randn(2, 3, 8, 8)
    reference = frugalml.profile(model.eval(), x, train=True)
    with torch.no_grad():
        under_no_grad = frugalml.profile(model.train(), x, train=True)
    assert torch.is_grad_enabled()
    assert (under_no_grad.macs, under_no_grad.flops) == (reference.macs, reference.flops)
    assert under_no_grad.train_step_flops == reference.train_step_flops

    # inference counts in eval mode: no dropout, running statistics
    def dropout(ops):  # CPU dropout draws a Bernoulli mask
        return any(op.startswith("aten.bernoulli") for op in ops)

    assert not dropout(reference.by_operator)
    assert dropout(reference.train_step_by_operator)


def test_inference_mode():
    from torch.nn.utils import prune

    model = nn.Linear(8, 4, bias=False)
    prune.l1_unstructured(model, "weight", amount=0.5)  # weight derived inside the pass
    with torch.inference_mode():
        p = frugalml.profile(model, torch.randn(2, 8))
        assert p.macs == 2 * 8 * 4 and p.macs_effective == 2 * 16
        with pytest.raises(frugalml.InputError, match="inference_mode"):
            frugalml.profile(model, torch.randn(2, 8), train=True)


def test_fast_path_setting_restored():
    assert torch.backends.mha.get_fastpath_enabled()
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    frugalml.profile(layer, torch.randn(1, 3, 8))
    assert torch.backends.mha.get_fastpath_enabled()


def test_inputs_as_dict_and_tuple():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 2, bias=False), nn.Linear(3, 2, bias=False)

        def forward(self, x, y):
            return self.a(x) + self.b(y)

    x, y = torch.randn(5, 4), torch.randn(5, 3)
    by_position = frugalml.profile(TwoInputs(), (x, y))
    by_name = frugalml.profile(TwoInputs(), {"x": x, "y": y})
    assert by_position.macs == by_name.macs == 5 * (4 * 2 + 3 * 2)
    assert by_position.batch_size == 5
    assert by_position.input_shapes == [[5, 4], [5, 3]]


def test_not_a_module_is_refused():
    with pytest.raises(frugalml.InputError, match=r"torch\.nn\.Module"):
        frugalml.profile(lambda x: x, torch.ones(1))
