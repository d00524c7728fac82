"""The one parameter list of a search, checked before anything is opened or written.

:class:`SearchConfig` is what ``frugal search`` builds from its options and what
:func:`frugalml.search.optimize` builds from its keyword arguments; every later step reads it.
``validate()`` checks names and numbers only (no storage, no files), so bad input fails with
one line before the search touches anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from frugalml._params import check_number, unknown_name
from frugalml.errors import InputError

__all__ = ["OBJECTIVES", "PRUNERS", "SAMPLERS", "Objective", "SearchConfig"]

#: Objectives the built-in task objective computes, with their direction.
OBJECTIVES: dict[str, str] = {
    "accuracy": "maximize",
    "train_energy_j": "minimize",
    "infer_energy_j_per_1k": "minimize",
    "energy_j": "minimize",
    "macs": "minimize",
}
SAMPLERS = ("tpe", "random", "grid", "nsga2")
PRUNERS = ("none", "median", "hyperband")
DIRECTIONS = ("maximize", "minimize")

MULTI_OBJECTIVE_PRUNING = (
    "Optuna cannot prune multi-objective trials: use --pruner none, or a single objective "
    "(accuracy) with --max-train-energy-j J, which can be pruned."
)


@dataclass(frozen=True)
class Objective:
    """One objective: a name and whether larger (``maximize``) or smaller is better."""

    name: str
    direction: str

    @classmethod
    def parse(cls, text: str, *, known_only: bool) -> Objective:
        """``accuracy`` or ``name:maximize`` / ``name:minimize`` (the latter for own objectives)."""
        name, _, direction = text.strip().partition(":")
        if not direction:
            if name not in OBJECTIVES:
                if known_only:
                    raise unknown_name("objective", name, OBJECTIVES)
                raise InputError(
                    f"Objective {name!r} needs a direction: write {name}:maximize or "
                    f"{name}:minimize (known objectives: {', '.join(OBJECTIVES)})."
                )
            return cls(name, OBJECTIVES[name])
        if known_only and name not in OBJECTIVES:
            raise unknown_name("objective", name, OBJECTIVES)
        if direction not in DIRECTIONS:
            raise InputError(
                f"Objective {text!r}: the direction must be maximize or minimize, got "
                f"{direction!r}."
            )
        return cls(name, direction)


@dataclass
class SearchConfig:
    """Everything a search needs; ``frugal search`` flags map one to one.

    Attributes:
        task: bench task name (None when searching a user objective).
        space: ``hpo``, ``nas`` or ``joint``.
        sampler: ``tpe``, ``random``, ``grid`` or ``nsga2``.
        pruner: ``none``, ``median`` or ``hyperband``; None picks ``median`` for one objective
            and ``none`` for several.
        n_trials: trials this command runs (split over its workers; the grid sampler runs at
            most the grid's size).
        budget_j: stop when every trial of the study together has used this much energy (J).
        objectives: objective names (``accuracy``, ``train_energy_j``, ...), or
            ``name:maximize`` for a user objective's own values.
        max_train_energy_j: constraint on a trial's training energy (J): trials above it are
            infeasible, and pruned as soon as they exceed it.
        storage: Optuna storage URL (``postgresql://...``, ``sqlite:///...``), or a path of a
            journal file; None: ``<out_dir>/search.journal``.
        study: study name; None: ``<task>-<space>`` (``-ws`` with weight sharing).
        workers: local worker processes.
        seed: seeds the sampler (worker ``i`` uses ``seed + i``) and every trial's training.
        out_dir: where ``search.json`` (and the default journal) go.
        db: registry for the trials' runs (URL or path; None: the default; False: none).
        weight_sharing: ENAS-style search over one supernet (``space="nas"`` only).
        region, pue: for CO2e, as for the tracker.
        threads: torch threads per worker.
        infer_seconds: length of each completed trial's inference-energy measurement (s).
    """

    task: str | None = None
    space: str = "joint"
    sampler: str = "tpe"
    pruner: str | None = None
    n_trials: int = 20
    budget_j: float | None = None
    objectives: tuple[str, ...] = ("accuracy",)
    max_train_energy_j: float | None = None
    storage: str | None = None
    study: str | None = None
    workers: int = 1
    seed: int = 0
    out_dir: str | None = "frugal-out/search"
    db: str | bool | None = None
    weight_sharing: bool = False
    region: str | None = None
    pue: float | str | None = None
    threads: int = 1
    infer_seconds: float = 0.2
    user_objective: bool = field(default=False, repr=False)

    # -- derived ------------------------------------------------------------------------------
    def parsed_objectives(self) -> list[Objective]:
        return [Objective.parse(o, known_only=not self.user_objective) for o in self.objectives]

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def pruner_name(self) -> str:
        if self.pruner is not None:
            return self.pruner
        return "none" if self.multi or self.weight_sharing else "median"

    @property
    def study_name(self) -> str:
        if self.study:
            return self.study
        base = f"{self.task or 'objective'}-{self.space if self.task else 'search'}"
        return base + ("-ws" if self.weight_sharing else "")

    # -- checks -------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`InputError` (one line naming the value and the fix) on bad input."""
        if not self.user_objective:
            from frugalml.bench.spaces import SPACES, get_space

            if self.task is None:
                raise InputError("No task given: pass --task NAME (see `frugal bench --list`).")
            if self.space not in SPACES:
                raise unknown_name("space", self.space, SPACES)
            get_space(self.task, self.space)  # unknown task, or one without a space
        if self.sampler not in SAMPLERS:
            raise unknown_name("sampler", self.sampler, SAMPLERS)
        if self.pruner is not None and self.pruner not in PRUNERS:
            raise unknown_name("pruner", self.pruner, PRUNERS)
        if not self.objectives:
            raise InputError("No objective given: pass --objectives accuracy (the default).")
        names = [o.name for o in self.parsed_objectives()]
        if len(set(names)) != len(names):
            raise InputError(f"An objective is listed twice in {','.join(self.objectives)}.")
        if self.multi and self.pruner not in (None, "none"):
            raise InputError(MULTI_OBJECTIVE_PRUNING)
        self._check_int("--trials", self.n_trials, 1)
        self._check_int("--workers", self.workers, 1)
        self._check_int("--seed", self.seed, 0)
        self._check_int("--threads", self.threads, 1)
        self._check_positive("--budget-j", self.budget_j)
        self._check_positive("--max-train-energy-j", self.max_train_energy_j)
        check_number("SearchConfig", "infer_seconds", self.infer_seconds, low=0, low_open=True)
        if self.weight_sharing:
            if self.user_objective or self.space != "nas":
                raise InputError(
                    "--weight-sharing searches architectures: use it with --space nas and a task."
                )
            if self.multi or names != ["accuracy"]:
                raise InputError(
                    "--weight-sharing optimises accuracy only; drop --objectives or pass "
                    "--objectives accuracy."
                )
            if self.workers != 1:
                raise InputError(
                    "--weight-sharing evaluates its candidates on one supernet held in memory: "
                    "use --workers 1 (evaluations take milliseconds)."
                )
        if self.study is not None and not self.study.strip():
            raise InputError("--study is empty: give a name, e.g. --study digits-joint.")
        from frugalml.carbon.regions import resolve_pue, resolve_region

        resolve_pue(self.pue, resolve_region(self.region)[0])  # unknown region, bad PUE
        if self.db is not False and self.db is not True:
            from frugalml.store.url import resolve_db_url

            resolve_db_url(self.db)  # a malformed registry URL

    @staticmethod
    def _check_int(flag: str, value: Any, low: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{flag} must be an integer >= {low}; got {value!r}.")

    @staticmethod
    def _check_positive(flag: str, value: Any) -> None:
        if value is None:
            return
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not value > 0 or value == float("inf"):
            raise InputError(f"{flag} must be a number of joules > 0; got {value!r}.")
