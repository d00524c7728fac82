"""Lazy import of optional dependencies with an error that says what to install."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from frugalml.errors import MissingDependencyError

_EXTRA_FOR = {
    "torch": "torch",
    "sklearn": "bench",
    "torch_pruning": "bench",
    "matplotlib": "bench",
    "pynvml": "nvidia",
    "amdsmi": "amd",
    "optuna": "search",
    "psycopg": "postgres",
    "lightning": "lightning",
    "transformers": "transformers",
    "huggingface_hub": "transformers",
    "mlflow": "mlflow",
}
_PIP_NAME = {
    "sklearn": "scikit-learn",
    "torch_pruning": "torch-pruning",
    "pynvml": "nvidia-ml-py",
    "psycopg": "psycopg[binary]",
    "mlflow": "mlflow-skinny",
    "huggingface_hub": "huggingface-hub",
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


def lazy_exports(
    package: str, names: Mapping[str, str], namespace: dict[str, Any], public: list[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` that import ``names`` (name -> module) on
    first access and cache them in ``namespace``, so importing ``package`` stays cheap."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(public)

    return __getattr__, __dir__
