"""``frugal advise RUN_ID``: where, when and how a measured run would cost less."""

from __future__ import annotations

import json

import click

from frugalml.cli._common import console, db_option


@click.command("advise")
@click.argument("run_id")
@click.option(
    "--intensity-csv",
    metavar="FILE",
    default=None,
    help="Forecast grid intensity (timestamp,g_per_kwh rows) to choose a start time.",
)
@click.option(
    "--model",
    "target",
    metavar="MODULE:FN",
    default=None,
    help="Your model (package.module:callable or file.py:callable) to measure techniques on.",
)
@click.option(
    "--input", "shape", metavar="SHAPE", default=None, help="Input batch shape, e.g. 256x64."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Tables for people, JSON for machines.",
)
@click.option(
    "--sparsity",
    type=float,
    default=0.9,
    show_default=True,
    help="magnitude-prune's sparsity (no fine-tuning: an upper bound).",
)
@click.option(
    "--seconds",
    type=float,
    default=1.0,
    show_default=True,
    help="Length of each inference-energy window.",
)
@click.option(
    "--repeats", type=int, default=3, show_default=True, help="Interleaved rounds (median)."
)
@click.option(
    "--threads",
    type=int,
    default=1,
    show_default=True,
    help="Torch threads while measuring (1, as frugal bench).",
)
@db_option
def advise(
    run_id: str,
    intensity_csv: str | None,
    target: str | None,
    shape: str | None,
    fmt: str,
    sparsity: float,
    seconds: float,
    repeats: int,
    threads: int,
    db: str | None,
) -> None:
    """Advise where, when and how the run RUN_ID (an id or a unique prefix) would cost less.

    Where: the run's energy on every grid frugalml knows. When (--intensity-csv): the start
    time that minimises its CO2e. How (--model, --input): techniques measured on your model
    here, then the bench's figures for those that need your data. Example:

    \b
        frugal advise 3f9c --intensity-csv forecast.csv \\
            --model mypkg.models:build --input 64x128
    """
    from frugalml._params import check_number
    from frugalml.carbon.intensity import IntensityTimeline
    from frugalml.errors import InputError
    from frugalml.store import open_registry

    check_number("frugal advise", "sparsity", sparsity, low=0, high=1, high_open=True)
    check_number("frugal advise", "seconds", seconds, low=0, low_open=True)
    check_number("frugal advise", "repeats", repeats, low=1, integer=True)
    check_number("frugal advise", "threads", threads, low=1, integer=True)
    if (target is None) != (shape is None):
        given, missing = ("--model", "--input") if shape is None else ("--input", "--model")
        raise InputError(
            f"{given} needs {missing}: give both, e.g. --model pkg.mod:build --input 1x64."
        )
    store = open_registry(
        db
    )  # unknown run, bad CSV and bad model fail here, before any measurement
    try:
        store.get_run(run_id)
    finally:
        store.close()
    if intensity_csv:
        IntensityTimeline.from_csv(intensity_csv)
    model = example = None
    if target is not None and shape is not None:
        from frugalml._lazy import require

        require("torch", "frugal advise --model")
        from frugalml.profiler.target import check_runs, load_model, make_input, parse_shape

        dims, dtype = parse_shape(shape)
        model = load_model(target)
        example = make_input(dims, dtype or "float32")
        check_runs(model, [example], [shape])
    from rich.progress import Progress

    from frugalml.advise import advise as run_advise

    with Progress(console=console(stderr=True), transient=True) as progress:
        task = progress.add_task("measuring your model", total=None, visible=model is not None)

        def step(desc: str) -> None:
            progress.update(task, description=f"measuring {desc}")

        advice = run_advise(
            run_id,
            db=db,
            intensity=intensity_csv,
            model=model,
            example=example,
            sparsity=sparsity,
            seconds=seconds,
            repeats=repeats,
            threads=threads,
            on_step=step,
        )
    if fmt == "json":
        click.echo(json.dumps(advice.to_dict(), indent=2))
        return
    from frugalml.advise.render import render_advice

    out = console()
    for part in render_advice(advice):
        out.print(part)
