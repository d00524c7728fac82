"""The counting rules: one :class:`Rule` per PyTorch operator, the single place they live.

Every operator the counter sees is looked up here by name (``"aten.mm"``). A rule gives
the multiply-accumulates (MACs) and the other floating-point operations of one call;
``flops = 2 * macs + other``. Operators with no rule are reported by name and call count
as *unknown*, never silently counted as zero; operators that do no arithmetic (views,
copies, allocation) have an explicit zero rule.

The rules themselves are defined in :mod:`._rules_dense` (matmul, convolution,
attention, quantized) and :mod:`._rules_pointwise` (elementwise, activations,
normalisation, softmax, pooling, reductions, losses, backward); the zero-FLOP operators
are listed below. :func:`rules_markdown` renders all of them as the table in
``docs/profile.md``.

Example:
    >>> from frugalml.profiler.rules import lookup
    >>> lookup("aten.relu").formula
    '1 per output element: max(x, 0)'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from typing import Any

__all__ = ["Call", "Cost", "Rule", "lookup", "numel", "rules", "rules_markdown"]


@dataclass(frozen=True)
class Cost:
    """What one operator call costs.

    Attributes:
        macs: multiply-accumulates (1 MAC = 2 FLOPs).
        flops: floating-point operations that are not part of a MAC.
        mac_dtype: label of the MAC arithmetic (``"int8"`` for quantized kernels);
            ``None`` means the dtype of the first tensor input.
        weight: the weight tensor of a quantized kernel (hidden in packed parameters),
            so its density and bytes can be counted.
        weight_macs: how many of ``macs`` multiply the weight operand; ``None`` means
            all of them (used for effective FLOPs of sparse weights).
    """

    macs: int = 0
    flops: int = 0
    mac_dtype: str | None = None
    weight: Any = None
    weight_macs: int | None = None


@dataclass(frozen=True)
class Call:
    """One operator call as the rules see it.

    Attributes:
        name: operator name, e.g. ``"aten.addmm"``.
        args: arguments bound to the operator schema's names (defaults filled in).
        pos: the positional arguments as dispatched.
        out: the output tensors, flattened.
    """

    name: str
    args: dict[str, Any]
    pos: tuple[Any, ...]
    out: list[Any]

    def out_numel(self) -> int:
        """Elements of the first output."""
        return numel(self.out[0]) if self.out else 0


@dataclass(frozen=True)
class Rule:
    """The counting rule of one or more operators.

    Attributes:
        ops: operator names (``"aten.mm"``); in-place variants (``aten.add_``) share
            the rule of their out-of-place operator.
        category: family shown in the rules table.
        formula: the rule in words, the documentation users read.
        cost: computes the :class:`Cost` of one call.
        weight_args: schema names of operands that may be weights; effective FLOPs
            scale the MACs by the density of the first one that is a weight.
    """

    ops: tuple[str, ...]
    category: str
    formula: str
    cost: Callable[[Call], Cost] = field(repr=False)
    weight_args: tuple[str, ...] = ()


def numel(t: Any) -> int:
    """Number of elements of a tensor (0 for anything else)."""
    shape = getattr(t, "shape", None)
    return int(prod(shape)) if shape is not None else 0


def _zero(_: Call) -> Cost:
    return Cost()


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ZERO_GROUPS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "view",
        "0: returns a view of its input (a sparse tensor: of its index and value tensors), "
        "moves no data",
        _words(
            "view _unsafe_view reshape _reshape_alias t transpose permute expand squeeze "
            "unsqueeze select slice narrow as_strided alias detach unbind split "
            "split_with_sizes chunk unfold diagonal view_as_real view_as_complex lift_fresh "
            "_conj resolve_conj resolve_neg real imag unflatten flatten movedim swapaxes "
            "expand_as view_as t_ transpose_ unsqueeze_ squeeze_ detach_ as_strided_ unsafe_split "
            "unsafe_split_with_sizes unsafe_chunk sparse_compressed_tensor "
            "_sparse_compressed_tensor_unsafe _sparse_csr_tensor_unsafe"
        ),
    ),
    (
        "copy",
        "0: data movement, selection or indexing without arithmetic",
        _words(
            "clone copy_ _to_copy contiguous cat stack index _unsafe_index index_select gather "
            "scatter index_put index_put_ masked_fill masked_scatter masked_select where "
            "constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d "
            "replication_pad1d replication_pad2d replication_pad3d repeat roll flip tril triu "
            "embedding pixel_shuffle pixel_unshuffle channel_shuffle im2col col2im "
            "upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact1d "
            "_upsample_nearest_exact2d _upsample_nearest_exact3d slice_scatter select_scatter "
            "as_strided_scatter diagonal_scatter select_backward slice_backward diagonal_backward "
            "_local_scalar_dense nonzero lift_fresh_copy "
            "quantized.cat"
        ),
    ),
    (
        "allocation",
        "0: allocates, fills with a constant or draws random numbers",
        _words(
            "empty empty_like empty_strided new_empty new_empty_strided zeros zeros_like "
            "new_zeros ones ones_like new_ones full full_like new_full scalar_tensor arange "
            "linspace eye fill fill_ zero_ randn rand randint randn_like rand_like randint_like "
            "uniform_ normal_ bernoulli bernoulli_ random_ exponential_ set_ resize_ "
            "resize_as_ lift _assert_async _assert_tensor_metadata _functional_assert_async"
        ),
    ),
    (
        "metadata",
        "0: reads shape, stride or device only",
        _words(
            "sym_size sym_stride sym_numel sym_storage_offset size stride numel dim "
            "is_contiguous sym_is_contiguous is_strides_like_format "
            "is_non_overlapping_and_dense is_same_size _has_compatible_shallow_copy_type "
            "storage_offset is_nonzero equal prim.device prim.layout"
        ),
    ),
]


def _qualify(name: str) -> str:
    return name if "." in name else f"aten.{name}"


def _zero_rules() -> list[Rule]:
    return [
        Rule(tuple(_qualify(n) for n in names), category, formula, _zero)
        for category, formula, names in _ZERO_GROUPS
    ]


@functools.cache
def rules() -> dict[str, Rule]:
    """All rules by operator name (built on first use)."""
    from frugalml.profiler import _rules_dense, _rules_pointwise

    registry: dict[str, Rule] = {}
    for rule in [*_rules_dense.RULES, *_rules_pointwise.RULES, *_zero_rules()]:
        for op in rule.ops:
            if op in registry:
                raise RuntimeError(f"two counting rules for {op}")
            registry[op] = rule
    return registry


def lookup(name: str) -> Rule | None:
    """The rule of operator ``name`` (``"aten.add_"`` finds the rule of ``aten.add``)."""
    registry = rules()
    rule = registry.get(name)
    if rule is None and name.endswith("_"):
        rule = registry.get(name[:-1])
    return rule


_CATEGORY_ORDER = _words(
    "matmul convolution attention recurrent quantized elementwise activation softmax normalisation "
    "pooling interpolation reduction loss backward view copy allocation metadata"
)


def rules_markdown() -> str:
    """All counting rules as a Markdown table (category, operators, rule)."""
    seen: list[Rule] = []
    for rule in rules().values():
        if not any(rule is r for r in seen):
            seen.append(rule)
    order = {c: i for i, c in enumerate(_CATEGORY_ORDER)}
    seen.sort(key=lambda r: order.get(r.category, len(order)))
    lines = ["| Category | Operators | Rule |", "|---|---|---|"]
    for rule in seen:
        ops = ", ".join(f"`{op.removeprefix('aten.')}`" for op in rule.ops)
        formula = rule.formula.replace("|", "\\|")
        lines.append(f"| {rule.category} | {ops} | {formula} |")
    return "\n".join(lines) + "\n"
