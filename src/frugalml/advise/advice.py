"""``advise(run_id)``: where, when and how a measured run would cost less, in one object.

Reads the run from the registry (its energy, region, PUE, intensity and samples), then:

- ``where`` (:mod:`frugalml.advise.where`): always;
- ``when`` (:mod:`frugalml.advise.when`): with a forecast intensity series;
- ``how`` (:mod:`frugalml.advise.how`): with the user's model and an example input.

Everything is offline: the grid table ships with frugalml, the series and the model are the
user's, the bench figures are the committed benchmark results shipped with the package.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frugalml import _fmt
from frugalml.advise.how import HowOption, ModelMeasurement, bench_options, measure_model
from frugalml.advise.when import WhenOption, advise_when, power_profile
from frugalml.advise.where import WhereOption, advise_where
from frugalml.carbon.intensity import IntensityTimeline
from frugalml.carbon.regions import WORLD_CODE, lookup_region

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["Advice", "advise", "describe_run"]


@dataclass
class Advice:
    """The advice for one run.

    Attributes:
        run: what was advised on: ``id``, ``name``, ``status``, ``energy_j``,
            ``energy_method``, ``region``, ``pue``, ``intensity_g_per_kwh``, ``co2e_g``,
            ``duration_s``.
        where, when, how: the options, best first (``when``/``how`` empty when their input
            was not given).
        model: the unchanged model as measured here (with a model).
        notes: what was left out and why.
    """

    run: dict[str, Any]
    where: list[WhereOption]
    when: list[WhenOption] = field(default_factory=list)
    how: list[HowOption] = field(default_factory=list)
    model: ModelMeasurement | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``run``, ``where``, ``when``, ``how`` (lists, best first), ``model``,
        ``notes``."""
        return {
            "run": dict(self.run),
            "where": [o.to_dict() for o in self.where],
            "when": [o.to_dict() for o in self.when],
            "how": [o.to_dict() for o in self.how],
            "model": None if self.model is None else self.model.to_dict(),
            "notes": list(self.notes),
        }


def advise(
    run_id: str,
    *,
    db: str | os.PathLike[str] | None = None,
    intensity: IntensityTimeline | str | os.PathLike[str] | None = None,
    model: nn.Module | None = None,
    example: torch.Tensor | None = None,
    sparsity: float = 0.9,
    seconds: float = 1.0,
    repeats: int = 3,
    threads: int | None = 1,
    now_unix: float | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Advice:
    """Advice for the registry run ``run_id`` (an id or a unique prefix).

    Args:
        run_id: the run.
        db: registry path or URL (default ``FRUGAL_DB`` or ``~/.frugal/frugal.db``).
        intensity: forecast grid intensity (an :class:`IntensityTimeline` or a CSV path in
            the tracker's format) for ``when``.
        model: the user's model for ``how`` (left unchanged), with ``example``: one input
            batch (its first dimension is the batch measured).
        sparsity, seconds, repeats, threads: see :func:`frugalml.advise.how.measure_model`.
        now_unix: "now" for ``when`` (default the current time).
        on_step: progress callback for the model measurements.

    Raises:
        ConfigError: unknown run id (or ambiguous prefix).
        InputError: a malformed intensity CSV, or one too short for the run.

    Example:
        >>> advice = advise("3f9c", intensity="grid-forecast.csv")  # doctest: +SKIP
        >>> advice.where[0].region, advice.when[0].best_start  # doctest: +SKIP
    """
    from frugalml.store import open_registry

    store = open_registry(db)  # a reader: creates nothing, takes no write lock
    try:
        record = store.get_run(run_id)
        samples = store.samples(record.id) if intensity is not None else []
    finally:
        store.close()
    timeline, source = None, "the series"
    if isinstance(intensity, IntensityTimeline):
        timeline = intensity
    elif intensity is not None:
        source = os.fspath(intensity)
        timeline = IntensityTimeline.from_csv(source)
    pue = record.pue or 1.0
    region = record.region or WORLD_CODE
    grid = record.intensity_g_per_kwh
    if grid is None:
        grid = lookup_region(region).intensity_g_per_kwh
    methods = "+".join(sorted(set(record.methods.values()))) or "none"
    run = {
        "id": record.id,
        "name": record.name,
        "status": record.status,
        "energy_j": record.energy_j,
        "energy_method": methods,
        "region": region,
        "pue": pue,
        "intensity_g_per_kwh": grid,
        "co2e_g": record.co2e_g,
        "duration_s": record.duration_s,
    }
    notes = []
    if record.summary.get("intensity_time_varying"):
        notes.append(
            "where: the run was charged a time-varying intensity; the ratios compare it at its "
            "region's annual average with the other regions' annual averages"
        )
    if record.status in ("running", "interrupted"):
        notes.append(f"the run is {record.status}: the advice covers it up to its last sample")
    advice = Advice(
        run=run, where=advise_where(record.energy_j, region, pue=pue, intensity_g_per_kwh=grid)
    )
    if timeline is None:
        notes.append("when: not advised (give a forecast intensity series: --intensity-csv FILE)")
    else:
        profile = power_profile(samples)
        if not profile:
            profile = [(0.0, max(record.duration_s, 1e-9), record.energy_j)]
            notes.append("when: the run has no stored samples; its power is taken as constant")
        advice.when = advise_when(profile, timeline, pue=pue, now_unix=now_unix, source=source)
    if model is None or example is None:
        notes.append("how: not advised (give your model: --model MODULE:FN --input SHAPE)")
    else:
        advice.model, measured = measure_model(
            model,
            example,
            sparsity=sparsity,
            seconds=seconds,
            repeats=repeats,
            threads=threads,
            on_step=on_step,
        )
        advice.how = measured + bench_options(model)
        if advice.model.structure == "other":
            notes.append(
                "how: no bench task has this model's structure (neither a plain MLP nor a "
                "CNN); only the techniques measured on it are listed"
            )
    advice.notes = notes
    return advice


def describe_run(run: dict[str, Any]) -> str:
    """One line: what the advice is about."""
    return (
        f"run {run['id']} ({run['name']}): {_fmt.energy(run['energy_j'])} ({run['energy_method']}) "
        f"in {run['region']} at {_fmt.g(run['intensity_g_per_kwh'])} gCO2e/kWh, PUE "
        f"{_fmt.g(run['pue'])}: {_fmt.co2e(run['co2e_g'])} CO2e over {_fmt.duration(run['duration_s'])}"
    )
