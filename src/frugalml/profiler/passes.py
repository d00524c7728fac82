"""The counted passes: an inference forward and one training step, leaving the model as found.

- Inference: eval mode, ``torch.no_grad()``.
- Training step: train mode, forward, then the gradients of every trainable parameter
  (``torch.autograd.grad``, so ``.grad`` is never touched), seeded with ones on each
  floating-point output, or from ``loss_fn(output)`` when given. Only the operators the
  autograd engine actually dispatches are counted: an input gradient of the first layer
  is not computed when its input needs none. No optimizer step is counted.

Both passes restore every module's train/eval flag, the buffers (batch-norm running
statistics), the random number generator state, and switch PyTorch's fused
transformer fast path off while counting, so the counter sees the operators of
``nn.TransformerEncoderLayer``/``nn.MultiheadAttention`` (the same arithmetic) instead of
one opaque fused kernel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.module_tracker import ModuleTracker

from frugalml.errors import InputError
from frugalml.profiler.counting import CountingMode, Tally
from frugalml.profiler.traffic import WeightSet, iter_tensors

__all__ = ["count_forward", "count_train_step", "model_weights", "preserved"]


@contextlib.contextmanager
def preserved(
    model: torch.nn.Module, *, buffers: bool, fastpath_off: bool = True
) -> Iterator[None]:
    """Restore train/eval flags, RNG state, the MHA fast-path flag (and buffers) on exit.

    With ``fastpath_off`` the fused transformer fast path is off inside the block.
    """
    flags = [(m, m.training) for m in model.modules()]
    saved = [(b, b.detach().clone()) for b in model.buffers()] if buffers else []
    rng = torch.random.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        if fastpath_off:
            torch.backends.mha.set_fastpath_enabled(False)
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for module, training in flags:
            module.training = training
        with torch.no_grad():
            for buf, copy in saved:
                buf.copy_(copy)
        torch.random.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def model_weights(model: torch.nn.Module, count_nonzero: bool = True) -> WeightSet:
    """The :class:`WeightSet` of ``model``'s parameters and buffers."""
    return WeightSet([*model.parameters(), *model.buffers()], count_nonzero)


def _call(model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return model(*args, **kwargs)


def count_forward(
    model: torch.nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    weights: WeightSet | None = None,
) -> tuple[Tally, Any]:
    """Count one inference forward pass; returns the tally and the model's output.

    ``weights`` (default: a fresh :func:`model_weights`) keeps the non-zero counts it
    computes, for reuse.
    """
    tally = Tally()
    weights = weights if weights is not None else model_weights(model)
    with preserved(model, buffers=False), torch.no_grad():
        model.eval()
        with ModuleTracker() as tracker, CountingMode(tally, tracker, weights):
            out = _call(model, args, kwargs)
    return tally, out


def count_train_step(
    model: torch.nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    loss_fn: Callable[[Any], torch.Tensor] | None = None,
    count_nonzero: bool = True,
) -> Tally:
    """Count one training step (forward in train mode + backward to the trainable params)."""
    if torch.is_inference_mode_enabled():
        raise InputError(
            "train=True needs autograd, which torch.inference_mode() turns off; call "
            "frugalml.profile outside inference_mode (torch.no_grad() is fine)."
        )
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InputError(
            "train=True counts the gradients of trainable parameters, but the model has none; "
            "set requires_grad=True on the parameters to train, or profile with train=False."
        )
    tally = Tally()
    with preserved(model, buffers=True), torch.enable_grad():
        model.train()
        weights = model_weights(model, count_nonzero)
        with ModuleTracker() as tracker, CountingMode(tally, tracker, weights):
            out = _call(model, args, kwargs)
            if loss_fn is not None:
                roots = [loss_fn(out)]
                seeds: list[torch.Tensor] | None = None
            else:
                roots = [t for t in iter_tensors(out) if t.requires_grad and t.is_floating_point()]
                seeds = [torch.ones_like(t) for t in roots]
            if not roots or not all(r.requires_grad for r in roots):
                raise InputError(
                    "train=True needs an output (or loss_fn result) that depends on trainable "
                    "parameters; the model's outputs do not."
                )
            torch.autograd.grad(roots, params, seeds, allow_unused=True)
    return tally
