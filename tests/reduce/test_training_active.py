import math

import pytest
import torch

from frugalml.errors import InputError
from frugalml.reduce.active import STRATEGIES, ActiveLearning, informativeness
from frugalml.train import evaluate, mlp


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_scores_every_row(strategy):
    torch.manual_seed(0)
    scores = informativeness(
        mlp(4, 8, 3), torch.randn(10, 4), strategy, torch.Generator().manual_seed(0)
    )
    assert scores.shape == (10,) and bool(torch.isfinite(scores).all())


def test_uncertainty_strategies_prefer_the_ambiguous_sample():
    model = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[4.0, 0.0], [-4.0, 0.0]]))
    X = torch.tensor([[2.0, 0.0], [0.05, 0.0]])  # confident, then ambiguous
    for strategy in ("least-confident", "margin", "entropy"):
        s = informativeness(model, X, strategy)
        assert s[1] > s[0], strategy


def test_expected_gradient_length_matches_autograd():
    torch.manual_seed(0)
    model = mlp(3, 5, 4, depth=1)
    X = torch.randn(6, 3)
    scores = informativeness(model, X, "expected-model-change")
    head = model[-1]
    for i in range(len(X)):
        p = torch.softmax(model(X[i : i + 1]), dim=1)[0].detach()
        expected = 0.0
        for y in range(4):
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(X[i : i + 1]), torch.tensor([y])).backward()
            norm = torch.cat([head.weight.grad.flatten(), head.bias.grad]).norm()
            expected += float(p[y] * norm)
        assert float(scores[i]) == pytest.approx(expected, rel=1e-4)


def test_labels_are_limited_to_the_budget(vec_data, monkeypatch):
    seen = []
    original = ActiveLearning._fit

    def spy(self, model, data, **kwargs):
        seen.append(len(data.y_train))
        return original(self, model, data, **kwargs)

    monkeypatch.setattr(ActiveLearning, "_fit", spy)
    t = ActiveLearning(
        strategy="margin",
        initial_labels=0.1,
        labels_per_round=0.1,
        max_labels=0.35,
        epochs_per_round=2,
    )
    model = t.apply(vec_data.make_model(), vec_data)
    n = len(vec_data.y_train)
    budget = math.floor(0.35 * n)
    assert t.labels_used_ == budget and t.pool_size_ == n
    assert seen == [24, 48, 72, budget]  # what each round trained on
    assert len(set(t.labelled_indices_.tolist())) == t.labels_used_
    assert [labels for *_, labels in t.curve_] == seen
    assert t.rounds_ == 3 and t.epochs_run_ == 8
    assert t.label_fraction_ == pytest.approx(budget / n)
    assert evaluate(model, vec_data.X_val, vec_data.y_val) > 0.8


def test_target_accuracy_stops_labelling_early(vec_data):
    t = ActiveLearning(target_val_accuracy=0.0, epochs_per_round=1)
    t.apply(vec_data.make_model(), vec_data)
    assert t.rounds_ == 0 and t.labels_used_ == round(0.1 * len(vec_data.y_train))


def test_cold_start_rounds_restart_from_the_initial_weights(vec_data):
    torch.manual_seed(0)
    model = vec_data.make_model()
    t = ActiveLearning(warm_start=False, max_labels=0.2, epochs_per_round=1, strategy="random")
    t.apply(model, vec_data)
    assert t.rounds_ == 2 and t.labels_used_ == 48


def test_bench_baseline_gives_labels_to_within_one_point(vec_data):
    t = ActiveLearning(max_labels=0.3, epochs_per_round=2)
    t.bench_context(
        baseline={"accuracy": 0.5},
        evaluate_test=lambda m: evaluate(m, vec_data.X_val, vec_data.y_val),
    )
    t.apply(vec_data.make_model(), vec_data)
    assert t.curve_split_ == "test"
    assert t.labels_to_within_1pt_ == t.curve_[0][2]
    assert t.energy_to_within_1pt_j_ == t.curve_[0][0]


def test_bad_parameters(vec_data):
    with pytest.raises(InputError, match="strategy"):
        ActiveLearning(strategy="greedy").apply(vec_data.make_model(), vec_data)
    with pytest.raises(InputError, match="max_labels"):
        ActiveLearning(max_labels=1.5).apply(vec_data.make_model(), vec_data)
