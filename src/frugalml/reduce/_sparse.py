"""Sparse execution of pruned Linear layers (this module imports torch; loaded on first use).

A magnitude-pruned ``nn.Linear`` keeps its dense shape: its zeros are still multiplied.
:class:`SparseLinear` holds the weight as a compressed-sparse-row tensor (``torch.sparse``
CSR, int32 indices) and computes ``W @ x.T`` with ``torch.addmm``, which dispatches to
PyTorch's sparse-dense matrix product (MKL's on x86 CPUs; with int64 indices it took a
slower path here, 5x slower): the work and the bytes read scale with the non-zero weights. Whether that is faster than the dense product depends on
the density, the shapes, the batch and the machine, so :func:`choose_kernels` measures both
on each layer and keeps the faster.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from frugalml.reduce._timing import MARGIN, median_times

__all__ = ["KernelChoice", "SparseLinear", "choose_kernels", "to_dense"]


class SparseLinear(nn.Module):
    """``nn.Linear`` with a sparse CSR weight, for inference.

    It stores the CSR parts: ``values`` (a parameter that does not require gradients: the
    non-zero weights), ``crow_indices`` and ``col_indices`` (int32 buffers); ``weight``
    assembles them into a CSR tensor. For training, :func:`to_dense` gives back an
    ``nn.Linear``.

    Example:
        >>> dense = nn.Linear(8, 4)
        >>> with torch.no_grad():
        ...     dense.weight[:, :6] = 0
        >>> sparse = SparseLinear.from_dense(dense)
        >>> x = torch.randn(3, 8)
        >>> torch.allclose(sparse(x), dense(x), atol=1e-6)
        True
    """

    crow_indices: torch.Tensor
    col_indices: torch.Tensor

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.out_features, self.in_features = int(weight.shape[0]), int(weight.shape[1])
        # the CSR parts are kept as plain tensors (a CSR parameter cannot be deep-copied,
        # cast or saved by every tool); ``weight`` assembles them, a view without copying
        self.values = nn.Parameter(weight.values().detach(), requires_grad=False)
        self.register_buffer("crow_indices", weight.crow_indices().to(torch.int32))
        self.register_buffer("col_indices", weight.col_indices().to(torch.int32))
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)

    @classmethod
    def from_dense(cls, linear: nn.Linear) -> SparseLinear:
        """The layer's weight in CSR form (its exact zeros dropped), same bias."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta state"
            return cls(linear.weight.detach().to_sparse_csr(), linear.bias)

    @property
    def weight(self) -> torch.Tensor:
        """The weight as a CSR tensor (``out_features x in_features``, int32 indices)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta state"
            return torch.sparse_csr_tensor(
                self.crow_indices,
                self.col_indices,
                self.values,
                size=(self.out_features, self.in_features),
                check_invariants=False,
            )

    @property
    def density(self) -> float:
        """Non-zero weights / all weights."""
        return self.values.numel() / max(self.out_features * self.in_features, 1)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, density={self.density:.3f}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).t()  # (in, batch): the CSR weight on the left
        weight = self.weight
        if self.bias is None:
            out = torch.mm(weight, rows)
        else:
            out = torch.addmm(self.bias.unsqueeze(1), weight, rows)
        # row-major again: dense layers after it run 5x slower on the transposed view
        return out.t().contiguous().reshape(*x.shape[:-1], self.out_features)


def to_dense(model: nn.Module) -> nn.Module:
    """Replace every :class:`SparseLinear` in ``model`` by an equal ``nn.Linear`` (in place;
    returns the model, a new one when it is a bare :class:`SparseLinear`)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, SparseLinear):
            dense = nn.Linear(module.in_features, module.out_features, module.bias is not None)
            with torch.no_grad():
                dense.weight.copy_(module.weight.to_dense())
                if module.bias is not None and dense.bias is not None:
                    dense.bias.copy_(module.bias)
            model = _replace(model, name, dense)
    return model


@dataclass(frozen=True)
class KernelChoice:
    """What :func:`choose_kernels` measured for one Linear layer (times in seconds)."""

    name: str
    density: float
    dense_s: float
    sparse_s: float
    sparse: bool

    @property
    def speedup(self) -> float:
        """Dense time / sparse time (> 1: the sparse kernel is faster)."""
        return self.dense_s / self.sparse_s if self.sparse_s else 0.0


def choose_kernels(
    model: nn.Module, *, batch: int, mode: str = "auto", repeats: int = 9
) -> tuple[nn.Module, list[KernelChoice]]:
    """Run each ``nn.Linear`` of ``model`` with a sparse kernel where that is faster.

    Layers are replaced in place; the model itself is returned too (a new one when it is a
    bare ``nn.Linear``).

    Args:
        model: the pruned model.
        batch: rows of the input the kernels are timed on (the batch you will infer at).
        mode: ``"auto"`` (time the dense and the sparse product on a random input of
            ``batch`` rows, median of ``repeats`` interleaved runs each, and keep the
            sparse one only when it is at least 1.1x faster), ``"always"`` or ``"never"``
            (measure, but keep every layer dense).
        repeats: timed runs per kernel and layer.

    Returns:
        ``(model, choices)``: one :class:`KernelChoice` per Linear layer, in model order.
    """
    choices = []
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear):
            continue
        sparse = SparseLinear.from_dense(module)
        x = torch.randn(batch, module.in_features)
        dense_s, sparse_s = _time_pair(module, sparse, x, repeats)
        use = mode == "always" or (mode == "auto" and sparse_s * MARGIN <= dense_s)
        choices.append(KernelChoice(name, sparse.density, dense_s, sparse_s, use))
        if use:
            model = _replace(model, name, sparse)
    return model, choices


def _time_pair(
    dense: nn.Module, sparse: nn.Module, x: torch.Tensor, repeats: int
) -> tuple[float, float]:
    """Median seconds of each module's forward on ``x``, interleaved, after a warm-up."""
    dense_s, sparse_s = median_times([lambda: dense(x), lambda: sparse(x)], repeats=repeats)
    return dense_s, sparse_s


def _replace(model: nn.Module, name: str, new: nn.Module) -> nn.Module:
    """``model`` with its submodule ``name`` replaced by ``new`` (``new`` when name is "")."""
    if not name:
        return new
    parent_name, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
    return model
