"""``frugal flops TARGET --input SHAPE``: count MACs, FLOPs, parameters and bytes of a model."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from frugalml import _fmt as fmt
from frugalml.profiler.target import DTYPES

# The inputs may take at most this share of the memory available now: the model's own
# activations need the rest.
INPUT_MEMORY_SHARE = 0.5


@click.command("flops")
@click.argument("target")
@click.option(
    "--input",
    "shapes",
    multiple=True,
    required=True,
    metavar="SHAPE",
    help="Input shape, e.g. 1x3x224x224 (optionally :int64); repeat for several inputs.",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default="float32",
    show_default=True,
    help="Model and input dtype.",
)
@click.option("--train", is_flag=True, help="Also count one training step (forward + backward).")
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Deepest module level in the tree (0 = the model only).",
)
@click.option(
    "--by",
    type=click.Choice(["module", "operator"]),
    default=None,
    help="Show only the module tree or only the operator table (default both).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--measure",
    is_flag=True,
    help="Also measure latency and energy per inference (takes a few seconds).",
)
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Timed runs for --measure.",
)
def flops(
    target: str,
    shapes: tuple[str, ...],
    dtype: str,
    train: bool,
    depth: int,
    by: str | None,
    as_json: bool,
    measure: bool,
    runs: int,
) -> None:
    """Count MACs and FLOPs (1 MAC = 2 FLOPs), parameters and bytes moved of a model.

    TARGET is package.module:callable or path/to/file.py:callable; the callable takes no
    arguments and returns a torch.nn.Module. Example:

        frugal flops mypkg.models:build --input 1x3x224x224 --depth 1
    """
    from frugalml._lazy import require

    torch = require("torch", "frugal flops")
    from frugalml.profiler import profile
    from frugalml.profiler.target import check_runs, load_model, make_input, parse_shape

    parsed = [parse_shape(s) for s in shapes]
    _check_fits(torch, parsed, shapes, dtype)
    model = load_model(target).to(getattr(torch, dtype))
    inputs = [make_input(shape, own or dtype, seed=i) for i, (shape, own) in enumerate(parsed)]
    check_runs(model, inputs, list(shapes))
    result = profile(
        model,
        tuple(inputs),
        train=train,
        latency_runs=runs if measure else 0,
        measure_energy=measure,
        state_dict_size=True,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(depth=depth), indent=2))
        return
    from frugalml.cli._common import console
    from frugalml.profiler.render import render

    console().print(render(result, depth=depth, by=by))


def _check_fits(
    torch: Any,
    parsed: list[tuple[tuple[int, ...], str | None]],
    shapes: tuple[str, ...],
    dtype: str,
) -> None:
    """Refuse inputs that cannot be allocated, before allocating them (no MemoryError, no
    swapping machine)."""
    import psutil

    from frugalml.errors import InputError

    need = 0
    for shape, own in parsed:
        # float inputs are drawn in float32 and then converted: count the larger of the two
        torch_dtype = getattr(torch, own or dtype)
        item = (
            max(torch_dtype.itemsize, 4) if torch_dtype.is_floating_point else torch_dtype.itemsize
        )
        need += math.prod(shape) * item
    available = psutil.virtual_memory().available
    if need > available * INPUT_MEMORY_SHARE:
        raise InputError(
            f"--input {', '.join(shapes)} needs {fmt.size(need)} for the input tensors alone; "
            f"this machine has {fmt.size(available)} of memory available. Use a smaller shape: "
            "FLOPs grow linearly with the batch, so count a batch of 1 and multiply."
        )
