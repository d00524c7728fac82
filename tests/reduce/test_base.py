"""The contract every technique follows, checked on each registered one."""

import re
import subprocess
import sys

import pytest
import torch

from frugalml.errors import InputError, TechniqueError, UnknownNameError
from frugalml.reduce import (
    KINDS,
    REGISTRY,
    Technique,
    count_nonzero,
    count_params,
    get_technique,
    state_dict_bytes,
    weight_layers,
)
from frugalml.train import evaluate, fit, mlp

from .conftest import state

# cheap settings per technique so the contract suite stays fast
FAST = {
    "magnitude-prune": {"fine_tune_epochs": 1},
    "channel-prune": {"fine_tune_epochs": 1},
    "qat": {"fine_tune_epochs": 1},
    "weight-cluster": {"fine_tune_epochs": 1},
    "binary-connect": {"epochs": 2},
    "distill": {"epochs": 2},
    "bf16": {"train": True, "fine_tune_epochs": 1},
}
INT8 = {"int8-dynamic", "int8-static", "qat"}


def test_registry_names_are_kebab_case_and_match_classes():
    assert set(REGISTRY) >= {
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
    }
    for name, cls in REGISTRY.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
        assert cls.name == name
        assert cls.kind in KINDS
        assert cls.paper
        assert issubclass(cls, Technique)


def test_unknown_name_lists_valid_names_and_suggests():
    with pytest.raises(UnknownNameError) as err:
        get_technique("magnitude-prun")
    msg = str(err.value)
    assert "'magnitude-prune'" in msg and "distill" in msg


def test_unknown_parameter_is_input_error():
    with pytest.raises(InputError, match="valid"):
        get_technique("distill", width=0.5)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_get_params_round_trips(name):
    cls = REGISTRY[name]
    t = get_technique(name, **FAST.get(name, {}))
    params = t.get_params()
    again = cls(**params)
    assert again.get_params() == params
    assert repr(again) == repr(t)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_report_before_apply_says_what_to_do(name):
    with pytest.raises(TechniqueError, match="apply"):
        get_technique(name).report()


@pytest.mark.filterwarnings("ignore::frugalml.errors.EfficiencyWarning")  # bf16 on old CPUs
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_contract_on_a_tiny_mlp(name, vec_data, trained_mlp):
    t = get_technique(name, **FAST.get(name, {}))
    params_before = t.get_params()
    model = trained_mlp if t.kind == "compress" else vec_data.make_model()
    weights_before = state(model)
    X = vec_data.X_val
    out_before = model.eval()(X)

    reduced = t.apply(model, vec_data)

    # the input model is untouched
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights_before[key]), key
    # same output shape and dtype, eval mode, still evaluates
    out = reduced(X)
    assert out.shape == out_before.shape and out.dtype == torch.float32
    assert not reduced.training
    acc = evaluate(reduced, X, vec_data.y_val)
    assert 0.0 <= acc <= 1.0
    # learned state is reported; parameters are unchanged by apply
    report = t.report()
    assert report and all(isinstance(v, int | float | str) for v in report.values())
    assert not any(k.endswith("_") for k in report)
    assert t.get_params() == params_before
    # float models can still be trained; int8 ones only evaluate
    if name not in INT8:
        history = fit(reduced, vec_data, epochs=1)
        assert history.epochs_run == 1


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_bad_parameter_value_raises_input_error_at_apply(name, vec_data, trained_mlp):
    bad = {
        "magnitude-prune": {"target_sparsity": 1.0},
        "channel-prune": {"pruning_ratio": -0.1},
        "int8-dynamic": {"backend": "tensorrt"},
        "int8-static": {"calibration_batches": 0},
        "qat": {"fine_tune_epochs": -1},
        "bf16": {"train": "yes"},
        "fp16": {"backend": "nope"},
        "weight-cluster": {"n_clusters": 1},
        "binary-connect": {"mode": "ternary"},
        "distill": {"temperature": 0},
    }[name]
    with pytest.raises(InputError):
        get_technique(name, **bad).apply(trained_mlp, vec_data)


def test_apply_twice_replaces_learned_state(vec_data, trained_mlp):
    t = get_technique("magnitude-prune", target_sparsity=0.5, fine_tune_epochs=0, steps=1)
    t.apply(trained_mlp, vec_data)
    first = t.report()["sparsity"]
    t.set_params(target_sparsity=0.8)
    t.apply(trained_mlp, vec_data)
    assert t.report()["sparsity"] > first


def test_measurement_helpers():
    m = mlp(4, 8, 2, depth=1)
    assert count_params(m) == 4 * 8 + 8 + 8 * 2 + 2
    with torch.no_grad():
        m[0].weight.zero_()
    assert count_nonzero(m) == count_params(m) - 32
    assert [type(x) for x in weight_layers(m)] == [torch.nn.Linear, torch.nn.Linear]
    assert state_dict_bytes(m) > 4 * count_params(m)


def test_importing_reduce_does_not_import_torch():
    code = "import sys, frugalml.reduce as r; print('torch' in sys.modules, len(r.REGISTRY))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, n = out.stdout.split()
    assert loaded == "False" and int(n) >= 10
