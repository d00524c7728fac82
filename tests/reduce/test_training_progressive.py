import dataclasses

import pytest
import torch

from frugalml.errors import InputError, TechniqueError
from frugalml.reduce._structure import cut_stages
from frugalml.reduce.progressive import Progressive, _identity_init
from frugalml.train import evaluate, mlp, small_cnn


def test_blocks_and_classifier_of_an_mlp():
    model = mlp(4, 8, 3, depth=3, batchnorm=True)
    *blocks, head = cut_stages(model)
    assert len(blocks) == 3 and all(len(b) == 3 for b in blocks)  # Linear, BN, ReLU
    assert head[0] is model[-1]


@pytest.mark.parametrize("model", [small_cnn(), mlp(4, 8, 3, depth=0), torch.nn.Linear(3, 2)])
def test_models_it_cannot_grow_say_what_they_need(model, vec_data):
    with pytest.raises(TechniqueError) as err:
        Progressive().apply(model, vec_data)
    msg = str(err.value)
    assert msg.startswith("progressive needs at least 2 stages in the model")
    assert "stages=[" in msg and "\n" not in msg


def test_identity_block_keeps_the_function():
    torch.manual_seed(0)
    *blocks, head = cut_stages(mlp(5, 8, 3, depth=2))
    x = torch.randn(7, 5)
    before = torch.nn.Sequential(blocks[0], head)(x)
    _identity_init(blocks[1])
    after = torch.nn.Sequential(blocks[0], blocks[1], head)(x)
    assert torch.allclose(before, after, atol=1e-6)


def test_grown_network_has_the_stated_depth_and_learns(vec_data):
    t = Progressive(epochs_per_stage=3)
    model = t.apply(vec_data.make_model(), vec_data)
    assert t.depth_ == 2 and t.stages_ == 2 and t.epochs_run_ == 6
    assert len(cut_stages(model)) == 3  # the returned network has every block and the head
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [tuple(p.shape) for p in vec_data.make_model().parameters()]
    assert all(p.requires_grad for p in model.parameters())
    assert [d for *_, d in t.curve_] == [1, 1, 1, 2, 2, 2]
    assert len(t.stage_energy_j_) == 2 and t.energy_j_ > 0
    assert evaluate(model, vec_data.X_val, vec_data.y_val) > 0.8
    assert {"depth", "stages", "energy_j", "epochs_run"} <= set(t.report())


def fresh(data):
    torch.manual_seed(0)
    return data.make_model()


def test_frozen_lower_layers_are_unchanged_by_later_stages(vec_data):
    first_only = Progressive(epochs_per_stage=[2, 0]).apply(fresh(vec_data), vec_data)
    grown = Progressive(epochs_per_stage=[2, 2]).apply(fresh(vec_data), vec_data)
    assert torch.equal(first_only[0].weight, grown[0].weight)
    assert not torch.equal(first_only[2].weight, grown[2].weight)


def test_unfrozen_and_final_fine_tuning_move_the_lower_layers(vec_data):
    first_only = Progressive(epochs_per_stage=[2, 0]).apply(fresh(vec_data), vec_data)
    for t in (
        Progressive(epochs_per_stage=[2, 1], freeze_lower=False),
        Progressive(epochs_per_stage=[2, 0], final_epochs=1),
    ):
        grown = t.apply(fresh(vec_data), vec_data)
        assert not torch.equal(first_only[0].weight, grown[0].weight)


def test_auxiliary_classifier_when_widths_differ(vec_data):
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 12),
        torch.nn.ReLU(),
        torch.nn.Linear(12, 6),
        torch.nn.ReLU(),
        torch.nn.Linear(6, 3),
    )
    t = Progressive(epochs_per_stage=2, init="identity")
    out = t.apply(model, vec_data)
    assert out(vec_data.X_val).shape == (len(vec_data.X_val), 3)


def test_default_stages_stop_once_settled(vec_data):
    long = dataclasses.replace(vec_data, epochs=60)
    t = Progressive()
    t.apply(fresh(long), long)
    depths = [d for *_, d in t.curve_]
    assert depths.count(1) < 60 and depths.count(2) < 60  # each stage stopped early
    assert depths.count(1) >= 6 and depths.count(2) >= 6  # after at least a full window
    assert t.epochs_run_ == len(depths)


def test_bad_parameters(vec_data):
    with pytest.raises(InputError, match="epochs_per_stage"):
        Progressive(epochs_per_stage=[1, 2, 3]).apply(vec_data.make_model(), vec_data)
    with pytest.raises(InputError, match="init"):
        Progressive(init="zeros").apply(vec_data.make_model(), vec_data)
    with pytest.raises(TechniqueError, match="progressive needs at least 2 stages"):
        Progressive().apply(small_cnn(1, 3), vec_data)


def test_bench_baseline_gives_energy_to_reach_it(vec_data):
    t = Progressive(epochs_per_stage=2)
    t.bench_context(
        baseline={"accuracy": 0.5},
        evaluate_test=lambda m: evaluate(m, vec_data.X_val, vec_data.y_val),
    )
    t.apply(vec_data.make_model(), vec_data)
    assert t.curve_split_ == "test"
    assert t.energy_to_baseline_accuracy_j_ == t.curve_[0][0]
