"""The counter: a TorchDispatchMode that applies the rules to every dispatched operator.

Counting sits on PyTorch's dispatcher, below autograd, so functional calls, custom
modules and the backward pass are all seen as the operators that actually run.
Composite operators without a rule (``linear`` under inference mode, ``einsum``,
``matmul``) are decomposed into the operators they run, as ``FlopCounterMode`` does.
Attribution to modules uses ``torch.utils.module_tracker.ModuleTracker``; its names are
``Root.child.grandchild`` with the root's class name first.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.module_tracker import ModuleTracker

from frugalml.profiler.rules import Call, Cost, Rule, lookup
from frugalml.profiler.traffic import WeightSet, dtype_name, iter_tensors, tensor_bytes

__all__ = ["CountingMode", "OpTotals", "Tally"]

logger = logging.getLogger(__name__)

_aten = torch.ops.aten
# Shape queries of tensor subclasses; answered by the subclass, never counted.
_PASSTHROUGH = {
    _aten.sym_is_contiguous.default,
    _aten.is_contiguous.default,
    _aten.is_contiguous.memory_format,
    _aten.is_strides_like_format.default,
    _aten.is_non_overlapping_and_dense.default,
    _aten.size.default,
    _aten.sym_size.default,
    _aten.stride.default,
    _aten.sym_stride.default,
    _aten.storage_offset.default,
    _aten.sym_storage_offset.default,
    _aten.numel.default,
    _aten.sym_numel.default,
    _aten.dim.default,
    torch.ops.prim.layout.default,
}
_NO_TRAFFIC = {"view", "metadata"}
# Operators that read only the selected part of their first tensor argument.
_GATHER_OPS = {
    "aten.embedding",
    "aten.index_select",
    "aten.gather",
    "aten.index",
    "aten._unsafe_index",
    "aten.masked_select",
}


@dataclass
class OpTotals:
    """Totals of one operator (or one module): calls, MACs, FLOPs, bytes."""

    calls: int = 0
    macs: int = 0
    flops: int = 0
    macs_effective: int = 0
    bytes: int = 0

    def add(self, macs: int, flops: int, macs_effective: int, nbytes: int) -> None:
        self.calls += 1
        self.macs += macs
        self.flops += flops
        self.macs_effective += macs_effective
        self.bytes += nbytes


@dataclass
class Tally:
    """Everything one counting pass found. ``flops = 2 * macs + other FLOPs``."""

    by_operator: dict[str, OpTotals] = field(default_factory=lambda: defaultdict(OpTotals))
    by_module: dict[str, OpTotals] = field(default_factory=lambda: defaultdict(OpTotals))
    unknown: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    macs_by_dtype: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes_by_dtype: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes_weights: int = 0

    def _sum(self, attr: str) -> int:
        return sum(getattr(t, attr) for t in self.by_operator.values())

    @property
    def macs(self) -> int:
        return self._sum("macs")

    @property
    def flops(self) -> int:
        return self._sum("flops")

    @property
    def macs_effective(self) -> int:
        return self._sum("macs_effective")

    @property
    def flops_effective(self) -> int:
        return self.flops - 2 * (self.macs - self.macs_effective)

    @property
    def bytes(self) -> int:
        return self._sum("bytes")


class CountingMode(TorchDispatchMode):
    """Counts every operator dispatched inside it into a :class:`Tally`.

    Args:
        tally: where counts go.
        tracker: an entered ``ModuleTracker`` for attribution to modules.
        weights: the model's weights, for effective FLOPs and weight bytes.
    """

    def __init__(self, tally: Tally, tracker: ModuleTracker, weights: WeightSet) -> None:
        super().__init__()
        self.tally = tally
        self.tracker = tracker
        self.weights = weights
        self._resolved: dict[Any, tuple[str, Rule | None]] = {}

    def _resolve(self, func: Any) -> tuple[str, Rule | None]:
        hit = self._resolved.get(func)
        if hit is None:
            name = str(func._overloadpacket)
            hit = (name, lookup(name))
            self._resolved[func] = hit
        return hit

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if func in _PASSTHROUGH:
            return NotImplemented
        name, rule = self._resolve(func)
        if rule is None:
            with self:
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        out = func(*args, **kwargs)
        self._record(func, name, rule, args, kwargs, out)
        return out

    def _record(
        self,
        func: Any,
        name: str,
        rule: Rule | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        out: Any,
    ) -> None:
        inputs = [*iter_tensors(args), *iter_tensors(kwargs)]
        outputs = list(iter_tensors(out))
        cost = Cost()
        bound: dict[str, Any] = {}
        if rule is not None:
            try:
                bound = _bind(func, args, kwargs)
                cost = rule.cost(Call(name, bound, tuple(args), outputs))
            except Exception as e:  # a rule that cannot read this call must not hide it
                logger.warning("No count for %s: its rule failed (%s); listed as unknown", name, e)
                rule = None
        if rule is None:
            self.tally.unknown[name] += 1
        nbytes = self._traffic(func, name, rule, inputs, outputs, cost)
        macs_effective = self._effective(rule, cost, bound)
        flops = 2 * cost.macs + cost.flops
        self.tally.by_operator[name].add(cost.macs, flops, macs_effective, nbytes)
        if cost.macs:
            label = cost.mac_dtype or (dtype_name(inputs[0]) if inputs else "unknown")
            self.tally.macs_by_dtype[label] += cost.macs
        if flops or nbytes:
            for parent in self.tracker.parents:
                if parent != "Global":
                    self.tally.by_module[parent].add(cost.macs, flops, macs_effective, nbytes)
        self.weights.adopt(inputs, outputs)

    def _traffic(
        self,
        func: Any,
        name: str,
        rule: Rule | None,
        inputs: list[torch.Tensor],
        outputs: list[torch.Tensor],
        cost: Cost,
    ) -> int:
        if _is_view(func) or "empty" in name or (rule is not None and rule.category in _NO_TRAFFIC):
            return 0
        read = inputs
        gathered = 0
        if name in _GATHER_OPS and inputs:
            # Only the gathered rows of the source are read (an embedding table is not read
            # whole): they are as many bytes as the output.
            read = inputs[1:]
            gathered = sum(tensor_bytes(t) for t in outputs)
            source = inputs[0]
            self.tally.bytes_by_dtype[dtype_name(source)] += gathered
            if self.weights.is_weight(source):
                self.tally.bytes_weights += gathered
        total = gathered
        for t in [*read, *outputs]:
            n = tensor_bytes(t)
            total += n
            self.tally.bytes_by_dtype[dtype_name(t)] += n
        for t in read:
            if self.weights.is_weight(t):
                self.tally.bytes_weights += tensor_bytes(t)
        if isinstance(cost.weight, torch.Tensor):
            n = tensor_bytes(cost.weight)
            total += n
            self.tally.bytes_weights += n
            self.tally.bytes_by_dtype[dtype_name(cost.weight)] += n
        return total

    def _effective(self, rule: Rule | None, cost: Cost, bound: dict[str, Any]) -> int:
        """MACs that touch a non-zero weight: the weight's MACs scaled by its density."""
        if rule is None or not cost.macs or not self.weights.count_nonzero:
            return cost.macs
        weight = cost.weight
        if weight is None:
            for arg in rule.weight_args:
                t = bound.get(arg)
                if isinstance(t, torch.Tensor) and self.weights.is_weight(t):
                    weight = t
                    break
        if weight is None:
            return cost.macs
        nonzero, total = self.weights.nonzero(weight)
        weighted = cost.macs if cost.weight_macs is None else cost.weight_macs
        return cost.macs - weighted + (weighted * nonzero // total if total else 0)


def _is_view(func: Any) -> bool:
    returns = func._schema.returns
    return bool(returns) and all(
        r.alias_info is not None and not r.alias_info.is_write for r in returns
    )


def _bind(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Arguments by schema name, defaults filled in."""
    bound: dict[str, Any] = {}
    for i, arg in enumerate(func._schema.arguments):
        if i < len(args) and not arg.kwarg_only:
            bound[arg.name] = args[i]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
    return bound
