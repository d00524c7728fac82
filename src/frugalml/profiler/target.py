"""Loading a model from a TARGET string and making inputs from SHAPE strings (for the CLI).

TARGET is ``package.module:callable`` or ``path/to/file.py:callable``; the callable
takes no arguments and returns a ``torch.nn.Module`` (a module object itself is accepted
too). SHAPE is ``1x3x224x224``, optionally with a dtype: ``1x128:int64``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from frugalml.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = ["DTYPES", "check_runs", "load_model", "make_input", "parse_shape"]

DTYPES = ("float32", "float16", "bfloat16", "float64")
_INT_DTYPES = ("int64", "int32", "int16", "int8", "uint8", "bool")
_FORMAT = "'package.module:callable' or 'path/to/file.py:callable'"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


@contextlib.contextmanager
def _on_path(folder: str) -> Iterator[None]:
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise InputError(f"TARGET file {str(path)!r} does not exist; give {_FORMAT}.")
    name = f"_frugal_target_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"Cannot load {str(path)!r} as Python; give a .py file as {_FORMAT}.")
    module = importlib.util.module_from_spec(spec)
    with _on_path(str(path.resolve().parent)):
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise InputError(f"Running {str(path)!r} failed: {_first_line(e)}") from e
    return module


def _import_module(name: str) -> ModuleType:
    with _on_path(os.getcwd()):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            raise InputError(
                f"Cannot import module {name!r} ({_first_line(e)}); install the package or run "
                "from the folder that contains it."
            ) from e
        except Exception as e:
            raise InputError(f"Importing {name!r} failed: {_first_line(e)}") from e


def load_model(target: str) -> torch.nn.Module:
    """The ``nn.Module`` that ``target`` names (see the module docstring).

    Raises:
        InputError: bad format, missing module/file/attribute, not callable, or the
            callable does not return a module.
    """
    import torch

    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise InputError(f"TARGET {target!r} has no ':callable' part; give {_FORMAT}.")
    if where.endswith(".py") or os.sep in where or "/" in where:
        module = _import_file(Path(where))
    else:
        module = _import_module(where)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InputError(f"{where!r} has no attribute {attr!r}; check the name after ':'.")
        obj = getattr(obj, part)
    if isinstance(obj, torch.nn.Module):
        return obj
    if not callable(obj):
        raise InputError(
            f"{target!r} is a value of type {type(obj).__name__}, not a callable returning a "
            "torch.nn.Module."
        )
    try:
        model = obj()
    except Exception as e:
        raise InputError(f"Calling {target!r} with no arguments failed: {_first_line(e)}") from e
    if not isinstance(model, torch.nn.Module):
        raise InputError(
            f"{target!r} returned a value of type {type(model).__name__}, not a torch.nn.Module; "
            "make it return the model."
        )
    return model


def parse_shape(text: str) -> tuple[tuple[int, ...], str | None]:
    """``"1x3x224x224"`` -> ``((1, 3, 224, 224), None)``; ``"2x16:int64"`` -> dtype ``"int64"``.

    Example:
        >>> parse_shape("1x3x32x32")
        ((1, 3, 32, 32), None)
    """
    dims, _, dtype = text.strip().partition(":")
    hint = "expected positive integers joined by 'x', e.g. 1x3x224x224 (optionally ':int64')"
    parts = dims.lower().split("x")
    if not dims or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"Bad --input shape {text!r}: {hint}.")
    if dtype and dtype not in (*DTYPES, *_INT_DTYPES):
        raise InputError(
            f"Bad --input dtype {dtype!r} in {text!r}: use one of "
            f"{', '.join((*DTYPES, *_INT_DTYPES))}."
        )
    return tuple(int(p) for p in parts), dtype or None


def make_input(shape: tuple[int, ...], dtype: str, seed: int = 0) -> torch.Tensor:
    """A deterministic example input: standard normal for floats, zeros for integers."""
    import torch

    torch_dtype = getattr(torch, dtype)
    if dtype in _INT_DTYPES:
        return torch.zeros(shape, dtype=torch_dtype)
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator).to(torch_dtype)


def check_runs(model: torch.nn.Module, inputs: list[torch.Tensor], shapes: list[str]) -> None:
    """Run ``model`` once (eval, no_grad); a failure becomes one :class:`InputError` line."""
    import torch

    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            model(*inputs)
    except Exception as e:
        raise InputError(
            f"The model rejected input shape {', '.join(shapes)}: {_first_line(e)}"
        ) from e
    finally:
        for module, training in flags:
            module.training = training
