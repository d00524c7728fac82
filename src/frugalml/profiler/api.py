"""``frugalml.profile``: count, size and optionally measure a PyTorch model."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml._params import check_number
from frugalml.errors import InputError
from frugalml.profiler.result import Profile

if TYPE_CHECKING:
    import torch

    from frugalml.profiler.counting import Tally

__all__ = ["profile"]


def _split_inputs(example_inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if isinstance(example_inputs, tuple | list):
        return tuple(example_inputs), {}
    return (example_inputs,), {}


def _module_names(model: torch.nn.Module) -> dict[str, str]:
    """Names as ``torch.utils.module_tracker`` gives them -> class name, in model order."""
    root = type(model).__name__
    return {
        (f"{root}.{name}" if name else root): type(module).__name__
        for name, module in model.named_modules()
    }


def _ordered(names: dict[str, str], counts: dict[str, Any], attr: str) -> dict[str, int]:
    """Counts in model order (modules first, then modules outside the model)."""
    ordered = {n: getattr(counts[n], attr) for n in names if n in counts}
    ordered.update({n: getattr(v, attr) for n, v in counts.items() if n not in ordered})
    return ordered


def _sorted(values: dict[str, int]) -> dict[str, int]:
    return dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))


def _sync(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[], None]:
    import torch

    from frugalml.profiler.traffic import iter_tensors

    if any(t.is_cuda for t in [*iter_tensors(args), *iter_tensors(kwargs)]):
        return torch.cuda.synchronize
    return lambda: None


def profile(
    model: torch.nn.Module,
    example_inputs: Any,
    *,
    train: bool = False,
    loss_fn: Callable[[Any], torch.Tensor] | None = None,
    latency_runs: int = 0,
    warmup_runs: int = 3,
    measure_energy: bool = False,
    energy_min_duration_s: float = 0.5,
    track: Callable[..., Any] | None = None,
    state_dict_size: bool = False,
    count_nonzero: bool = True,
) -> Profile:
    """Count MACs/FLOPs, parameters and bytes of ``model`` on ``example_inputs``.

    Counting runs on PyTorch's dispatcher, so it is exact for the operators that run,
    functional calls and custom modules included; operators without a rule are listed
    in ``unknown_operators``. The model, its outputs, buffers, ``.grad`` and the RNG
    state are left as they were.

    Args:
        model: the model (any ``torch.nn.Module``).
        example_inputs: a tensor, a tuple/list of positional inputs, or a dict of keyword
            inputs. The batch size is the first dimension of the first tensor.
        train: also count one training step (forward + backward) as dispatched.
        loss_fn: ``loss_fn(output) -> scalar`` for the training step; default seeds the
            backward with ones on every floating-point output (no loss counted).
        latency_runs: time this many forward passes (0 = no timing).
        warmup_runs: untimed passes before timing.
        measure_energy: measure energy per inference with ``frugalml.track``.
        energy_min_duration_s: the least time (s) to measure energy over.
        track: stand-in for ``frugalml.track`` (tests, custom sensors).
        state_dict_size: also compute ``state_dict_bytes``, the exact size of
            ``torch.save(model.state_dict())`` (serialising costs a copy of every weight
            byte; ``size_bytes``, from the tensors, is always there).
        count_nonzero: count the non-zero weights, for ``params_nonzero`` and the
            effective MACs/FLOPs of pruned models. It reads every weight once more: on a
            model whose cost is its weights (AlexNet at batch 1) that is about one more
            forward pass; False skips it and leaves those fields None.

    Returns:
        A :class:`Profile`.

    Example:
        >>> import torch, frugalml
        >>> p = frugalml.profile(torch.nn.Linear(128, 10), torch.randn(32, 128))
        >>> p.macs, p.flops  # 32*128*10 MACs; FLOPs add 32*10 bias additions
        (40960, 82240)
    """
    torch = require("torch", "frugalml.profile")
    from frugalml.profiler.params import param_stats
    from frugalml.profiler.passes import count_forward, count_train_step, model_weights
    from frugalml.profiler.traffic import iter_tensors

    if not isinstance(model, torch.nn.Module):
        raise InputError(
            f"frugalml.profile needs a torch.nn.Module; got {type(model).__name__}. "
            "Pass the model object, not its class or a function that builds it."
        )
    check_number("profile", "latency_runs", latency_runs, low=0, integer=True)
    check_number("profile", "warmup_runs", warmup_runs, low=0, integer=True)
    check_number("profile", "energy_min_duration_s", energy_min_duration_s, low=0, low_open=True)
    args, kwargs = _split_inputs(example_inputs)
    tensors = [*iter_tensors(args), *iter_tensors(kwargs)]
    batch_size = int(tensors[0].shape[0]) if tensors and tensors[0].dim() else 1

    weights = model_weights(model, count_nonzero)  # one non-zero count per weight, shared
    forward, _ = count_forward(model, args, kwargs, weights)
    names = _module_names(model)
    stats = param_stats(model, weights=weights, state_dict_size=state_dict_size)
    result = Profile(
        batch_size=batch_size,
        input_shapes=[list(t.shape) for t in tensors],
        macs=forward.macs,
        flops=forward.flops,
        macs_effective=forward.macs_effective if count_nonzero else None,
        flops_effective=forward.flops_effective if count_nonzero else None,
        macs_by_dtype=dict(forward.macs_by_dtype),
        params=stats.params,
        params_trainable=stats.params_trainable,
        params_nonzero=stats.params_nonzero,
        size_bytes=stats.size_bytes,
        size_bytes_by_dtype=stats.size_bytes_by_dtype,
        state_dict_bytes=stats.state_dict_bytes,
        bytes_moved=forward.bytes,
        bytes_moved_weights=forward.bytes_weights,
        bytes_moved_by_dtype=dict(forward.bytes_by_dtype),
        arithmetic_intensity=forward.flops / forward.bytes if forward.bytes else 0.0,
        by_module=_ordered(names, forward.by_module, "macs"),
        by_module_flops=_ordered(names, forward.by_module, "flops"),
        module_types=names,
        by_operator=_sorted({k: v.flops for k, v in forward.by_operator.items()}),
        by_operator_macs={k: v.macs for k, v in forward.by_operator.items()},
        by_operator_calls={k: v.calls for k, v in forward.by_operator.items()},
        unknown_operators=dict(forward.unknown),
    )
    if train:
        _add_train_step(result, count_train_step(model, args, kwargs, loss_fn, count_nonzero))
        if not count_nonzero:
            result.train_step_flops_effective = None
    if latency_runs or measure_energy:
        _measure(
            result,
            model,
            (args, kwargs),
            latency_runs=latency_runs,
            warmup_runs=warmup_runs,
            measure_energy=measure_energy,
            energy_min_duration_s=energy_min_duration_s,
            track=track,
        )
    return result


def _add_train_step(result: Profile, step: Tally) -> None:
    result.train_step_macs = step.macs
    result.train_step_flops = step.flops
    result.train_step_flops_effective = step.flops_effective
    result.train_step_by_operator = _sorted({k: v.flops for k, v in step.by_operator.items()})
    result.train_step_unknown_operators = dict(step.unknown)


def _measure(
    result: Profile,
    model: torch.nn.Module,
    inputs: tuple[tuple[Any, ...], dict[str, Any]],
    *,
    latency_runs: int,
    warmup_runs: int,
    measure_energy: bool,
    energy_min_duration_s: float,
    track: Callable[..., Any] | None,
) -> None:
    """Time the forward pass (eval, no_grad, fast paths as the user set them), then energy."""
    import torch

    from frugalml.profiler.latency import measure_energy as energy_of
    from frugalml.profiler.latency import measure_latency
    from frugalml.profiler.passes import preserved

    args, kwargs = inputs
    sync = _sync(args, kwargs)

    def forward() -> None:
        model(*args, **kwargs)

    with preserved(model, buffers=False, fastpath_off=False), torch.no_grad():
        model.eval()
        # Without timed runs, 3 passes still size the energy measurement.
        runs = latency_runs if latency_runs else 3
        latency = measure_latency(
            forward, runs=runs, warmup_runs=warmup_runs, batch_size=result.batch_size, sync=sync
        )
        if latency_runs:
            result.latency = latency
        if measure_energy:
            if track is None:
                import frugalml

                track = frugalml.track
            result.energy = energy_of(
                forward,
                batch_size=result.batch_size,
                seconds_per_batch=latency.median_s,
                min_duration_s=energy_min_duration_s,
                track=track,
                sync=sync,
            )
