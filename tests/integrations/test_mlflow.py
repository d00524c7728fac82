"""MLflow: a finished run's figures, report and run.json into an MLflow run (local file store)."""

from __future__ import annotations

import json

import pytest
from tests.integrations.conftest import run_example

import frugalml
from frugalml.integrations.mlflow import log_run, mlflow_fields
from frugalml.testing import ConstantPowerSensor, ScriptedSensor

pytest.importorskip("mlflow")


def measured_run(**kw):
    sensors = [ScriptedSensor(lambda n: 10.0 * n), ConstantPowerSensor(5.0, "gpu:0")]
    with frugalml.track("job", sensors=sensors, region="FR", interval_s=60, **kw) as run:
        pass
    return run


def test_active_run_gets_metrics_params_tags_and_artifacts(mlflow_uri, tmp_path):
    import mlflow

    run = measured_run()
    with mlflow.start_run() as active:
        assert log_run(run) == active.info.run_id
    client = mlflow.MlflowClient()
    data = client.get_run(active.info.run_id).data
    energy = run.energy_j
    assert data.metrics["frugal.energy_j"] == pytest.approx(energy["total"])
    assert data.metrics["frugal.cpu_energy_j"] == pytest.approx(10.0)
    assert data.metrics["frugal.gpu_0_energy_j"] == pytest.approx(energy["gpu:0"])
    assert data.metrics["frugal.co2e_g"] == pytest.approx(run.co2e_g)
    assert data.metrics["frugal.uncertainty"] == pytest.approx(run.uncertainty["total"], abs=1e-4)
    assert data.metrics["frugal.co2e_uncertainty"] == pytest.approx(
        run.uncertainty["co2e"], abs=1e-4
    )
    assert data.params == {
        "frugal.region": "FR",
        "frugal.pue": "1.0",
        "frugal.intensity_g_per_kwh": str(run.intensity_g_per_kwh),
        "frugal.scope": "process",
    }
    assert data.tags["frugal.run_id"] == run.id
    assert data.tags["frugal.method"] == "constant+scripted"
    assert data.tags["frugal.measured"] == "true"
    assert data.tags["frugal.region_name"] == "France"
    assert data.tags["frugal.status"] == "finished"
    names = {a.path for a in client.list_artifacts(active.info.run_id, "frugalml")}
    assert names == {f"frugalml/run-{run.id}.json", f"frugalml/report-{run.id}.html"}
    folder = client.download_artifacts(active.info.run_id, "frugalml", str(tmp_path / "dl"))
    saved = json.loads((tmp_path / "dl/frugalml" / f"run-{run.id}.json").read_text())
    assert saved["id"] == run.id and saved["energy_j"]["total"] == pytest.approx(energy["total"])
    report = (tmp_path / "dl/frugalml" / f"report-{run.id}.html").read_text()
    assert folder and "co2_eq_emissions" in report and run.id[:8] in report


def test_nowhere_to_log_unless_asked_to_create(mlflow_uri):
    import mlflow

    run = measured_run(db=False)
    assert log_run(run) is None
    created = log_run(run, create=True, report=False)
    assert created is not None and mlflow.active_run() is None
    logged = mlflow.MlflowClient().get_run(created)
    assert logged.info.run_name == "job" and logged.data.tags["frugal.run_id"] == run.id
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(created, "frugalml")}
    assert names == {f"frugalml/run-{run.id}.json"}


def test_a_run_missing_from_the_registry_still_logs_its_figures(mlflow_uri, tmp_path):
    import mlflow

    run = measured_run(db=False)  # recorded nowhere: no report can be built
    rid = log_run(run, create=True, db=str(tmp_path / "empty.db"))
    assert rid is not None
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(rid, "frugalml")}
    assert f"frugalml/report-{run.id}.txt" in names
    assert mlflow.MlflowClient().get_run(rid).data.metrics["frugal.energy_j"] > 0


def test_fields_need_no_mlflow():
    run = measured_run(db=False)
    fields = mlflow_fields(run.to_dict())
    assert fields == mlflow_fields(run)
    assert set(fields) == {"metrics", "params", "tags"}
    assert all(isinstance(v, float) for v in fields["metrics"].values())


def test_example(tmp_path, monkeypatch, mlflow_uri, capsys):
    run_example("mlflow_logging.py", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "metric frugal.energy_j = " in out and "param  frugal.region = FR" in out
    assert (tmp_path / "frugal-out/mlruns").is_dir()


def test_track_logs_into_the_active_mlflow_run_by_default(mlflow_uri):
    import mlflow

    with mlflow.start_run() as active:
        run = measured_run()
    data = mlflow.MlflowClient().get_run(active.info.run_id).data
    assert data.tags["frugal.run_id"] == run.id
    assert data.metrics["frugal.energy_j"] == pytest.approx(run.energy_j["total"])


def test_track_mlflow_true_starts_a_run_and_false_never_logs(mlflow_uri):
    import mlflow

    measured_run(mlflow=False)
    measured_run()  # no active MLflow run: nothing logged, none created
    client = mlflow.MlflowClient()
    assert client.search_runs(["0"]) == []
    run = measured_run(mlflow=True)
    (logged,) = client.search_runs(["0"])
    assert logged.info.run_name == "job" and logged.data.tags["frugal.run_id"] == run.id
    assert mlflow.active_run() is None


def test_track_mlflow_bad_value_is_one_clear_error():
    from frugalml.errors import InputError

    with pytest.raises(InputError, match=r"'mlflow' parameter .* Got 'yes'"):
        frugalml.track("x", mlflow="yes", db=False)


def test_frugal_run_mlflow_logs_the_outer_run(mlflow_uri, tmp_path):
    import sys

    import mlflow
    from click.testing import CliRunner

    from frugalml.cli.main import cli

    db = str(tmp_path / "r.db")
    cmd = [sys.executable, "-c", "pass"]
    res = CliRunner().invoke(cli, ["run", "-q", "--mlflow", "--db", db, "--", *cmd])
    assert res.exit_code == 0, res.output
    (logged,) = mlflow.MlflowClient().search_runs(["0"])
    from frugalml.store import Store

    (outer,) = Store(db).list_runs()
    assert logged.data.tags["frugal.run_id"] == outer.id
    assert logged.data.metrics["frugal.energy_j"] == pytest.approx(outer.energy_j)
