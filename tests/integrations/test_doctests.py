"""The examples in the integrations' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "frugalml.integrations._role",
    "frugalml.integrations._card",
    "frugalml.integrations.mlflow",
    "frugalml.integrations.sklearn",
    "frugalml.integrations.lightning",
    "frugalml.integrations.transformers",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if name != "frugalml.integrations._card":  # its example needs a training: skipped
        assert result.attempted > 0
