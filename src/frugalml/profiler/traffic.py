"""Bytes moved and weight tracking: which operands are weights, how dense they are.

Bytes moved is an estimate of memory traffic for unfused execution: every operator that
is not a view or an allocation reads each tensor argument once and writes each output
once. A broadcast dimension (stride 0) counts once, since it is not read again from
memory; gathers (embedding, index_select, gather, indexing) read only the selected
elements of their source, as many bytes as they write. Reads of weights (parameters,
buffers and tensors computed only from them, such as the ``weight_orig * weight_mask`` of
``torch.nn.utils.prune``) are also reported apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

__all__ = ["WeightSet", "dtype_name", "iter_tensors", "sparse_parts", "tensor_bytes"]


def dtype_name(t: torch.Tensor) -> str:
    """``"float32"`` for a float32 tensor."""
    return str(t.dtype).removeprefix("torch.")


def sparse_parts(t: torch.Tensor) -> list[torch.Tensor]:
    """The dense tensors a sparse tensor is stored in (values and indices); ``[t]`` if strided."""
    if t.layout == torch.strided:
        return [t]
    if t.layout == torch.sparse_coo:
        return [t._values(), t._indices()]
    if t.layout in (torch.sparse_csr, torch.sparse_bsr):
        return [t.values(), t.crow_indices(), t.col_indices()]
    return [t.values(), t.ccol_indices(), t.row_indices()]  # CSC, BSC


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes a tensor spans in memory: stride-0 (broadcast) dimensions count once; a sparse
    tensor is its values and indices."""
    if t.layout != torch.strided:
        return sum(tensor_bytes(part) for part in sparse_parts(t))
    elements = 1
    for size, stride in zip(t.shape, t.stride()):
        if stride != 0:
            elements *= size
    return elements * t.element_size()


def iter_tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Tensors inside ``obj`` (tensors, lists, tuples, dicts)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from iter_tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from iter_tensors(item)


def _storage_key(t: torch.Tensor) -> int | None:
    try:
        ptr = t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        # tensors without a plain storage (meta, sparse, some wrapper subclasses) raise one
        # of these from untyped_storage(); they have no address to deduplicate by
        return None
    return ptr or None


class WeightSet:
    """Tensors that are weights, by storage, and their density.

    Starts from the model's parameters and buffers; :meth:`adopt` adds the outputs of an
    operator whose tensor inputs are all weights. Derived tensors are kept alive so that
    their memory is not reused by an activation while counting.
    """

    def __init__(self, tensors: Iterable[torch.Tensor], count_nonzero: bool = True) -> None:
        self.count_nonzero = count_nonzero  # False: densities are not read (not known)
        self._tensors: dict[int, torch.Tensor] = {}
        self._density: dict[tuple[Any, ...], tuple[int, int]] = {}
        for t in tensors:
            self._add(t)

    def _add(self, t: torch.Tensor) -> None:
        key = _storage_key(t)
        if key is not None:
            self._tensors.setdefault(key, t)

    def is_weight(self, t: torch.Tensor) -> bool:
        """True when ``t`` shares storage with a weight."""
        key = _storage_key(t)
        return key is not None and key in self._tensors

    def adopt(self, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        """Mark ``outputs`` as weights when every tensor input is one."""
        if inputs and all(self.is_weight(t) for t in inputs):
            for t in outputs:
                self._add(t)

    def nonzero(self, t: torch.Tensor) -> tuple[int, int]:
        """(non-zero elements, elements) of ``t``; quantized tensors compare dequantized values.

        Counted once per tensor version: a tensor covering its whole storage (a parameter,
        or a transposed or reshaped view of it) shares the count of every other such view,
        so the forward pass and the parameter statistics read each weight once.
        """
        try:
            version: int | None = t._version
        except RuntimeError:  # inference tensors have no version counter: do not cache
            version = None
        storage = _storage_key(t)
        key: tuple[Any, ...] | None
        if version is None or storage is None:
            key = None
        elif _covers_storage(t):
            key = (storage, version, t.dtype)
        else:
            key = (storage, t.storage_offset(), tuple(t.shape), t.stride(), version)
        cached = self._density.get(key) if key is not None else None
        if cached is None:
            cached = (_count_nonzero(t), int(t.numel()))
            if key is not None:
                self._density[key] = cached
        return cached


def _covers_storage(t: torch.Tensor) -> bool:
    """Whether ``t`` holds each element of its storage exactly once (any dimension order)."""
    if t.storage_offset() or t.numel() * t.element_size() != t.untyped_storage().nbytes():
        return False
    expected = 1
    for stride, size in sorted((st, sz) for st, sz in zip(t.stride(), t.shape) if sz != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _count_nonzero(t: torch.Tensor) -> int:
    values = t.dequantize() if t.is_quantized else sparse_parts(t)[0]
    return int(torch.count_nonzero(values))
