"""Measure every fit of a scikit-learn grid search, and see energy beside accuracy.

`EnergyTracked` wraps the estimator: each fit (every fold of every candidate, and the refit)
is one frugalml run tagged with the search's group, and `fit_energy_scorer` puts each
candidate's fit energy into `cv_results_` next to its accuracy.

    pip install 'frugalml[sklearn]'
    python examples/integrations/sklearn_search.py
"""

from __future__ import annotations

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from frugalml.integrations.sklearn import EnergyTracked, fit_energy_scorer


def main() -> None:
    X, y = load_digits(return_X_y=True)
    model = EnergyTracked(make_pipeline(StandardScaler(), SVC()), group="svc-grid", region="FR")
    search = GridSearchCV(
        model,
        {"estimator__svc__C": [0.1, 1.0, 10.0]},
        cv=3,
        scoring={"accuracy": "accuracy", "fit_energy_j": fit_energy_scorer},
        refit="accuracy",
    )
    search.fit(X, y)

    results = search.cv_results_
    print(f"{'C':>6}  {'accuracy':>8}  {'fit energy (J, mean of 3 folds)':>32}")
    for params, acc, joules in zip(
        results["params"], results["mean_test_accuracy"], results["mean_test_fit_energy_j"]
    ):
        print(f"{params['estimator__svc__C']:>6}  {acc:>8.3f}  {joules:>32.3f}")
    best = search.best_estimator_
    print(
        f"refit of the best (C={search.best_params_['estimator__svc__C']}): "
        f"{best.fit_energy_j_:.3f} J, run {best.fit_run_id_}"
    )
    best.predict(X)
    print(
        f"predicting {best.predict_n_samples_} digits: {best.predict_energy_j_:.3f} J, "
        f"run {best.predict_run_id_}"
    )
    print("every run of the search carries the tag group=svc-grid (frugal runs, frugal report)")


if __name__ == "__main__":
    main()
