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

from frugalml._params import check_choice, check_number
from frugalml.bench.chain import Stack, parse_stack
from frugalml.bench.tasks import Task, all_tasks, get_task
from frugalml.errors import InputError
from frugalml.reduce.registry import available_techniques, get_technique

__all__ = ["DEVICES", "SUITES", "BenchConfig", "Plan", "Suite", "default_tasks", "resolve_device"]

#: ``--device`` values: ``auto`` is ``cuda`` when PyTorch sees a CUDA GPU, else ``cpu``.
DEVICES = ("cpu", "cuda", "auto")


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
    """A validated config: the tasks, the rows of each (recipe names), the repeats, the
    suite and the device.

    ``stacks`` maps every row name to its parsed recipe (one step for a plain technique).
    """

    suite: Suite
    tasks: list[Task]
    techniques: dict[str, list[str]]
    requested: list[str]
    repeats: int
    device: str = "cpu"
    stacks: dict[str, Stack] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchConfig:
    """Every parameter of a bench run.

    Attributes:
        suite: ``"quick"`` (1 repeat) or ``"full"`` (3 repeats, longer energy windows).
        tasks: task names (default: the suite's).
        techniques: technique names or recipes of several (``"distill+int8-static"``,
            with optional parameters per step: :mod:`frugalml.bench.chain`), run on every
            task (default: on each task, the techniques that apply to it,
            ``Technique.applies_to``, then the task's declared ``stacks``).
        repeats: override the suite's repeats.
        seed: training seed of the first repeat (repeat r uses ``seed + r``).
        out_dir: where ``results.json`` goes (rewritten after every task).
        db: registry for the tracked runs (``False``: none).
        region, pue: carbon settings, as for the tracker.
        threads: torch intra-op threads during the bench (restored after). 1 by default:
            these small models gain nothing from more, and spinning threads waste energy;
            None keeps torch's setting.
        technique_params: per technique name, parameters overriding its defaults (a
            recipe's own parameters override these).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (:func:`resolve_device`): where tasks
            train and models are measured; a technique whose kernels the device lacks runs
            on the CPU (``Technique.devices``) and its verdict says so.

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
    device: str = "cpu"

    def plan(self) -> Plan:
        """Validate every value and resolve the tasks and the techniques of each.

        Raises:
            InputError: an unknown suite, task, technique or device (listing the valid
                ones), a malformed recipe, a bad repeats / seed / threads value, or
                ``device="cuda"`` on a machine where PyTorch sees no CUDA GPU.
        """
        check_choice("frugal bench", "suite", self.suite, SUITES)
        suite = SUITES[self.suite]
        tasks = [get_task(t) for t in (self.tasks or suite.tasks or default_tasks())]
        registry = available_techniques()
        explicit = self.techniques is not None
        stacks: dict[str, Stack] = {}

        def parsed(spec: str) -> str:
            stack = parse_stack(spec, registry)
            for step in stack.steps:  # names and values written in the recipe are valid
                get_technique(step.name, **step.params)._check_params()
            stacks[stack.name] = stack
            return stack.name

        wanted = list(self.techniques) if self.techniques is not None else None
        if wanted is None:
            wanted = list(suite.techniques or registry)
        names = [parsed(n) for n in wanted]
        repeats = suite.repeats if self.repeats is None else self.repeats
        check_number("frugal bench", "repeats", repeats, low=1, integer=True)
        check_number("frugal bench", "seed", self.seed, low=0, integer=True)
        if self.threads is not None:
            check_number("frugal bench", "threads", self.threads, low=1, integer=True)
        device = resolve_device(self.device)
        per_task: dict[str, list[str]] = {}
        for t in tasks:
            rows = [n for n in names if explicit or registry[n].applies_to(t)]
            if not explicit:
                rows += [parsed(spec) for spec in t.stacks if parse_stack(spec).name not in rows]
            per_task[t.name] = list(dict.fromkeys(rows))
        return Plan(suite, tasks, per_task, names, repeats, device, stacks)

    def params_for(
        self, task: Task, name: str, recipe: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The technique's parameters on ``task``: the task's recipe, then this config's,
        then those written in the row's recipe (``distill(student_width=0.2)``)."""
        return {
            **task.extra.get("technique_params", {}).get(name, {}),
            **self.technique_params.get(name, {}),
            **(recipe or {}),
        }


def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a ``--device`` value.

    Raises:
        InputError: an unknown value, or ``"cuda"`` where PyTorch sees no CUDA GPU.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    check_choice("frugal bench", "device", device, DEVICES)
    if device == "cpu":
        return "cpu"
    from frugalml._lazy import require

    torch = require("torch", "frugal bench")
    if torch.cuda.is_available():
        return "cuda"
    if device == "auto":
        return "cpu"
    build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a build without CUDA")
    raise InputError(
        f"device 'cuda': PyTorch sees no CUDA GPU on this machine ({build}). Use --device cpu, "
        "or --device auto to take a GPU only where there is one."
    )
