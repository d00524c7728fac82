"""MLflow: a finished frugalml run's figures into an MLflow run.

:func:`log_run` logs into the MLflow run that is active (``mlflow.start_run()``), or the one
named by ``run_id``:

- metrics ``frugal.energy_j`` (total) and ``frugal.<component>_energy_j``, ``frugal.energy_kwh``,
  ``frugal.co2e_g``, ``frugal.facility_energy_j``, ``frugal.duration_s``, and the relative
  uncertainties (0.4 = ±40 %) ``frugal.uncertainty`` (total energy), ``frugal.co2e_uncertainty``,
  ``frugal.<component>_uncertainty``;
- params ``frugal.region``, ``frugal.pue``, ``frugal.intensity_g_per_kwh``, ``frugal.scope``;
- tags ``frugal.run_id``, ``frugal.method``, ``frugal.measured``, ``frugal.region_name``,
  ``frugal.status``, ``frugal.version``;
- artifacts under ``frugalml/``: ``run-<id>.json`` (the run's ``run.json``) and
  ``report-<id>.html`` (its ``frugal report``, when the run is in a registry).

The Lightning and Hugging Face callbacks call it at the end of each fit; ``mlflow-skinny`` is
enough (``pip install 'frugalml[mlflow]'``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml.integrations._session import metric_key

if TYPE_CHECKING:
    from frugalml.measure.run import Run

__all__ = ["log_run", "mlflow_fields"]

PREFIX = "frugal"


def mlflow_fields(run: Run | dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metrics, params and tags :func:`log_run` writes, as plain dicts (no MLflow needed).

    Example:
        >>> fields = mlflow_fields({"id": "ab12", "energy_j": {"cpu": 3.0, "total": 3.0},
        ...                         "co2e_g": 0.1, "uncertainty": {"total": 0.4},
        ...                         "region": "FR", "pue": 1.0, "methods": {"cpu": "cpu-model"}})
        >>> fields["metrics"]["frugal.energy_j"], fields["params"]["frugal.region"]
        (3.0, 'FR')
    """
    d = run if isinstance(run, dict) else run.to_dict()
    energy = dict(d.get("energy_j") or {})
    total = float(energy.pop("total", sum(energy.values())))
    metrics: dict[str, float] = {
        f"{PREFIX}.energy_j": total,
        f"{PREFIX}.energy_kwh": total / 3.6e6,
    }
    for component, joules in energy.items():
        metrics[f"{PREFIX}.{metric_key(component)}_energy_j"] = float(joules)
    for key in ("co2e_g", "facility_energy_j", "duration_s"):
        if isinstance(d.get(key), int | float):
            metrics[f"{PREFIX}.{key}"] = float(d[key])
    for part, rel in (d.get("uncertainty") or {}).items():
        if isinstance(rel, int | float):
            name = "uncertainty" if part == "total" else f"{metric_key(part)}_uncertainty"
            metrics[f"{PREFIX}.{name}"] = float(rel)
    params = {
        f"{PREFIX}.{key}": str(d[key])
        for key in ("region", "pue", "intensity_g_per_kwh", "scope")
        if d.get(key) is not None
    }
    methods = d.get("methods") or {}
    tags = {
        f"{PREFIX}.run_id": str(d.get("id", "")),
        f"{PREFIX}.method": "+".join(sorted(set(methods.values()))) or "none",
        f"{PREFIX}.measured": str(bool(d.get("measured", False))).lower(),
        f"{PREFIX}.region_name": str(d.get("region_name") or d.get("region") or ""),
        f"{PREFIX}.status": str(d.get("status", "")),
        f"{PREFIX}.version": str(d.get("frugalml_version", "")),
    }
    return {"metrics": metrics, "params": params, "tags": tags}


def log_run(
    run: Run,
    *,
    run_id: str | None = None,
    client: Any = None,
    db: str | os.PathLike[str] | bool | None = None,
    report: bool = True,
    create: bool = False,
) -> str | None:
    """Log a finished frugalml run into an MLflow run; return the MLflow run id (None when
    there was nowhere to log).

    Args:
        run: the frugalml run (``with frugalml.track(...) as run``).
        run_id: the MLflow run to log into; default the active one.
        client: an ``mlflow.MlflowClient`` (e.g. Lightning's ``MLFlowLogger.experiment``);
            default one for the current tracking URI.
        db: the registry the run was recorded in, for its HTML report (None: the default
            registry; False: no report, only ``run.json``).
        report: also attach the HTML report.
        create: with no active run and no ``run_id``, start (and end) an MLflow run named
            after the frugalml run instead of returning None.

    Example:
        >>> import mlflow  # doctest: +SKIP
        >>> with mlflow.start_run(), frugalml.track("fit", region="FR") as run:  # doctest: +SKIP
        ...     model.fit(X, y)
        >>> log_run(run)  # doctest: +SKIP
        '5f0c...'
    """
    mlflow = require("mlflow", "Logging a run to MLflow")
    entities = require("mlflow.entities", "Logging a run to MLflow")
    if run_id is None:
        active = mlflow.active_run()
        if active is not None:
            run_id = active.info.run_id
        elif create:
            with mlflow.start_run(run_name=run.name) as started:
                run_id = started.info.run_id
        else:
            return None
    client = client if client is not None else mlflow.MlflowClient()
    fields = mlflow_fields(run)
    now_ms = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[entities.Metric(k, v, now_ms, 0) for k, v in fields["metrics"].items()],
        params=[entities.Param(k, v) for k, v in fields["params"].items()],
        tags=[entities.RunTag(k, v) for k, v in fields["tags"].items()],
    )
    with tempfile.TemporaryDirectory(prefix="frugalml-mlflow-") as tmp:
        folder = Path(tmp)
        (folder / f"run-{run.id}.json").write_text(
            json.dumps(run.to_dict(), indent=2, default=str), encoding="utf-8"
        )
        if report and db is not False:
            _write_report(folder / f"report-{run.id}.html", run, db)
        client.log_artifacts(run_id, str(folder), artifact_path="frugalml")
    return str(run_id)


def _write_report(path: Path, run: Run, db: str | os.PathLike[str] | bool | None) -> None:
    """The run's ``frugal report``; a registry that cannot give it is noted in run.json's
    place, never an error (the figures are already logged)."""
    from frugalml.errors import FrugalError
    from frugalml.report import write_report

    try:
        write_report(path, "html", runs=[run.id], store=None if db is True else db)
    except (FrugalError, OSError) as e:
        path.with_suffix(".txt").write_text(
            f"No HTML report: the registry could not give run {run.id} ({e}).\n", encoding="utf-8"
        )
