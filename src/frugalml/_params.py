"""Declarative parameter checks with one message shape everywhere (as scikit-learn).

"The 'amount' parameter of MagnitudePruning must be a float in [0, 1). Got 1.5 instead."
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Self

from frugalml.errors import InputError, UnknownNameError


def check_number(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    """Raise :class:`InputError` unless ``value`` is a finite number in the interval."""
    kind = "an int" if integer else "a float"
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = (
        f" in {lo}{'-inf' if low is None else _fmt(low)}, {'inf' if high is None else _fmt(high)}{hi}"
        if low is not None or high is not None
        else ""
    )
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and integer and not float(value).is_integer():
        ok = False
    if ok and not math.isfinite(float(value)):
        ok = False
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise InputError(
            f"The '{name}' parameter of {owner} must be {kind}{interval}. Got {value!r} instead."
        )


def check_choice(owner: str, name: str, value: Any, choices: Iterable[str]) -> None:
    """Raise :class:`InputError` unless ``value`` is one of ``choices``."""
    options = list(choices)
    if value not in options:
        raise InputError(
            f"The '{name}' parameter of {owner} must be one of {', '.join(map(repr, options))}. "
            f"Got {value!r} instead."
        )


def unknown_name(
    kind: str, value: str, known: Iterable[str], *, hint: str = ""
) -> UnknownNameError:
    """Build the error for an unknown name, suggesting the closest known ones."""
    import difflib  # only when a name is wrong: kept off the tracker's start path

    names = sorted(known)
    close = (
        difflib.get_close_matches(value, names, n=3, cutoff=0.5) if isinstance(value, str) else []
    )
    msg = f"Unknown {kind} {value!r}."
    if close:
        msg += f" Did you mean {', '.join(map(repr, close))}?"
    if len(names) <= 30:
        msg += f" Valid: {', '.join(names)}."
    if hint:
        msg += f" {hint}"
    return UnknownNameError(msg)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class ParamsMixin:
    """``get_params``/``set_params`` from ``__init__``'s signature, as scikit-learn.

    ``__init__`` only stores its arguments under the same names; learned state ends
    with ``_`` and is not a parameter.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        import inspect

        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters, enough to rebuild an equal object."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor parameters; unknown names raise :class:`InputError`."""
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise InputError(
                    f"{type(self).__name__} has no parameter {key!r}; valid: {', '.join(sorted(valid))}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
