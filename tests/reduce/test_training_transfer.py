import dataclasses

import pytest
import torch

from frugalml.bench.tasks import get_task
from frugalml.errors import InputError
from frugalml.reduce.transfer import (
    Transfer,
    TransferData,
    break_even_tasks,
    classifier_inputs,
    replace_classifier,
)
from frugalml.train import TrainData, evaluate, mlp


@pytest.fixture
def pair(vec_data):
    """Source: classes 0-1 of the blobs; target: all three classes, fewer samples."""
    keep, keep_val = vec_data.y_train < 2, vec_data.y_val < 2
    source = dataclasses.replace(
        vec_data,
        X_train=vec_data.X_train[keep],
        y_train=vec_data.y_train[keep],
        X_val=vec_data.X_val[keep_val],
        y_val=vec_data.y_val[keep_val],
        seed=1,
    )
    fields = {f.name: getattr(vec_data, f.name) for f in dataclasses.fields(vec_data)}
    fields.update(X_train=vec_data.X_train[:90], y_train=vec_data.y_train[:90])
    return TransferData(**fields, source=source)


def fresh(data):
    torch.manual_seed(0)
    return data.make_model()


def body_state(model):
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("4.")}


def test_frozen_features_leave_the_body_unchanged(pair):
    t = Transfer(mode="frozen", feature_layer=-1, epochs=5)
    model = t.apply(fresh(pair), pair)
    assert t.base_trained_in_apply_ and t.base_epochs_run_ == pair.source.epochs
    base = body_state(t.base_model_)
    tuned = body_state(model)
    assert base.keys() == tuned.keys()
    assert all(torch.equal(base[k], tuned[k]) for k in base)
    assert model[-1].out_features == 3 and t.base_model_[-1].out_features == 2
    assert t.trainable_params_ == 32 * 3 + 3
    assert t.frozen_params_ == sum(p.numel() for p in model.parameters()) - t.trainable_params_
    assert all(p.requires_grad for p in model.parameters())
    assert (
        evaluate(model, pair.X_val, pair.y_val) > 0.5
    )  # chance is 1/3; class 2 is unseen by the base
    assert t.base_energy_j_ > 0 and t.target_energy_j_ > 0
    assert t.energy_with_base_j_ == pytest.approx(t.base_energy_j_ + t.target_energy_j_)


def test_auto_feature_layer_keeps_the_best_on_validation(pair, monkeypatch):
    seen = []
    original = Transfer._fit

    def spy(self, model, data, **kwargs):
        seen.append(data.X_train.shape[1])
        return original(self, model, data, **kwargs)

    monkeypatch.setattr(Transfer, "_fit", spy)
    t = Transfer(epochs=3)
    model = t.apply(fresh(pair), pair)
    assert seen == [16, 32, 32]  # the base on the inputs, then a classifier per hidden layer
    assert t.feature_layer_ in (1, 2) and t.epochs_run_ == 6
    assert len(model) == 2 * t.feature_layer_ + 1  # [Linear, ReLU] per kept layer + classifier
    assert evaluate(model, pair.X_val, pair.y_val) == pytest.approx(t.val_accuracy_)
    for k in range(t.feature_layer_):  # the kept layers are the base's, unchanged
        assert torch.equal(model[2 * k].weight, t.base_model_[2 * k].weight)


def test_a_chosen_feature_layer_cuts_the_network(pair):
    t = Transfer(feature_layer=1, epochs=2)
    model = t.apply(fresh(pair), pair)
    assert t.feature_layer_ == 1 and len(model) == 3
    assert model(pair.X_val).shape == (len(pair.X_val), 3)
    with pytest.raises(InputError, match="feature_layer"):
        Transfer(feature_layer=3).apply(fresh(pair), pair)
    with pytest.raises(InputError, match="feature_layer"):
        Transfer(feature_layer="best").apply(fresh(pair), pair)


def test_full_fine_tuning_moves_the_body(pair):
    t = Transfer(mode="full", epochs=2)
    model = t.apply(fresh(pair), pair)
    base = body_state(t.base_model_)
    assert not torch.equal(base["0.weight"], model.state_dict()["0.weight"])
    assert t.frozen_params_ == 0


def test_plain_data_takes_the_model_as_a_trained_base(vec_data):
    base = fresh(vec_data)
    t = Transfer(epochs=1)
    model = t.apply(base, vec_data)
    assert not t.base_trained_in_apply_ and t.base_epochs_run_ == 0
    assert torch.equal(model[0].weight, base[0].weight)  # frozen body, a copy
    assert model is not base


def test_bench_baseline_gives_break_even(pair):
    t = Transfer(epochs=1)
    t.bench_context(baseline={"accuracy": 0.9, "train_energy_j": 1e6})
    t.apply(fresh(pair), pair)
    assert t.scratch_energy_j_ == 1e6
    assert t.break_even_tasks_ == break_even_tasks(t.base_energy_j_, 1e6, t.target_energy_j_)
    assert t.energy_ratio_excl_base_ == pytest.approx(t.target_energy_j_ / 1e6)


def test_break_even_tasks():
    assert break_even_tasks(100.0, 30.0, 5.0) == 4  # 100 / 25
    assert break_even_tasks(10.0, 30.0, 5.0) == 1
    assert break_even_tasks(10.0, 5.0, 5.0) is None  # fine-tuning saves nothing


def test_classifier_helpers():
    model = mlp(4, 8, 3)
    X = torch.randn(5, 4)
    feats = classifier_inputs(model, X, batch_size=2)
    assert feats.shape == (5, 8)
    assert torch.allclose(model[-1](feats), model(X), atol=1e-6)
    new = replace_classifier(model, 7)
    assert model(X).shape == (5, 7) and new is model[-1]


def test_a_model_without_linear_fails_clearly(vec_data):
    conv = torch.nn.Sequential(torch.nn.Flatten())
    with pytest.raises(Exception, match="transfer needs a last Linear layer producing the outputs"):
        Transfer().apply(conv, vec_data)


def test_bad_mode(vec_data):
    with pytest.raises(InputError, match="mode"):
        Transfer(mode="partial").apply(fresh(vec_data), vec_data)


def test_built_in_pair_carries_the_source():
    target = get_task("digits-5to9-mlp")
    data, _, _ = target.train_data(0)
    assert isinstance(data, TransferData) and isinstance(data.source, TrainData)
