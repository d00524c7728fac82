"""Stacked recipes: parsing, and rows that run several techniques in turn (costs summed, a
failing step fails the row naming it, the task's best rows)."""

from __future__ import annotations

import pytest

from frugalml.bench import BenchConfig, run_bench
from frugalml.bench.chain import parse_stack, split_specs
from frugalml.bench.tasks import TASKS, Task, _mlp, _sk
from frugalml.errors import InputError, TechniqueError, UnknownNameError
from frugalml.reduce import registry
from frugalml.reduce.base import Needs, Technique


def test_recipes_parse_with_parameters_and_a_canonical_name():
    s = parse_stack(" distill( student_width=0.2 , temperature = 8)+int8-static ")
    assert [st.name for st in s.steps] == ["distill", "int8-static"]
    assert s.steps[0].params == {"student_width": 0.2, "temperature": 8}
    assert s.name == "distill(student_width=0.2, temperature=8)+int8-static" and s.is_chain
    words = parse_stack("binary-connect(scale=none, mode='stochastic', layers=[1, 2])")
    assert words.steps[0].params == {"scale": "none", "mode": "stochastic", "layers": [1, 2]}
    assert parse_stack(words.name) == words  # the name reads back as the same recipe
    assert split_specs("a(x=1, y=2)+b, c ,,") == ["a(x=1, y=2)+b", "c"]


@pytest.mark.parametrize(
    ("spec", "error", "needle"),
    [
        ("distil+qat", UnknownNameError, "Did you mean 'distill'"),
        ("distill+", InputError, "Cannot read the step ''"),
        ("distill(0.2)", InputError, "is not key=value"),
        ("distill(student_width=1/4)", InputError, "not a literal: '1/4'"),
    ],
)
def test_malformed_recipes_say_what_to_write(spec, error, needle):
    with pytest.raises(error, match=needle.replace("(", r"\(")):
        parse_stack(spec, registry.available_techniques())


class Halve(Technique):
    """Scales every weight (no data, no training): a compression step with a known effect."""

    name = "halve"
    kind = "compress"
    needs = Needs(data="none")
    purpose = ("size",)

    def __init__(self, factor: float = 0.5) -> None:
        self.factor = factor

    def _apply(self, model, data):
        import torch

        with torch.no_grad():
            for p in model.parameters():
                p.mul_(self.factor)
        self.factor_ = self.factor
        return model


class Refit(Technique):
    """Trains the model it is given for one epoch (a training step)."""

    name = "refit"
    kind = "train"
    purpose = ("training-energy",)

    def _apply(self, model, data):
        self.epochs_run_ = self._fit(model, data, epochs=1).epochs_run
        return model


class Explodes(Halve):
    name = "explodes"

    def _apply(self, model, data):
        raise TechniqueError("explodes failed: the backend lacks aten::mystery_op.")


@pytest.fixture
def tiny(monkeypatch):
    for cls in (Halve, Refit, Explodes):
        monkeypatch.setitem(registry.REGISTRY, cls.name, cls)
    task = Task(
        "tiny-iris",
        "iris",
        "MLP 4-16-3",
        _sk("iris"),
        _mlp(4, 16, 3, 1),
        (4,),
        epochs=3,
        batch_size=32,
        stacks=("halve(factor=0.9)+refit",),
    )
    monkeypatch.setitem(TASKS, task.name, task)
    return task.name


@pytest.mark.slow
def test_a_recipe_is_charged_every_step_and_a_failing_step_fails_its_row(tiny):
    results = run_bench(
        BenchConfig(
            tasks=[tiny],
            techniques=["halve", "halve+halve(factor=1.0)", "halve+explodes", "refit+halve"],
            repeats=2,
            db=False,
        )
    )
    task = results["tasks"][tiny]
    base, rows = task["baseline"], task["techniques"]
    two = rows["halve+halve(factor=1.0)"]
    assert two["status"] == "ok" and two["kind"] == "compress"
    assert [s["name"] for s in two["steps"]] == ["halve", "halve"]
    assert [s["config"]["factor"] for s in two["steps"]] == [0.5, 1.0]
    assert two["train_energy_j"] == pytest.approx(sum(s["train_energy_j"] for s in two["steps"]))
    assert two["train_time_s"] == pytest.approx(sum(s["train_time_s"] for s in two["steps"]))
    parts = two["train_energy_j_components"]
    assert parts["total"] == pytest.approx(two["train_energy_j"])
    assert parts["total"] == pytest.approx(sum(v for k, v in parts.items() if k != "total"))
    # compression starts from the trained baseline, whose training the total adds
    assert two["train_energy_j_total"] == pytest.approx(
        two["train_energy_j"] + base["train_energy_j"]
    )
    assert len(two["run_ids"]) == 2 * 2 + 1  # two tracked steps per repeat, one inference
    # its first step is the 'halve' row's, run once per repeat and charged to both rows
    assert two["steps"][0]["shared_with"] == "halve" and "shared_with" not in two["steps"][1]
    assert set(rows["halve"]["run_ids"]) & set(two["run_ids"])
    assert two["steps"][0]["train_energy_j"] == pytest.approx(rows["halve"]["train_energy_j"])
    assert two["accuracy"] == two["steps"][-1]["accuracy"]
    assert two["extra"] == {"1.halve.factor": 0.5, "2.halve.factor": 1.0}

    boom = rows["halve+explodes"]
    assert boom["status"] == "failed"
    assert boom["reason"].startswith("step 2/2 (explodes) failed: explodes failed")
    assert [s["name"] for s in boom["steps"]] == ["halve"]  # what ran before it
    assert boom["verdict"] == "no-gain" and "step 2/2 (explodes)" in boom["verdict_reason"]

    fresh = rows["refit+halve"]
    assert fresh["kind"] == "train"  # starts from a fresh model: no baseline to add
    assert fresh["train_energy_j_total"] == fresh["train_energy_j"]
    assert fresh["verdict_purpose"] == "training-energy"
    assert set(fresh["verdicts"]) == {"training-energy", "size"}
    assert set(task["best"]) == {"inference-energy", "training-energy", "size"}
    assert len(task["summary"]) == 3


def test_the_suites_add_each_tasks_declared_stacks(tiny):
    plan = BenchConfig(tasks=[tiny]).plan()
    assert plan.techniques[tiny][-1] == "halve(factor=0.9)+refit"
    assert plan.stacks["halve(factor=0.9)+refit"].steps[1].name == "refit"
    named = BenchConfig(tasks=[tiny], techniques=["halve"]).plan()
    assert named.techniques[tiny] == ["halve"]  # named rows only


def test_every_declared_stack_of_the_built_in_tasks_is_a_valid_recipe():
    from frugalml.bench import all_tasks

    known = registry.available_techniques()
    for task in all_tasks().values():
        for spec in task.stacks:
            for step in parse_stack(spec, known).steps:
                registry.get_technique(step.name, **step.params)  # parameter names exist


def test_a_recipe_parameter_the_technique_lacks_fails_before_any_work():
    with pytest.raises(InputError, match="no parameter 'widthh'"):
        BenchConfig(tasks=["iris-mlp"], techniques=["distill(widthh=0.3)+qat"]).plan()
