"""Log a frugalml run into MLflow: energy per component, CO2e, method, uncertainty and
region as metrics, params and tags, and the run's report and run.json as artifacts.

Everything stays on disk: a local MLflow file store in frugal-out/mlruns (MLflow 3 asks for
MLFLOW_ALLOW_FILE_STORE=true to use one; a server or a database URI works the same way).

    pip install 'frugalml[mlflow,sklearn]'
    python examples/integrations/mlflow_logging.py
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

import mlflow
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier

import frugalml
from frugalml.integrations.mlflow import log_run


def main() -> None:
    mlflow.set_tracking_uri(Path("frugal-out/mlruns").resolve().as_uri())
    X, y = load_digits(return_X_y=True)
    with mlflow.start_run(run_name="forest") as active:
        with frugalml.track("forest", region="FR") as run:
            model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y)
            run.log_metric("accuracy", model.score(X, y))
        log_run(run)  # into the active MLflow run

    logged = mlflow.MlflowClient().get_run(active.info.run_id).data
    print(f"MLflow run {active.info.run_id}, frugalml run {logged.tags['frugal.run_id']}")
    for key in sorted(logged.metrics):
        print(f"  metric {key} = {logged.metrics[key]:.6g}")
    for key in sorted(logged.params):
        print(f"  param  {key} = {logged.params[key]}")
    print(f"  tag    frugal.method = {logged.tags['frugal.method']}")
    artifacts = mlflow.MlflowClient().list_artifacts(active.info.run_id, "frugalml")
    print("  artifacts:", ", ".join(a.path for a in artifacts))


if __name__ == "__main__":
    main()
