"""Worker processes of a search: each runs its share of the trials through
``study.optimize``; the parent shows progress by reading the storage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from frugalml._lazy import require
from frugalml.errors import FrugalError
from frugalml.search.config import SearchConfig
from frugalml.search.samplers import make_pruner, make_sampler
from frugalml.search.storage import StorageSpec, open_storage
from frugalml.search.tracking import EnergyBudgetCallback, TrialTracker, search_energy_j

__all__ = ["Progress", "UserObjective", "run_worker", "run_workers"]

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


class UserObjective:
    """A user's objective, measured: every call runs inside :func:`tracked`."""

    def __init__(self, fn: Callable[[Any], Any], config: SearchConfig, session: str) -> None:
        self.fn = fn
        self.config = config
        self.session = session

    def __call__(self, trial: Any) -> Any:
        cfg = self.config
        with TrialTracker(trial, session=self.session, db=cfg.db, region=cfg.region, pue=cfg.pue):
            return self.fn(trial)


def _quotas(n: int, workers: int) -> list[int]:
    k = max(1, min(workers, n))
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def run_worker(
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
    if not isinstance(objective, UserObjective):
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
        catch=() if isinstance(objective, UserObjective) else (Exception,),
    )


def _worker_process(
    config: SearchConfig, objective: Any, index: int, quota: int, spec: StorageSpec, errors: Any
) -> None:
    """Entry point of a spawned worker: errors go back to the parent as one line."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures: our own notes
    try:
        run_worker(config, objective, index, quota, spec)
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


def run_workers(
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
        run_worker(config, work, 0, quotas[0], spec, on_trial=lambda s, t: report())
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
