"""Run a search: check, open the study, run the workers, account for the energy, write
``search.json``.

Energy accounting. Each trial's energy is measured in the process that runs it and stored on
the trial (:mod:`frugalml.search.tracking`). Each search command (a *session*) also measures
its whole process tree — itself and its worker processes — from start to end. What the
session used outside its trials (starting workers and importing torch, loading data, the
samplers' own computation, storage I/O, a weight-sharing supernet) is its
``overhead_energy_j = session energy - energy of the trials it ran``, recorded on the study
as the user attribute ``session:<id>``. The study's total is the sum of every trial's energy
and every session's overhead: each joule is counted once, whichever worker or machine spent
it, and a worker that dies takes no energy with it (its trials' energy stays in its session).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frugalml._lazy import require
from frugalml.errors import FrugalError, InputError
from frugalml.search.config import SearchConfig
from frugalml.search.results import FRUGAL_ATTR, search_result
from frugalml.search.samplers import grid_points, make_pruner, make_sampler
from frugalml.search.storage import StorageSpec, open_storage, resolve_storage
from frugalml.search.tracking import (
    SESSION_PREFIX,
    EnergyBudgetCallback,
    TrialTracker,
    search_energy_j,
)

__all__ = ["Progress", "SearchResult", "run_search"]

log = logging.getLogger(__name__)
POLL_S = 0.5


@dataclass(frozen=True)
class Progress:
    """What a progress display shows: this command's finished trials of ``total``, the best
    value so far (first objective, study-wide) and the study's energy so far (J)."""

    done: int
    total: int
    best: float | None
    energy_j: float


@dataclass
class SearchResult:
    """The ``search.json`` content (``data``), where it was written (``path``, or None), the
    Optuna study, and notes for the user (failed trials' reasons, the budget)."""

    data: dict[str, Any]
    path: Path | None
    study: Any = None
    notes: list[str] = field(default_factory=list)


class _UserObjective:
    """A user's objective, measured: every call runs inside :func:`tracked`."""

    def __init__(self, fn: Callable[[Any], Any], config: SearchConfig, session: str) -> None:
        self.fn = fn
        self.config = config
        self.session = session

    def __call__(self, trial: Any) -> Any:
        cfg = self.config
        with TrialTracker(trial, session=self.session, db=cfg.db, region=cfg.region, pue=cfg.pue):
            return self.fn(trial)


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


class _Session:
    """This command's own measurement (its process tree) and its record on the study."""

    def __init__(self, config: SearchConfig) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.config = config
        self.extra: dict[str, Any] = {}
        self._tracker: Any = None

    def start(self, study_name: str) -> None:
        from frugalml.measure.tracker import Tracker

        self.started = time.time()
        self._tracker = Tracker(
            f"search:{study_name}:session",
            db=False,
            handle_signals=False,
            region=self.config.region,
            pue=self.config.pue,
        )
        self._tracker.start()

    def finish(self, study: Any, workers: int) -> dict[str, Any]:
        """Stop measuring, close trials a dead worker left running, record the session."""
        run = self._tracker.stop()
        mine = [
            t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("session") == self.id
        ]
        for t in mine:
            if t.state.name == "RUNNING":  # its worker is gone: every worker has exited here
                _fail_trial(study, t)
        trial_j = sum(float(t.user_attrs.get("energy_j", 0.0)) for t in mine)
        total_j = float(run.energy_j["total"])
        overhead = max(0.0, total_j - trial_j)
        record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start": self.started,
            "end": time.time(),
            "workers": workers,
            "trials": len(mine),
            "energy_j": total_j,
            "trial_energy_j": trial_j,
            "overhead_energy_j": overhead,
            "overhead_co2e_g": run.co2e_g * overhead / total_j if total_j > 0 else 0.0,
            "energy_method": run.energy_method,
            **self.extra,
        }
        study.set_user_attr(SESSION_PREFIX + self.id, record)
        return record


def _fail_trial(study: Any, trial: Any) -> None:
    from optuna.trial import TrialState

    try:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study._storage.set_trial_user_attr(
            trial._trial_id, "fail_reason", "its worker process ended during the trial"
        )
    except Exception as e:  # already finished elsewhere, or the storage is gone
        log.warning("could not mark trial %s as failed: %s", trial.number, e)


def _quotas(n: int, workers: int) -> list[int]:
    k = max(1, min(workers, n))
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _worker(
    config: SearchConfig,
    objective: Any,
    index: int,
    quota: int,
    spec: StorageSpec,
    on_trial: Callable[[Any, Any], None] | None = None,
) -> None:
    """Run ``quota`` trials of the study in this process."""
    optuna = require("optuna", "frugal search")
    space = None
    if config.task is not None and not config.user_objective:
        from frugalml.bench.spaces import get_space

        require("torch", "frugal search").set_num_threads(config.threads)
        space = get_space(config.task, config.space, weight_sharing=config.weight_sharing)
    study = optuna.load_study(
        study_name=config.study_name,
        storage=open_storage(spec),
        sampler=make_sampler(config, index, config.n_trials),
        pruner=make_pruner(config, space),
    )
    if not isinstance(objective, _UserObjective):
        objective.warm_up()
    callbacks: list[Any] = []
    if config.budget_j is not None:
        callbacks.append(EnergyBudgetCallback(config.budget_j))
    if on_trial is not None:
        callbacks.append(on_trial)
    # a built-in trial that fails (a technique that cannot handle a model) is recorded as
    # failed, with its energy, and the search goes on; a user's objective fails as it wishes
    study.optimize(
        objective,
        n_trials=quota,
        callbacks=callbacks,
        catch=() if isinstance(objective, _UserObjective) else (Exception,),
    )


def _worker_process(
    config: SearchConfig, objective: Any, index: int, quota: int, spec: StorageSpec, errors: Any
) -> None:
    """Entry point of a spawned worker: errors go back to the parent as one line."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures: our own notes
    try:
        _worker(config, objective, index, quota, spec)
    except KeyboardInterrupt:
        errors.put((index, "interrupted"))
    except BaseException as e:  # reported by the parent, which decides the exit code
        errors.put((index, f"{type(e).__name__}: {e}"))
        raise SystemExit(1) from None


def _progress(study: Any, session: str, total: int, multi: bool) -> Progress:
    trials = study.get_trials(deepcopy=False)
    done = sum(
        1 for t in trials if t.user_attrs.get("session") == session and t.state.is_finished()
    )
    best = None
    if not multi:
        values = [t.value for t in trials if t.state.name == "COMPLETE" and t.value is not None]
        if values:
            best = (max if study.direction.name == "MAXIMIZE" else min)(values)
    return Progress(done, total, best, search_energy_j(study, trials))


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
    session = _Session(config)
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
            work = _UserObjective(objective, config, session.id)
        elif config.weight_sharing:
            work = _prepare_weight_sharing(config, session, space, study)
        else:
            from frugalml.search.objective import TaskObjective

            work = TaskObjective(config, session.id, space)
        _run_workers(config, work, n, spec, study, session.id, on_progress)
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


def _run_workers(
    config: SearchConfig,
    work: Any,
    n: int,
    spec: StorageSpec,
    study: Any,
    session: str,
    on_progress: Callable[[Progress], None] | None,
) -> None:
    quotas = _quotas(n, config.workers) if n > 0 else []
    report = (
        (lambda: on_progress(_progress(study, session, n, config.multi)))
        if on_progress is not None
        else (lambda: None)
    )
    report()
    if len(quotas) == 1:
        _worker(config, work, 0, quotas[0], spec, on_trial=lambda s, t: report())
    elif quotas:
        _spawn(config, work, quotas, spec, report)
    report()


def _spawn(
    config: SearchConfig, work: Any, quotas: list[int], spec: StorageSpec, report: Any
) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no fork under the tracker's sampler thread
    errors = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker_process,
            args=(config, work, i, q, spec, errors),
            name=f"frugal-search-{i}",
            daemon=True,
        )
        for i, q in enumerate(quotas)
    ]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(POLL_S)
            report()
    except KeyboardInterrupt:
        for p in procs:
            p.join(timeout=30)
        raise
    finally:
        for p in procs:
            p.join()
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    failures += [
        (
            i,
            f"it died with exit code {p.exitcode} without reporting (killed, out of memory, or "
            "a script starting workers without an `if __name__ == '__main__':` guard)",
        )
        for i, p in enumerate(procs)
        if p.exitcode and all(f[0] != i for f in failures)
    ]
    if failures:
        raise FrugalError(
            "; ".join(f"search worker {i} failed: {msg}" for i, msg in sorted(failures))
        )


def _prepare_weight_sharing(config: SearchConfig, session: _Session, space: Any, study: Any) -> Any:
    """Train the supernet (a registry run of its own) and return the candidates' objective."""
    from frugalml.measure.tracker import Tracker
    from frugalml.search import supernet as ws

    torch = require("torch", "frugal search")
    torch.set_num_threads(config.threads)
    work = ws.SupernetObjective(config, session.id, space, net=None)  # type: ignore[arg-type]
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
    _worker(config, work, 0, 1, spec)


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
