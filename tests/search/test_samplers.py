from __future__ import annotations

import optuna
import pytest

from frugalml.bench.spaces import get_space
from frugalml.search.config import SearchConfig
from frugalml.search.samplers import grid_points, make_pruner, make_sampler


@pytest.mark.parametrize(
    "name, cls",
    [
        ("tpe", optuna.samplers.TPESampler),
        ("random", optuna.samplers.RandomSampler),
        ("grid", optuna.samplers.RandomSampler),  # the grid itself is enqueued
        ("nsga2", optuna.samplers.NSGAIISampler),
    ],
)
def test_samplers_by_name(name, cls):
    assert type(make_sampler(SearchConfig(task="iris-mlp", sampler=name), 0, 20)) is cls


def test_tpe_settings_follow_the_search():
    tpe = make_sampler(SearchConfig(task="iris-mlp", workers=3, max_train_energy_j=5.0), 1, 30)
    assert tpe._constant_liar and tpe._multivariate and tpe._group
    assert tpe._n_startup_trials == 10
    lone = make_sampler(SearchConfig(task="iris-mlp"), 0, 6)
    assert (
        not lone._constant_liar and lone._n_startup_trials == 3 and lone._constraints_func is None
    )
    nsga = make_sampler(SearchConfig(task="iris-mlp", sampler="nsga2"), 0, 30)
    assert nsga._population_size == 10


def test_pruners_by_name():
    space = get_space("digits-cnn", "hpo")
    pruner = lambda **kw: make_pruner(SearchConfig(task="digits-cnn", **kw), space)  # noqa: E731
    assert isinstance(pruner(), optuna.pruners.MedianPruner)  # one objective: median
    assert isinstance(pruner(objectives=("accuracy", "macs")), optuna.pruners.NopPruner)
    hb = pruner(pruner="hyperband")
    assert isinstance(hb, optuna.pruners.HyperbandPruner) and hb._max_resource == 15


def test_grid_points_are_the_grid_in_a_seeded_order():
    space = get_space("digits-mlp", "hpo")
    a, b, c = (grid_points(space, 16, s) for s in (0, 0, 1))
    assert a == b and a != c
    key = lambda ps: sorted(str(sorted(p.items())) for p in ps)  # noqa: E731
    assert key(a) == key(c) == key(space.grid(16))
