"""``frugal search``: energy-aware hyperparameter and architecture search on Optuna."""

from __future__ import annotations

from typing import Any

import click

from frugalml.cli._common import console, db_option


@click.command()
@click.option(
    "--task", default=None, metavar="NAME", help="Bench task (see `frugal bench --list`)."
)
@click.option(
    "--space",
    default="joint",
    show_default=True,
    metavar="hpo|nas|joint",
    help="hpo: the recipe; nas: the architecture; joint: both plus a post-training technique.",
)
@click.option(
    "--sampler", default="tpe", show_default=True, metavar="tpe|random|grid|nsga2", help="Sampler."
)
@click.option(
    "--pruner",
    default=None,
    metavar="none|median|hyperband",
    help="Stops unpromising trials after an epoch (default: median; none with several "
    "objectives: Optuna cannot prune multi-objective trials, use one objective with "
    "--max-train-energy-j instead).",
)
@click.option(
    "--trials",
    "n_trials",
    type=int,
    default=20,
    show_default=True,
    help="Trials this command runs, split over its workers (grid: at most the grid's size).",
)
@click.option(
    "--budget-j",
    type=float,
    default=None,
    metavar="J",
    help="Stop when the study's trials (every worker's) have used this many joules.",
)
@click.option(
    "--objectives",
    default="accuracy",
    show_default=True,
    metavar="NAME,NAME",
    help="accuracy (validation, maximised), train_energy_j, infer_energy_j_per_1k, energy_j, "
    "macs (minimised). Several give a Pareto front (not prunable).",
)
@click.option(
    "--max-train-energy-j",
    type=float,
    default=None,
    metavar="J",
    help="Constraint: trials whose training uses more are infeasible, and pruned when they pass it.",
)
@click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="Optuna storage: postgresql://..., sqlite:///..., or a journal file path "
    "(default: DIR/search.journal). The same --study and --storage elsewhere joins the study.",
)
@click.option("--study", default=None, metavar="NAME", help="Study name (default: TASK-SPACE).")
@click.option("--workers", type=int, default=1, show_default=True, help="Local worker processes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampler and training seed.")
@click.option(
    "--out",
    "out_dir",
    default="frugal-out/search",
    show_default=True,
    metavar="DIR",
    help="Where search.json (and the default journal) go.",
)
@click.option(
    "--weight-sharing",
    is_flag=True,
    help="With --space nas: train one supernet, evaluate candidates by slicing it, retrain the best.",
)
@click.option("--region", "-r", default=None, help="Grid region for CO2e (see `frugal regions`).")
@click.option("--pue", default=None, help="PUE (>= 1) or 'datacenter'.")
@click.option("--threads", type=int, default=1, show_default=True, help="torch threads per worker.")
@db_option
def search(
    task: str | None,
    space: str,
    sampler: str,
    pruner: str | None,
    n_trials: int,
    budget_j: float | None,
    objectives: str,
    max_train_energy_j: float | None,
    storage: str | None,
    study: str | None,
    workers: int,
    seed: int,
    out_dir: str,
    weight_sharing: bool,
    region: str | None,
    pue: str | None,
    threads: int,
    db: str | None,
) -> None:
    """Search a task's space with every trial measured; write DIR/search.json.

    Each trial trains under the tracker and is a registry run tagged with the study and trial
    number; pruned and failed trials' energy is charged to the search, whose total (trials plus
    the workers' own overhead) is printed at the end.
    """
    from frugalml.search import SearchConfig, run_search

    pue_value: Any = pue
    if pue is not None:
        try:
            pue_value = float(pue)
        except ValueError:
            pass
    config = SearchConfig(
        task=task,
        space=space,
        sampler=sampler,
        pruner=pruner,
        n_trials=n_trials,
        budget_j=budget_j,
        objectives=tuple(o.strip() for o in objectives.split(",") if o.strip()),
        max_train_energy_j=max_train_energy_j,
        storage=storage,
        study=study,
        workers=workers,
        seed=seed,
        out_dir=out_dir,
        db=db,
        weight_sharing=weight_sharing,
        region=region,
        pue=pue_value,
        threads=threads,
    )
    config.validate()  # bad input: one line, before anything is opened
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures: our own notes
    out = console()
    with _bar(out) as (progress, update):
        result = run_search(config, on_progress=update)
    del progress
    from frugalml.search.render import summary_lines

    for line in summary_lines(result.data, result.path, result.notes):
        out.print(line)


class _bar:
    """A Rich progress bar: trials done, best so far, energy spent, ETA."""

    def __init__(self, out: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=out,
        )
        self.task: Any = None

    def __enter__(self) -> tuple[Any, Any]:
        self.progress.__enter__()
        return self.progress, self.update

    def update(self, p: Any) -> None:
        from frugalml import _fmt as fmt

        best = "—" if p.best is None else f"{p.best:.4g}"
        text = f"best {best} · {fmt.energy(p.energy_j)} spent"
        if self.task is None:
            self.task = self.progress.add_task(text, total=max(p.total, 1))
        self.progress.update(self.task, completed=p.done, total=max(p.total, 1), description=text)

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)
