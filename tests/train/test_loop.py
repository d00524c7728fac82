import pytest
import torch

from frugalml.errors import InputError
from frugalml.train import DtypeWrapper, EpochEnd, TrainData, evaluate, fit, mlp, predict


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(160, 6, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long()
    return TrainData(X[:128], y[:128], X[128:], y[128:], epochs=8, lr=1e-2, batch_size=32)


def test_fit_learns_a_separable_problem(data):
    torch.manual_seed(0)
    model = mlp(6, 16, 2, depth=1)
    before = evaluate(model, data.X_val, data.y_val)
    history = fit(model, data)
    assert history.epochs_run == 8
    assert len(history.train_loss) == 8
    assert history.train_loss[-1] < history.train_loss[0]
    assert evaluate(model, data.X_val, data.y_val) > max(before, 0.8)
    assert not model.training


def test_fit_is_deterministic_for_a_seed(data):
    a, b = mlp(6, 16, 2), mlp(6, 16, 2)
    b.load_state_dict(a.state_dict())
    fit(a, data, epochs=2)
    fit(b, data, epochs=2)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_different_seed_changes_the_result(data):
    a, b = mlp(6, 16, 2), mlp(6, 16, 2)
    b.load_state_dict(a.state_dict())
    fit(a, data, epochs=1, seed=0)
    fit(b, data, epochs=1, seed=1)
    assert not torch.equal(a[0].weight, b[0].weight)


def test_callback_sees_every_epoch_and_can_stop(data):
    seen: list[EpochEnd] = []

    def stop_after_three(state: EpochEnd) -> bool:
        seen.append(state)
        return state.epoch == 3

    history = fit(mlp(6, 8, 2), data, callbacks=[stop_after_three], validate=True)
    assert [s.epoch for s in seen] == [1, 2, 3]
    assert history.epochs_run == 3 and history.stopped_early
    assert all(s.val_accuracy is not None and 0 <= s.val_accuracy <= 1 for s in seen)
    assert len(history.val_accuracy) == 3
    assert seen[-1].elapsed_s >= seen[0].elapsed_s


def test_without_validate_no_val_accuracy(data):
    states = []
    fit(mlp(6, 8, 2), data, epochs=1, callbacks=[states.append])
    assert states[0].val_accuracy is None


def test_custom_loss_and_after_step_are_used(data):
    calls = {"loss": 0, "step": 0}

    def loss_fn(logits, y, x):
        calls["loss"] += 1
        assert x.shape[1] == 6
        return torch.nn.functional.cross_entropy(logits, y)

    def after_step(model):
        calls["step"] += 1

    fit(mlp(6, 8, 2), data, epochs=1, loss_fn=loss_fn, after_step=after_step)
    assert calls == {"loss": 4, "step": 4}  # 128 samples / batch 32


def test_zero_epochs_trains_nothing(data):
    model = mlp(6, 8, 2)
    before = [p.clone() for p in model.parameters()]
    assert fit(model, data, epochs=0).epochs_run == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_sgd_and_autocast_run(data):
    model = mlp(6, 8, 2)
    history = fit(model, data, epochs=1, optimizer="sgd", autocast_dtype=torch.bfloat16)
    assert history.epochs_run == 1
    assert model[0].weight.dtype == torch.float32


def test_bad_arguments(data):
    with pytest.raises(InputError, match="optimizer"):
        fit(mlp(6, 8, 2), data, optimizer="rmsprop")
    with pytest.raises(InputError, match="epochs"):
        fit(mlp(6, 8, 2), data, epochs=-1)


def test_predict_batches_and_restores_mode(data):
    model = mlp(6, 8, 2).train()
    pred = predict(model, data.X_val, batch_size=7)
    assert pred.shape == (32,) and pred.dtype == torch.int64
    assert torch.equal(pred, model.eval()(data.X_val).argmax(1))
    model.train()
    predict(model, data.X_val)
    assert model.training


def test_evaluate_on_empty_set_is_nan():
    import math

    assert math.isnan(evaluate(mlp(2, 2, 2), torch.zeros(0, 2), torch.zeros(0).long()))


def test_dtype_wrapper_feeds_float32():
    inner = torch.nn.Linear(3, 2).to(torch.bfloat16)
    out = DtypeWrapper(inner, torch.bfloat16)(torch.randn(4, 3))
    assert out.dtype == torch.float32 and out.shape == (4, 2)
