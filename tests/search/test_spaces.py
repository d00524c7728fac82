from __future__ import annotations

import optuna
import pytest
import torch

from frugalml.bench.spaces import SPACES, get_space, searchable_tasks
from frugalml.errors import InputError, UnknownNameError


def _asked(space, seed=0, n=12):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space.suggest(study.ask()) for _ in range(n)]


@pytest.mark.parametrize("task", ["digits-mlp", "digits-cnn"])
@pytest.mark.parametrize("name", SPACES)
def test_every_point_builds_a_model_that_runs(task, name):
    space = get_space(task, name)
    x = torch.zeros(3, *space.task.input_shape)
    for params in _asked(space, n=6) + space.grid(8):
        recipe = space.recipe(params)
        assert recipe.lr > 0 and recipe.batch_size >= 1 and 1 <= recipe.epochs <= space.max_epochs
        assert space.build(params, 10)(x).shape == (3, 10)
        if space.searches_architecture:
            assert len(space.widths(params)) == params["depth"]
        else:
            assert "depth" not in params
        assert (space.technique(params) is None) == (params.get("technique", "none") == "none")


def test_dimensions_per_space():
    names = {n: [d.name for d in get_space("digits-cnn", n).dims()] for n in SPACES}
    assert names["hpo"] == ["lr", "batch_size", "epochs", "weight_decay"]
    assert names["nas"] == ["depth", "width", "block", "early_exit"]
    assert names["joint"] == names["hpo"] + names["nas"] + ["technique"]
    assert [d.name for d in get_space("digits-mlp", "nas").dims()] == ["depth", "width"]
    ws = get_space("digits-cnn", "nas", weight_sharing=True)
    assert [d.name for d in ws.dims()] == ["depth", "width"]
    techniques = next(d for d in get_space("digits-mlp").dims() if d.name == "technique")
    assert techniques.choices[0] == "none" and "int8-dynamic" in techniques.choices


def test_early_exit_only_with_standard_blocks():
    space = get_space("digits-cnn", "nas")
    for params in _asked(space, n=30) + space.grid(40):
        assert ("early_exit" in params) == (params["block"] == "standard")


@pytest.mark.parametrize("n", [1, 5, 16, 40])
def test_grid_fits_the_budget_and_has_no_duplicates(n):
    space = get_space("digits-cnn", "joint")
    grid = space.grid(n)
    assert 1 <= len(grid) <= n
    assert len({tuple(sorted(p.items())) for p in grid}) == len(grid)
    # per-layer widths share one level in a grid
    for p in grid:
        assert len({p[f"width_{i}"] for i in range(p["depth"])}) == 1


def test_grid_of_one_is_the_middle_point():
    (point,) = get_space("digits-mlp", "hpo").grid(1)
    assert point["batch_size"] == 64 and point["lr"] == pytest.approx(3e-3)


def test_unknown_names_and_special_tasks():
    assert "digits-mlp" in searchable_tasks() and "zipf-10k" not in searchable_tasks()
    with pytest.raises(UnknownNameError, match="hpo"):
        get_space("digits-mlp", "hpx")
    with pytest.raises(UnknownNameError, match="digits-mlp"):
        get_space("digits-mpl")
    with pytest.raises(InputError, match="no search space"):
        get_space("zipf-10k", "hpo")
    with pytest.raises(InputError, match="nas"):
        get_space("digits-mlp", "hpo", weight_sharing=True)
