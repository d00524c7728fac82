"""The one registry (built-in names, plugins, errors) and the shared measurement helpers.

The per-technique contract (parameters, apply on a copy, learned state, seeds, bad values,
DataLoaders, regression) is ``test_contract.py``.
"""

import re
import subprocess
import sys

import pytest
import torch

from frugalml.errors import InputError, TechniqueError, UnknownNameError
from frugalml.reduce import (
    REGISTRY,
    Technique,
    available_techniques,
    count_nonzero,
    count_params,
    get_technique,
    state_dict_bytes,
    weight_layers,
)
from frugalml.train import mlp

ALL = [
    # compression
    "magnitude-prune",
    "channel-prune",
    "int8-dynamic",
    "int8-static",
    "qat",
    "bf16",
    "fp16",
    "weight-cluster",
    "binary-connect",
    "distill",
    # training and data
    "early-stop-energy",
    "progressive",
    "transfer",
    "early-exit",
    "depthwise",
    "fire",
    "weight-sharing",
    "adaptive-softmax",
    "hierarchical-softmax",
    "active-learning",
]


@pytest.mark.parametrize("name", ALL)
def test_every_technique_by_name(name):
    t = get_technique(name)
    assert isinstance(t, Technique) and t.name == name and type(t) is REGISTRY[name]
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) and type(t).paper
    assert not [k for k in vars(t) if k.endswith("_")]  # no learned state before apply
    with pytest.raises(TechniqueError, match="apply"):
        t.report()


def test_one_registry_of_twenty():
    assert list(REGISTRY) == ALL
    assert set(available_techniques()) >= set(ALL)


def test_unknown_name_lists_valid_names_and_suggests():
    with pytest.raises(UnknownNameError) as err:
        get_technique("early-exits")
    msg = str(err.value)
    assert "'early-exit'" in msg and "distill" in msg and "\n" not in msg


def test_unknown_parameter_is_input_error():
    with pytest.raises(InputError, match="valid"):
        get_technique("distill", width=0.5)


def test_apply_twice_replaces_learned_state(vec_data, trained_mlp):
    t = get_technique("magnitude-prune", target_sparsity=0.5, fine_tune_epochs=0, steps=1)
    t.apply(trained_mlp, vec_data)
    first = t.report()["sparsity"]
    t.set_params(target_sparsity=0.8)
    t.apply(trained_mlp, vec_data)
    assert t.report()["sparsity"] > first


def test_what_a_model_lacks_is_one_line(vec_data):
    with pytest.raises(TechniqueError) as err:
        get_technique("depthwise").apply(mlp(16, 8, 3), vec_data)
    assert str(err.value) == "depthwise needs k x k Conv2d layers to replace; Sequential has none."
    with pytest.raises(TechniqueError, match=r"stages=\["):
        get_technique("progressive").apply(torch.nn.Linear(16, 3), vec_data)


def test_measurement_helpers():
    m = mlp(4, 8, 2, depth=1)
    assert count_params(m) == 4 * 8 + 8 + 8 * 2 + 2
    with torch.no_grad():
        m[0].weight.zero_()
    assert count_nonzero(m) == count_params(m) - 32
    assert [type(x) for x in weight_layers(m)] == [torch.nn.Linear, torch.nn.Linear]
    assert state_dict_bytes(m) > 4 * count_params(m)


def test_importing_reduce_does_not_import_torch():
    code = (
        "import sys, frugalml.reduce as r; n = len(r.available_techniques()); "
        "print('torch' in sys.modules, n)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, n = out.stdout.split()
    assert loaded == "False" and int(n) >= 20
