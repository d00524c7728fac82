"""Reading a model's structure: its stages, its classifier, the parts a technique needs.

A model is cut into *stages*: consecutive pieces whose composition is the model's forward,
with one tensor passing from each to the next. A stage starts at each named submodule
(``stages=["features.0", "features.3", "classifier"]``, in the order ``forward`` runs them),
or, when none are named, at each layer of the technique's stage type (``Linear`` or
``Conv2d``); anything before the first start belongs to the first stage, and the last stage
runs to the output. An ``nn.Sequential`` is cut by slicing it (the pieces are
``nn.Sequential`` of its own modules); any other model is traced with ``torch.fx`` and its
graph cut into ``GraphModule`` pieces. Either way the pieces share the model's modules, so
training a piece trains the model.

This module imports torch; the techniques import it inside ``apply``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from frugalml.errors import InputError
from frugalml.reduce.needs import Needs

__all__ = [
    "StageError",
    "cut_stages",
    "linear_head",
    "output_width",
    "stage_hint",
    "unmet_model_need",
]

_LAYERS: dict[str, type[nn.Module]] = {"Linear": nn.Linear, "Conv2d": nn.Conv2d}


class StageError(ValueError):
    """The model cannot be cut into stages; the message says why (no fix: the caller adds it)."""


def cut_stages(
    model: nn.Module, stages: Sequence[str] | None = None, stage_layer: str = "Linear"
) -> list[nn.Module]:
    """The model's stages, in forward order (see the module docstring).

    Args:
        model: any ``nn.Module`` whose ``forward`` takes one tensor.
        stages: names of the submodules where each stage starts; None: every
            ``stage_layer`` module starts one.
        stage_layer: ``"Linear"`` or ``"Conv2d"``.

    Raises:
        StageError: the model cannot be traced, a name is not a submodule it calls, or more
            than one tensor crosses a stage boundary.

    Example:
        >>> from frugalml.train import mlp
        >>> [len(s) for s in cut_stages(mlp(4, 8, 3, depth=2))]
        [2, 2, 1]
    """
    if stages is not None:
        _check_names(stages)
    if isinstance(model, nn.Sequential):
        pieces = _cut_sequential(model, stages, _LAYERS[stage_layer])
        if pieces is not None:
            return pieces
    return _cut_graph(model, stages, _LAYERS[stage_layer])


def _check_names(stages: Any, owner: str = "cut_stages") -> None:
    if not isinstance(stages, list | tuple) or not all(isinstance(s, str) for s in stages):
        raise InputError(
            f"The 'stages' parameter of {owner} must be a list of submodule names (e.g. "
            f"['features.0', 'features.3', 'classifier']) or None. Got {stages!r} instead."
        )


def _cut_sequential(
    model: nn.Sequential, stages: Sequence[str] | None, layer: type[nn.Module]
) -> list[nn.Module] | None:
    children = list(model.named_children())
    names = [n for n, _ in children]
    if stages is None:
        starts = [i for i, (_, m) in enumerate(children) if isinstance(m, layer)]
    elif all(s in names for s in stages):
        starts = [names.index(s) for s in stages]
        if starts != sorted(set(starts)):
            raise StageError("the stages are not listed in the order forward runs them")
    else:
        return None  # names deeper in the model: the graph knows where they are
    if not starts:
        return []
    bounds = [0, *starts[1:], len(children)]
    modules = [m for _, m in children]
    return [nn.Sequential(*modules[a:b]) for a, b in itertools.pairwise(bounds)]


class _StageTracer(fx.Tracer):
    """Keeps the named stages whole (one node each), whatever their type."""

    def __init__(self, leaves: set[str]) -> None:
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.leaves or super().is_leaf_module(
            m, module_qualified_name
        )


def _cut_graph(
    model: nn.Module, stages: Sequence[str] | None, layer: type[nn.Module]
) -> list[nn.Module]:
    try:
        graph = _StageTracer(set(stages or ())).trace(model)
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise StageError(f"torch.fx cannot trace {type(model).__name__} ({reason})") from e
    nodes = list(graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise StageError(f"its forward takes {len(inputs)} inputs, not one tensor")
    calls = {str(n.target): i for i, n in enumerate(nodes) if n.op == "call_module"}
    if stages is None:
        starts = [
            i
            for i, n in enumerate(nodes)
            if n.op == "call_module" and isinstance(model.get_submodule(str(n.target)), layer)
        ]
    else:
        missing = [s for s in stages if s not in calls]
        if missing:
            raise StageError(f"forward calls no submodule named {missing[0]!r}")
        starts = [calls[s] for s in stages]
        if starts != sorted(set(starts)):
            raise StageError("the stages are not listed in the order forward runs them")
    if not starts:
        return []
    first = next(i for i, n in enumerate(nodes) if n.op != "placeholder")
    bounds: list[int] = [first, *starts[1:], len(nodes)]
    crossing = [inputs[0]]
    for cut in bounds[1:-1]:
        live = _crossing(nodes, cut)
        if len(live) != 1:
            raise StageError(
                f"{len(live)} tensors cross the start of stage {str(nodes[cut].target)!r} "
                f"({', '.join(n.name for n in live)}); a stage must take one tensor"
            )
        crossing.append(live[0])
    return [
        _piece(model, nodes[a:b], crossing[i], crossing[i + 1] if i + 1 < len(crossing) else None)
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]


def _crossing(nodes: list[fx.Node], cut: int) -> list[fx.Node]:
    """Values made before ``cut`` and used at or after it (parameters excepted: copied)."""
    after = set(nodes[cut:])
    return [n for n in nodes[:cut] if n.op != "get_attr" and any(user in after for user in n.users)]


def _piece(
    model: nn.Module, nodes: list[fx.Node], inp: fx.Node, out: fx.Node | None
) -> fx.GraphModule:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {inp: graph.placeholder("x")}

    def arg(n: fx.Node) -> fx.Node:
        if n not in env and n.op == "get_attr":  # a parameter read in an earlier stage
            env[n] = graph.node_copy(n)
        return env[n]

    for node in nodes:
        if node.op != "placeholder":
            env[node] = graph.node_copy(node, arg)
    if out is not None:
        graph.output(env[out])
    return fx.GraphModule(model, graph)


def output_width(model: nn.Module, example: torch.Tensor) -> tuple[int, ...]:
    """Shape of one sample of ``model(example)`` (eval mode, no grad; the mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(example)
    finally:
        model.train(was_training)
    return tuple(int(d) for d in out.shape[1:])


def linear_head(shape: tuple[int, ...], n_out: int, pool: int = 1) -> nn.Module:
    """A classifier on outputs of one sample's ``shape``: a ``Linear`` on flat outputs; on
    feature maps, adaptive average pooling to ``pool`` per side, ``Flatten`` and ``Linear``."""
    if len(shape) == 1:
        return nn.Linear(shape[0], n_out)
    pooling = nn.AdaptiveAvgPool2d(pool) if len(shape) == 3 else nn.AdaptiveAvgPool1d(pool)
    return nn.Sequential(
        pooling, nn.Flatten(), nn.Linear(shape[0] * pool ** (len(shape) - 1), n_out)
    )


def stage_hint(model: nn.Module) -> str:
    """An example ``stages=[...]`` for ``model``: its first few Linear / Conv2d layers."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    shown = names[:3] or ["features.0", "features.3", "classifier"]
    return "stages=[" + ", ".join(repr(n) for n in shown) + (", ...]" if len(names) > 3 else "]")


def unmet_model_need(
    needs: Needs, model: nn.Module, stages: Sequence[str] | None = None
) -> str | None:
    """The first part of ``needs.model`` that ``model`` lacks, in words; None when all are met."""
    kind = type(model).__name__
    checks: dict[str, Callable[[], str | None]] = {
        "weights": lambda: (
            None
            if any(isinstance(m, nn.Linear | nn.modules.conv._ConvNd) for m in model.modules())
            else f"Linear or Conv layers to work on; {kind} has none"
        ),
        "conv": lambda: (
            None
            if any(
                isinstance(m, nn.Conv2d) and m.groups == 1 and max(m.kernel_size) > 1
                for m in model.modules()
            )
            else f"k x k Conv2d layers to replace; {kind} has none"
        ),
        "classifier": lambda: (
            None
            if any(isinstance(m, nn.Linear) for m in model.modules())
            else f"a last Linear layer producing the outputs; {kind} has none"
        ),
        "stages": lambda: _unmet_stages(needs, model, stages),
    }
    for part in needs.model:
        missing = checks[part]()
        if missing:
            return missing
    return None


def _unmet_stages(needs: Needs, model: nn.Module, stages: Sequence[str] | None) -> str | None:
    layer = needs.stage_layer or "Linear"
    kind = type(model).__name__
    try:
        n = len(cut_stages(model, stages, layer))
    except StageError as e:
        found = f"{kind}: {e}"
    else:
        if n >= needs.min_stages:
            return None
        found = f"{kind}: {n} " + (
            "named" if stages is not None else f"found at its {layer} layers"
        )
    return (
        f"at least {needs.min_stages} stages in the model ({found}); name the submodule where "
        f"each stage starts, in forward order, e.g. {stage_hint(model)}"
    )
