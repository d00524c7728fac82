"""Lazy import of optional dependencies with an error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from frugalml.errors import MissingDependencyError

_EXTRA_FOR = {
    "torch": "torch",
    "sklearn": "bench",
    "torch_pruning": "bench",
    "matplotlib": "bench",
    "pynvml": "nvidia",
    "amdsmi": "amd",
    "optuna": "search",
    "psycopg2": "postgres",
}
_PIP_NAME = {
    "sklearn": "scikit-learn",
    "torch_pruning": "torch-pruning",
    "pynvml": "nvidia-ml-py",
    "psycopg2": "psycopg2-binary",
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the fix.

    Example:
        >>> require("json", "reading results").dumps({})
        '{}'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        pip_name = _PIP_NAME.get(top, top)
        extra = _EXTRA_FOR.get(top)
        hint = f"pip install 'frugalml[{extra}]'" if extra else f"pip install {pip_name}"
        raise MissingDependencyError(
            f"{purpose} needs the optional package '{pip_name}', which is not installed. "
            f"Install it with: {hint}"
        ) from e
