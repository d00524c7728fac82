"""Adapters over the user's loaders: ``(inputs, targets)`` pairs, inputs mapped as they are read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from frugalml._lazy import require
from frugalml.errors import InputError

__all__ = ["MappedLoader", "pair"]


class MappedLoader:
    """A loader whose inputs pass through ``fn`` (no grad) as they are read."""

    def __init__(self, loader: Any, fn: Callable[[Any], Any]) -> None:
        self.loader, self.fn = loader, fn
        self.dataset = getattr(loader, "dataset", None)
        self.batch_size = getattr(loader, "batch_size", None)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        torch = require("torch", "TrainData.map_inputs")
        for batch in self.loader:
            x, y = pair(batch, "mapped")
            with torch.no_grad():  # not around the yield: the consumer may be training
                mapped = self.fn(x)
            yield mapped, y

    def __len__(self) -> int:
        return len(self.loader)


def pair(batch: Any, split: str) -> tuple[Any, Any]:
    """``(inputs, targets)`` of one batch, or one line saying what the loader yields instead."""
    if isinstance(batch, list | tuple) and len(batch) == 2:
        return batch[0], batch[1]
    shape = f"a {type(batch).__name__}" + (
        f" of {len(batch)}" if isinstance(batch, list | tuple) else ""
    )
    raise InputError(
        f"TrainData: the {split} loader must yield (inputs, targets) pairs; got {shape}. "
        "Wrap its dataset so that __getitem__ returns (x, y)."
    )
