"""Stacked recipes: a bench row that applies several techniques one after the other.

A row's name is its recipe: ``int8-dynamic`` is one step; ``distill+int8-static`` distils and
then quantises the student; a step may carry parameters,
``distill(student_width=0.15, temperature=8)+int8-static``. Values are Python literals
(numbers, quoted strings, ``True``/``False``/``None``, lists); a bare word is a string
(``binary-connect(scale=none)``).

How a chain runs (``frugalml.bench.harness``): the first step starts where a single technique
would (a compression step from a copy of the trained baseline, a training step from a fresh
model); every later step takes the model the step before returned (a training step then
trains it further from its weights). Each step is tracked on its own and the row is charged
the sum; a step that fails fails the row, naming the step.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from frugalml._params import unknown_name
from frugalml.errors import InputError

__all__ = ["Stack", "Step", "parse_stack", "split_specs"]

_STEP = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Step:
    """One technique of a recipe and the parameters written in the recipe."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def spec(self) -> str:
        """The step as written in a recipe, canonical form."""
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={_literal(v)}" for k, v in self.params.items())
        return f"{self.name}({inner})"


@dataclass(frozen=True)
class Stack:
    """A recipe: one step (a plain technique) or several, applied in order."""

    steps: tuple[Step, ...]

    @property
    def name(self) -> str:
        """The row name: the steps' specs joined by ``+``."""
        return "+".join(s.spec() for s in self.steps)

    @property
    def is_chain(self) -> bool:
        return len(self.steps) > 1


def _literal(value: Any) -> str:
    if isinstance(value, str) and _WORD.match(value) and value not in ("True", "False", "None"):
        return value
    return repr(value)


def _depth_split(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses and brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def split_specs(text: str) -> list[str]:
    """Split a comma-separated list of recipes, keeping commas inside a step's parameters.

    Example:
        >>> split_specs("distill(student_width=0.2, temperature=8)+int8-static,qat")
        ['distill(student_width=0.2, temperature=8)+int8-static', 'qat']
    """
    return [p.strip() for p in _depth_split(text, ",") if p.strip()]


def _value(owner: str, key: str, raw: str) -> Any:
    raw = raw.strip()
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        if _WORD.match(raw):
            return raw
        raise InputError(
            f"The value of {key!r} in {owner!r} is not a literal: {raw!r}. Write numbers, "
            "True/False/None, quoted strings or plain words, e.g. distill(student_width=0.25)."
        ) from None


def _step(text: str, spec: str, known: Mapping[str, Any] | None) -> Step:
    match = _STEP.match(text)
    if not match or not text.strip():
        raise InputError(
            f"Cannot read the step {text.strip()!r} of the recipe {spec!r}. Write technique "
            "names joined by '+', each with optional parameters, e.g. "
            "distill(student_width=0.25)+int8-static."
        )
    name, inner = match.group(1), match.group(2)
    if known is not None and name not in known:
        raise unknown_name(
            "technique",
            name,
            known,
            hint=f"(in the recipe {spec!r}) List them with: frugal bench --list",
        )
    params: dict[str, Any] = {}
    for item in _depth_split(inner or "", ","):
        if not item.strip():
            continue
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise InputError(
                f"The parameter {item.strip()!r} of {name!r} in the recipe {spec!r} is not "
                "key=value, e.g. distill(student_width=0.25)."
            )
        params[key] = _value(name, key, raw)
    return Step(name, params)


def parse_stack(spec: str, known: Mapping[str, Any] | None = None) -> Stack:
    """Read a recipe (``"distill(student_width=0.2)+int8-static"``).

    Args:
        spec: technique names joined by ``+``, each with optional ``(key=value, ...)``.
        known: the valid technique names (the registry); None skips the name check.

    Raises:
        InputError: a malformed step or value; UnknownNameError: an unknown technique name
            (listing the valid ones).

    Example:
        >>> s = parse_stack("distill(student_width=0.2)+int8-static")
        >>> [st.name for st in s.steps], s.steps[0].params, s.name
        (['distill', 'int8-static'], {'student_width': 0.2}, 'distill(student_width=0.2)+int8-static')
    """
    parts = _depth_split(spec, "+")
    return Stack(tuple(_step(p, spec, known) for p in parts))
