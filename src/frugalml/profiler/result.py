"""The :class:`Profile`: what ``frugalml.profile`` found, with units in every name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from frugalml.profiler.latency import Energy, Latency

__all__ = ["CONVENTION", "Profile"]

CONVENTION = "1 MAC (multiply-accumulate) = 2 FLOPs; flops = 2 x macs + FLOPs of non-MAC operators"


@dataclass
class Profile:
    """Counts, sizes and (optionally) measurements of one model on one input.

    Counting is exact and deterministic; ``latency`` and ``energy`` are measured and
    only present when asked for. Module names are ``Root.child.grandchild`` with the
    model's class name as root (as ``torch.utils.flop_counter``); depth = number of dots.

    Attributes:
        macs, flops: inference forward pass (eval mode); see :data:`CONVENTION`.
        macs_effective, flops_effective: MACs that touch a non-zero weight (exact for
            unstructured sparsity), and the FLOPs with those MACs; None with
            ``profile(..., count_nonzero=False)``.
        macs_by_dtype: MACs by arithmetic: ``float32``..., ``int8`` for quantized kernels.
        params, params_trainable, params_nonzero: parameter elements (``params_nonzero``
            None with ``count_nonzero=False``).
        size_bytes, size_bytes_by_dtype: bytes of parameters and buffers.
        state_dict_bytes: bytes of the saved ``state_dict``; None unless asked for
            (``profile(..., state_dict_size=True)``).
        bytes_moved: estimated memory traffic of the forward pass (each operator reads its
            inputs and writes its outputs), ``bytes_moved_weights`` the weight reads in it.
        arithmetic_intensity: ``flops / bytes_moved`` (FLOPs per byte).
        by_module: module name -> MACs (every depth); ``by_module_flops`` the same in FLOPs.
        by_operator: operator name -> FLOPs; ``by_operator_macs``, ``by_operator_calls``.
        unknown_operators: operators without a counting rule -> calls (not counted).
        train_step_*: one training step (forward + backward), with ``train=True``.
        latency, energy: measured, with ``latency_runs`` / ``measure_energy``.
    """

    batch_size: int
    input_shapes: list[list[int]]
    macs: int
    flops: int
    macs_effective: int | None
    flops_effective: int | None
    macs_by_dtype: dict[str, int]
    params: int
    params_trainable: int
    params_nonzero: int | None
    size_bytes: int
    size_bytes_by_dtype: dict[str, int]
    state_dict_bytes: int | None
    bytes_moved: int
    bytes_moved_weights: int
    bytes_moved_by_dtype: dict[str, int]
    arithmetic_intensity: float
    by_module: dict[str, int]
    by_module_flops: dict[str, int]
    module_types: dict[str, str]
    by_operator: dict[str, int]
    by_operator_macs: dict[str, int]
    by_operator_calls: dict[str, int]
    unknown_operators: dict[str, int]
    train_step_macs: int | None = None
    train_step_flops: int | None = None
    train_step_flops_effective: int | None = None
    train_step_by_operator: dict[str, int] | None = None
    train_step_unknown_operators: dict[str, int] | None = None
    latency: Latency | None = None
    energy: Energy | None = None
    convention: str = field(default=CONVENTION)

    def modules(self, depth: int | None = None) -> list[str]:
        """Module names down to ``depth`` (0 = the model itself), in model order."""
        return [n for n in self.by_module if depth is None or n.count(".") <= depth]

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        """A JSON-ready dict; ``by_module`` keeps modules down to ``depth``.

        Example:
            >>> import torch, frugalml
            >>> frugalml.profile(torch.nn.Linear(4, 2), torch.ones(1, 4)).to_dict()["macs"]
            8
        """
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        keep = set(self.modules(depth))
        data["by_module"] = {k: v for k, v in self.by_module.items() if k in keep}
        data["by_module_flops"] = {k: v for k, v in self.by_module_flops.items() if k in keep}
        data["module_types"] = {k: v for k, v in self.module_types.items() if k in keep}
        for name in ("latency", "energy"):
            value = getattr(self, name)
            data[name] = dataclasses.asdict(value) if value is not None else None
        if self.train_step_flops is None:
            for key in [k for k in data if k.startswith("train_step_")]:
                del data[key]
        return data

    def __rich__(self) -> Any:
        from frugalml.profiler.render import render

        return render(self)
