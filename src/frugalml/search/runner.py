"""Run a search: check, open the study, run the workers, account for the energy, write
``search.json``.

Energy accounting: each trial's energy is stored on the trial
(:mod:`frugalml.search.tracking`); each command's energy outside its trials on the study
(:mod:`frugalml.search.session`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frugalml._lazy import require
from frugalml.errors import InputError
from frugalml.search.config import SearchConfig
from frugalml.search.results import FRUGAL_ATTR, search_result
from frugalml.search.samplers import grid_points
from frugalml.search.session import Session
from frugalml.search.storage import StorageSpec, open_storage, resolve_storage
from frugalml.search.workers import Progress, UserObjective, run_worker, run_workers

__all__ = ["Progress", "SearchResult", "run_search"]

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    """The ``search.json`` content (``data``), where it was written (``path``, or None), the
    Optuna study, and notes for the user (failed trials' reasons, the budget)."""

    data: dict[str, Any]
    path: Path | None
    study: Any = None
    notes: list[str] = field(default_factory=list)


def _stored_objectives(config: SearchConfig) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": o.name, "direction": o.direction} for o in config.parsed_objectives()
    ]
    if config.max_train_energy_j is not None:
        out.append({"name": "train_energy_j", "max": float(config.max_train_energy_j)})
    return out


def _study_info(config: SearchConfig) -> dict[str, Any]:
    return {
        "task": config.task,
        "space": config.space if config.task else None,
        "weight_sharing": config.weight_sharing,
        "objectives": _stored_objectives(config),
    }


def _check_existing(storage: Any, config: SearchConfig, shown: str) -> bool:
    """Whether the study exists; raises InputError when it searches something else."""
    try:
        study_id = storage.get_study_id_from_name(config.study_name)
    except KeyError:
        return False
    stored = storage.get_study_user_attrs(study_id).get(FRUGAL_ATTR) or {}
    want = _study_info(config)
    directions = [d.name.lower() for d in storage.get_study_directions(study_id)]
    mine = [o["direction"] for o in want["objectives"] if "direction" in o]
    if directions != mine or (stored and stored.get("objectives") != want["objectives"]):

        def show(objs: list[dict[str, Any]]) -> str:
            return ",".join(
                o["name"] + (f"<={o['max']:g}" if "max" in o else "") for o in objs
            ) or ",".join(directions)

        raise InputError(
            f"Study {config.study_name!r} in {shown} has other objectives "
            f"({show(stored.get('objectives') or [])}) than this command ({show(want['objectives'])}). "
            "Pass the same --objectives/--max-train-energy-j, or another --study."
        )
    for key in ("task", "space", "weight_sharing"):
        if stored and stored.get(key) != want[key]:
            raise InputError(
                f"Study {config.study_name!r} in {shown} searches {key} {stored.get(key)!r}, not "
                f"{want[key]!r}. Use another --study."
            )
    return True


def _check_out_dir(out_dir: str | None) -> None:
    if out_dir is None:
        return
    p = Path(out_dir)
    if p.exists() and not p.is_dir():
        raise InputError(f"--out {out_dir} is a file, not a folder. Choose another --out.")
    existing = p
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        raise InputError(f"--out {out_dir}: {existing} is not writable. Choose another --out.")


def run_search(
    config: SearchConfig,
    objective: Callable[[Any], Any] | None = None,
    *,
    on_progress: Callable[[Progress], None] | None = None,
) -> SearchResult:
    """Run the search ``config`` describes (a task's space, or ``objective``) and write
    ``search.json``; see :func:`frugalml.search.optimize` for the user-facing form.

    Raises:
        InputError: bad configuration, unreachable storage, or an existing study that
            searches something else; nothing was written then.
        FrugalError: a worker process failed.
    """
    optuna = require("optuna", "frugal search")
    config.user_objective = objective is not None
    config.validate()
    spec = resolve_storage(config.storage, config.out_dir)
    if config.workers > 1 and spec.target.lower().startswith("sqlite"):
        log.warning(
            "SQLite may lock under %d concurrent workers; the default journal file (no "
            "--storage) or PostgreSQL is safe",
            config.workers,
        )
    _check_out_dir(config.out_dir)
    storage = open_storage(spec) if spec.exists else None
    exists = storage is not None and _check_existing(storage, config, spec.shown)
    # -- from here on, things are written ---------------------------------------------------
    if config.out_dir is not None:
        Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    if storage is None:
        Path(spec.target).parent.mkdir(parents=True, exist_ok=True)
        storage = open_storage(spec)
    directions = [o.direction for o in config.parsed_objectives()]
    study = optuna.create_study(
        storage=storage, study_name=config.study_name, directions=directions, load_if_exists=True
    )
    if FRUGAL_ATTR not in study.user_attrs:  # new, or created by plain Optuna
        study.set_user_attr(FRUGAL_ATTR, _study_info(config))
    session = Session(config)
    space = None
    if objective is None:
        from frugalml.bench.spaces import get_space

        space = get_space(str(config.task), config.space, weight_sharing=config.weight_sharing)
    n = config.n_trials
    if config.sampler == "grid":
        n = _enqueue_grid(study, config, space, exists)
    session.start(config.study_name)
    try:
        work: Any
        if objective is not None:
            work = UserObjective(objective, config, session.id)
        elif config.weight_sharing:
            work = _prepare_weight_sharing(config, session, space, study)
        else:
            from frugalml.search.objective import TaskObjective

            work = TaskObjective(config, session.id, space)
        run_workers(config, work, n, spec, study, session.id, on_progress)
        if config.weight_sharing:
            _retrain_best(config, work, spec, study)
    finally:  # also after an interrupt or a failed worker: what was measured is kept
        session.finish(study, min(config.workers, max(n, 1)))
        result = _write(study, config, spec)
    return result


def _enqueue_grid(study: Any, config: SearchConfig, space: Any, exists: bool) -> int:
    """Enqueue the grid on a new study; returns how many trials this command runs."""
    from optuna.trial import TrialState

    if space is None:
        raise InputError("--sampler grid needs a task's space (a user objective declares none).")
    if not exists:
        for point in grid_points(space, config.n_trials, config.seed):
            study.enqueue_trial(point, skip_if_exists=True)
    waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    return min(config.n_trials, waiting)


def _prepare_weight_sharing(config: SearchConfig, session: Session, space: Any, study: Any) -> Any:
    """Train the supernet (a registry run of its own) and return the candidates' objective."""
    from frugalml.measure.tracker import Tracker
    from frugalml.search import supernet as ws

    torch = require("torch", "frugal search")
    torch.set_num_threads(config.threads)
    work = ws.SupernetObjective(config, session.id, space)
    data, _, _ = work.task_objective._data()
    with Tracker(
        f"search:{study.study_name}:supernet",
        db=config.db,
        region=config.region,
        pue=config.pue,
        tags={"study": study.study_name, "role": "supernet"},
        handle_signals=False,
    ) as run:
        torch.manual_seed(config.seed)
        net = ws.build_supernet(space, data.n_classes)
        steps = ws.train_supernet(net, space, data, config.seed)
    work.net = net
    session.extra.update(
        supernet_energy_j=run.energy_j["total"], supernet_steps=steps, supernet_run_id=run.id
    )
    return work


def _retrain_best(config: SearchConfig, work: Any, spec: StorageSpec, study: Any) -> None:
    """Train the best candidate's architecture alone, as one more (measured) trial."""
    candidates = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state.name == "COMPLETE" and t.user_attrs.get("role") != "retrain"
    ]
    if not candidates:
        return
    best = max(candidates, key=lambda t: (t.value, -t.number))
    study.enqueue_trial(dict(best.params), user_attrs={"role": "retrain", "candidate": best.number})
    run_worker(config, work, 0, 1, spec)


def _write(study: Any, config: SearchConfig, spec: StorageSpec) -> SearchResult:
    import json

    from frugalml._fs import write_text_atomic

    data = search_result(
        study,
        storage_shown=spec.shown,
        sampler=config.sampler,
        pruner=config.pruner_name,
        extra={
            "task": config.task,
            "space": config.space if config.task else None,
            "weight_sharing": config.weight_sharing,
            "seed": config.seed,
            "budget_j": config.budget_j,
            "n_trials": config.n_trials,
            "workers": config.workers,
        },
    )
    path = None
    if config.out_dir is not None:
        path = Path(config.out_dir) / "search.json"
        write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")
    notes = [
        f"trial {t.number} failed: {t.user_attrs['fail_reason']}"
        for t in study.get_trials(deepcopy=False)
        if t.state.name == "FAIL" and t.user_attrs.get("fail_reason")
    ][:3]
    if config.budget_j is not None and data["total_energy_j"] >= config.budget_j:
        notes.append(
            f"energy budget reached: {data['total_energy_j']:.4g} J of {config.budget_j:g} J "
            "(the trials running then finished or were pruned at their next epoch)"
        )
    return SearchResult(data, path, study, notes)
