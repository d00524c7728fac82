import subprocess
import sys

import pytest

from frugalml.bench.harness import available_techniques
from frugalml.reduce import REGISTRY
from frugalml.reduce.training import TRAINING_REGISTRY

NAMES = [
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


def test_every_issue_technique_is_registered_under_its_name():
    assert sorted(TRAINING_REGISTRY) == sorted(NAMES)
    assert all(cls.name == name for name, cls in TRAINING_REGISTRY.items())
    assert not set(TRAINING_REGISTRY) & set(REGISTRY)
    assert set(TRAINING_REGISTRY) <= set(available_techniques())


@pytest.mark.parametrize("name", NAMES)
def test_estimator_convention(name):
    cls = TRAINING_REGISTRY[name]
    t = cls()
    assert cls.kind == "train" and cls.paper
    assert callable(getattr(cls, "applies_to", None))
    params = t.get_params()
    assert cls(**params).get_params() == params
    assert repr(t).startswith(cls.__name__ + "(")
    assert not [k for k in vars(t) if k.endswith("_")]  # no learned state before apply


def test_listing_the_registry_does_not_import_torch():
    code = (
        "import sys, frugalml.reduce.training as t; "
        "assert len(t.TRAINING_REGISTRY) == 10; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
