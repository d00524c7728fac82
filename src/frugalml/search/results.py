"""``search.json``: a study's trials, Pareto front, choice and whole cost, read from the storage.

Keys (a contract): ``study``, ``storage`` (password redacted), ``sampler``, ``pruner``,
``objectives``, ``trials``, ``pareto``, ``best``, ``overhead_energy_j``, ``total_energy_j``,
``total_co2e_g``, ``total_time_s``, ``energy_method``. Each trial: ``number``, ``state``,
``params``, ``accuracy``, ``test_accuracy``, ``energy_j``, ``train_energy_j``,
``infer_energy_j_per_1k``, ``macs``, ``epochs_run``, ``run_id``.

``total_energy_j = sum(trial energy_j) + overhead_energy_j``, and the file says so exactly:
both sides are computed here from the same numbers.
"""

from __future__ import annotations

from typing import Any

from frugalml.search.tracking import SESSION_PREFIX

__all__ = [
    "BEST_RULE",
    "FRUGAL_ATTR",
    "TRIAL_KEYS",
    "choose_best",
    "pareto_numbers",
    "search_result",
]

FRUGAL_ATTR = "frugal"  # study user attribute holding what the study searches
TRIAL_KEYS = (
    "number",
    "state",
    "params",
    "accuracy",
    "test_accuracy",
    "energy_j",
    "train_energy_j",
    "infer_energy_j_per_1k",
    "macs",
    "epochs_run",
    "run_id",
)
#: Points of accuracy a multi-objective choice may give up for a cheaper model.
BEST_MAX_DROP_PT = 1.0
BEST_RULE = (
    "one objective: the best feasible value; several: on the Pareto front, the trial with the "
    f"lowest second objective among those within {BEST_MAX_DROP_PT:g} accuracy point of the "
    "front's most accurate; weight sharing: the retrained architecture"
)


def _objectives(study: Any) -> list[dict[str, Any]]:
    info = study.user_attrs.get(FRUGAL_ATTR) or {}
    return list(info.get("objectives") or [])


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _feasible(t: Any) -> bool:
    return all(float(c) <= 0 for c in t.user_attrs.get("constraint", []))


def trial_row(t: Any, objectives: list[dict[str, Any]]) -> dict[str, Any]:
    """One entry of ``trials`` (see the module docstring)."""
    state = t.state.name.lower()
    names = [o["name"] for o in objectives]
    attrs = t.user_attrs
    accuracy = None
    if state == "complete" and t.values is not None and "accuracy" in names:
        accuracy = float(t.values[names.index("accuracy")])
    elif state == "complete" and "accuracy" in attrs:
        accuracy = _number(attrs["accuracy"])
    elif state == "pruned" and t.intermediate_values:
        accuracy = float(t.intermediate_values[max(t.intermediate_values)])
    epochs = attrs.get("epochs_run")
    if epochs is None and state == "pruned" and t.intermediate_values:
        epochs = max(t.intermediate_values)
    return {
        "number": t.number,
        "state": state,
        "params": dict(t.params),
        "accuracy": accuracy,
        "test_accuracy": _number(attrs.get("test_accuracy")),
        "energy_j": _number(attrs.get("energy_j")),
        "train_energy_j": _number(attrs.get("train_energy_j")),
        "infer_energy_j_per_1k": _number(attrs.get("infer_energy_j_per_1k")),
        "macs": int(attrs["macs"]) if _number(attrs.get("macs")) is not None else None,
        "epochs_run": int(epochs) if epochs is not None else None,
        "run_id": attrs.get("run_id"),
    }


def _dominates(a: list[float], b: list[float], signs: list[float]) -> bool:
    better = False
    for x, y, s in zip(a, b, signs):
        if s * x < s * y:
            return False
        if s * x > s * y:
            better = True
    return better


def pareto_numbers(trials: list[Any], objectives: list[dict[str, Any]]) -> list[int]:
    """Numbers of the completed, feasible trials no other such trial dominates."""
    signs = [1.0 if o["direction"] == "maximize" else -1.0 for o in objectives]
    pts = [
        (t.number, list(t.values))
        for t in trials
        if t.state.name == "COMPLETE" and t.values is not None and _feasible(t)
    ]
    return sorted(n for n, v in pts if not any(_dominates(w, v, signs) for _, w in pts))


def choose_best(
    trials: list[Any], objectives: list[dict[str, Any]], front: list[int]
) -> int | None:
    """The chosen trial (see :data:`BEST_RULE`)."""
    by_number = {t.number: t for t in trials}
    retrained = [
        t.number
        for t in trials
        if t.user_attrs.get("role") == "retrain" and t.state.name == "COMPLETE"
    ]
    if retrained:
        return retrained[-1]
    if not front:
        return None
    if len(objectives) == 1:
        sign = 1.0 if objectives[0]["direction"] == "maximize" else -1.0
        return min(
            front,
            key=lambda n: (
                -sign * by_number[n].values[0],
                float(by_number[n].user_attrs.get("energy_j", 0.0)),
                n,
            ),
        )
    names = [o["name"] for o in objectives]
    if "accuracy" not in names:
        return front[0]
    a = names.index("accuracy")
    other = next(i for i in range(len(names)) if i != a)
    sign = 1.0 if objectives[other]["direction"] == "maximize" else -1.0
    top = max(by_number[n].values[a] for n in front)
    near = [n for n in front if (top - by_number[n].values[a]) * 100 <= BEST_MAX_DROP_PT + 1e-9]
    return min(near, key=lambda n: (-sign * by_number[n].values[other], n))


def sessions_of(study: Any) -> list[dict[str, Any]]:
    """The search commands that worked on the study, oldest first."""
    out = [
        {"id": k[len(SESSION_PREFIX) :], **v}
        for k, v in study.user_attrs.items()
        if k.startswith(SESSION_PREFIX) and isinstance(v, dict)
    ]
    return sorted(out, key=lambda s: float(s.get("start", 0.0)))


def _union_s(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def search_result(
    study: Any, *, storage_shown: str, sampler: str, pruner: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """The ``search.json`` content of ``study`` as stored now.

    Args:
        study: the Optuna study.
        storage_shown: the storage URL with the password redacted.
        sampler, pruner: names used by this command.
        extra: what goes into ``study`` besides its name (task, space, seed, ...).
    """
    trials = study.get_trials(deepcopy=False)
    objectives = _objectives(study)
    rows = [trial_row(t, objectives) for t in trials]
    front = pareto_numbers(trials, [o for o in objectives if "direction" in o])
    sessions = sessions_of(study)
    overhead = sum(float(s.get("overhead_energy_j", 0.0)) for s in sessions)
    trial_energy = sum(r["energy_j"] or 0.0 for r in rows)
    co2e = sum(float(t.user_attrs.get("co2e_g", 0.0)) for t in trials) + sum(
        float(s.get("overhead_co2e_g", 0.0)) for s in sessions
    )
    methods = {
        part
        for t in trials
        for part in str(t.user_attrs.get("energy_method", "")).split("+")
        if part and part != "none"
    } | {
        part
        for s in sessions
        for part in str(s.get("energy_method", "")).split("+")
        if part and part != "none"
    }
    return {
        "study": {"name": study.study_name, **extra, "sessions": sessions},
        "storage": storage_shown,
        "sampler": sampler,
        "pruner": pruner,
        "objectives": objectives,
        "trials": rows,
        "pareto": front,
        "best": choose_best(trials, [o for o in objectives if "direction" in o], front),
        "overhead_energy_j": overhead,
        "total_energy_j": trial_energy + overhead,
        "total_co2e_g": co2e,
        "total_time_s": _union_s(
            [(float(s["start"]), float(s["end"])) for s in sessions if "start" in s and "end" in s]
        ),
        "energy_method": "+".join(sorted(methods)) or "none",
    }
