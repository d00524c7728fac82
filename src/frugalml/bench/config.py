"""The parameters of a bench run: one :class:`BenchConfig`, resolved into a :class:`Plan`.

The CLI (``frugal bench``, ``frugal demo``) and library users build the same object;
``config.plan()`` validates every value before any work and decides which technique runs on
which task (``Technique.applies_to``, derived from the techniques' declarations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frugalml._params import check_choice, check_number, unknown_name
from frugalml.bench.tasks import Task, all_tasks, get_task
from frugalml.reduce.registry import available_techniques

__all__ = ["SUITES", "BenchConfig", "Plan", "Suite", "default_tasks"]


@dataclass(frozen=True)
class Suite:
    repeats: int
    infer_seconds: float
    tasks: tuple[str, ...] | None  # None: every registered task
    techniques: tuple[str, ...] | None  # None: every technique that applies to the task


SUITES = {
    "quick": Suite(1, 0.3, None, None),
    "full": Suite(3, 1.0, None, None),
}


def default_tasks() -> list[str]:
    """The suites' tasks: every registered task but transfer sources (transfer trains them)."""
    return [n for n, t in all_tasks().items() if t.extra.get("role") != "transfer-source"]


@dataclass(frozen=True)
class Plan:
    """A validated config: the tasks, the techniques of each, the repeats and the suite."""

    suite: Suite
    tasks: list[Task]
    techniques: dict[str, list[str]]
    requested: list[str]
    repeats: int


@dataclass(frozen=True)
class BenchConfig:
    """Every parameter of a bench run.

    Attributes:
        suite: ``"quick"`` (1 repeat) or ``"full"`` (3 repeats, longer energy windows).
        tasks: task names (default: the suite's).
        techniques: technique names, run on every task (default: on each task, the
            techniques that apply to it, ``Technique.applies_to``).
        repeats: override the suite's repeats.
        seed: training seed of the first repeat (repeat r uses ``seed + r``).
        out_dir: where ``results.json`` goes (rewritten after every task).
        db: registry for the tracked runs (``False``: none).
        region, pue: carbon settings, as for the tracker.
        threads: torch intra-op threads during the bench (restored after). 1 by default:
            these small models gain nothing from more, and spinning threads waste energy;
            None keeps torch's setting.
        technique_params: per technique name, parameters overriding its defaults.

    Example:
        >>> BenchConfig(tasks=["iris-mlp"], techniques=["int8-dynamic"]).plan().techniques
        {'iris-mlp': ['int8-dynamic']}
    """

    suite: str = "quick"
    tasks: Sequence[str] | None = None
    techniques: Sequence[str] | None = None
    repeats: int | None = None
    seed: int = 0
    out_dir: str | Path | None = None
    db: str | bool | None = None
    region: str | None = None
    pue: float | str | None = None
    threads: int | None = 1
    technique_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def plan(self) -> Plan:
        """Validate every value and resolve the tasks and the techniques of each.

        Raises:
            InputError: an unknown suite, task or technique (listing the valid ones), or a
                bad repeats / seed / threads value.
        """
        check_choice("frugal bench", "suite", self.suite, SUITES)
        suite = SUITES[self.suite]
        tasks = [get_task(t) for t in (self.tasks or suite.tasks or default_tasks())]
        registry = available_techniques()
        names = list(
            self.techniques if self.techniques is not None else suite.techniques or registry
        )
        for name in names:
            if name not in registry:
                raise unknown_name("technique", name, registry)
        repeats = suite.repeats if self.repeats is None else self.repeats
        check_number("frugal bench", "repeats", repeats, low=1, integer=True)
        check_number("frugal bench", "seed", self.seed, low=0, integer=True)
        if self.threads is not None:
            check_number("frugal bench", "threads", self.threads, low=1, integer=True)
        explicit = self.techniques is not None
        per_task = {
            t.name: [n for n in names if explicit or registry[n].applies_to(t)] for t in tasks
        }
        return Plan(suite, tasks, per_task, names, repeats)

    def params_for(self, task: Task, name: str) -> dict[str, Any]:
        """The technique's parameters on ``task``: the task's recipe, then this config's."""
        return {
            **task.extra.get("technique_params", {}).get(name, {}),
            **self.technique_params.get(name, {}),
        }
