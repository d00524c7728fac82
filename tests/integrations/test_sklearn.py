"""scikit-learn: EnergyTracked is a well-behaved meta-estimator (scikit-learn's own estimator
checks), measures one run per fit and per inference call, and works inside Pipeline,
GridSearchCV and cross_validate with the runs linked by their group."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from tests.integrations.conftest import run_example

from frugalml.errors import FrugalWarning, InputError
from frugalml.store import Store
from frugalml.testing import ConstantPowerSensor

pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from frugalml.integrations.sklearn import EnergyTracked, fit_energy_scorer


def tracked(estimator, **kw) -> EnergyTracked:
    # a declared 10 W: every fit and call has energy > 0 whatever the machine
    kw.setdefault("sensors", [ConstantPowerSensor(10.0)])
    kw.setdefault("interval_s", 60)
    return EnergyTracked(estimator, **kw)


EXPECTED_FAILURES = {
    # Recording what the last inference call cost (predict_energy_j_, predict_run_id_ ...) is
    # what the wrapper is for; it changes those attributes only, never a prediction.
    "check_dict_unchanged": "predict records its own energy in predict_*_ attributes",
}


@parametrize_with_checks(
    [
        tracked(DecisionTreeClassifier(random_state=0), db=False),
        tracked(StandardScaler(), db=False),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_fit_and_predict_are_each_one_run_in_the_registry():
    X, y = load_iris(return_X_y=True)
    model = tracked(DecisionTreeClassifier(random_state=0), name="tree", region="FR")
    model.fit(X, y)
    assert model.fit_energy_j_ > 0 and model.fit_co2e_g_ > 0 and model.fit_duration_s_ > 0
    assert model.classes_.tolist() == [0, 1, 2] and model.n_features_in_ == 4
    proba = model.predict_proba(X[:10])
    assert proba.shape == (10, 3)
    assert (model.predict_method_, model.predict_n_samples_) == ("predict_proba", 10)
    assert model.predict_energy_j_ > 0 and model.predict_run_id_ != model.fit_run_id_
    runs = {r.id: r for r in Store().list_runs(with_summary=True)}
    fit, infer = runs[model.fit_run_id_], runs[model.predict_run_id_]
    assert (fit.name, infer.name) == ("tree.fit", "tree.predict_proba")
    assert fit.energy_j == pytest.approx(model.fit_energy_j_)
    assert fit.summary["tags"] == {
        "integration": "sklearn",
        "estimator": "DecisionTreeClassifier",
        "method": "fit",
    }
    assert fit.summary["config"]["n_samples"] == 150
    assert fit.summary["config"]["params"]["random_state"] == "0"


def test_grid_search_links_its_runs_and_reports_energy_per_candidate():
    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(
        tracked(DecisionTreeClassifier(random_state=0), group="tree-grid", track_inference=False),
        {"estimator__max_depth": [1, 3]},
        cv=3,
        scoring={"accuracy": "accuracy", "fit_energy_j": fit_energy_scorer},
        refit="accuracy",
    ).fit(X, y)
    energy = search.cv_results_["mean_test_fit_energy_j"]
    assert energy.shape == (2,) and (energy > 0).all()
    assert search.best_params_ == {"estimator__max_depth": 3}
    runs = Store().list_runs(with_summary=True)
    assert len(runs) == 2 * 3 + 1  # every fold of every candidate, and the refit
    assert {r.summary["tags"]["group"] for r in runs} == {"tree-grid"}
    assert search.best_estimator_.fit_run_id_ in {r.id for r in runs}


def test_cross_validate_and_pipelines():
    X, y = load_iris(return_X_y=True)
    inner = make_pipeline(StandardScaler(), tracked(DecisionTreeClassifier(random_state=0)))
    res = cross_validate(inner, X, y, cv=3, return_estimator=True, scoring=fit_energy_scorer)
    ids = {p[-1].fit_run_id_ for p in res["estimator"]}
    assert len(ids) == 3 and (res["test_score"] > 0).all()
    outer = tracked(Pipeline([("scale", StandardScaler()), ("tree", DecisionTreeClassifier())]))
    outer.set_params(estimator__tree__max_depth=2).fit(X, y)
    assert outer.estimator_.named_steps["tree"].max_depth == 2
    assert outer.score(X, y) > 0.9 and outer.predict_method_ == "score"


def test_clone_and_pickle():
    X, y = load_iris(return_X_y=True)
    model = tracked(DecisionTreeClassifier(random_state=0), group="g", db=False).fit(X, y)
    copy = clone(model)
    assert copy.get_params()["group"] == "g" and not hasattr(copy, "fit_energy_j_")
    again = pickle.loads(pickle.dumps(model))
    assert again.fit_run_id_ == model.fit_run_id_
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_unmeasured_when_the_tracker_cannot_start(monkeypatch):
    from frugalml.measure.tracker import Tracker

    def broken(self):
        raise OSError("no /proc")

    monkeypatch.setattr(Tracker, "start", broken)
    X, y = load_iris(return_X_y=True)
    with pytest.warns(FrugalWarning, match="runs unmeasured"):
        model = tracked(DecisionTreeClassifier(), db=False).fit(X, y)
        assert model.predict(X[:3]).shape == (3,)
    assert math.isnan(model.fit_energy_j_) and model.fit_run_id_ is None
    assert math.isnan(model.predict_energy_j_) and model.predict_run_id_ is None


def test_bad_settings_raise_at_fit_with_one_clear_message():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(InputError, match="Unknown region 'Atlantis'"):
        tracked(DecisionTreeClassifier(), region="Atlantis", db=False).fit(X, y)


def test_failed_fit_is_recorded_and_raised():
    X, y = load_iris(return_X_y=True)
    model = tracked(DecisionTreeClassifier(max_depth=-1))
    with pytest.raises(ValueError, match="max_depth"):
        model.fit(X, y)
    (run,) = Store().list_runs()
    assert run.status == "failed" and "max_depth" in (run.error or "")


def test_fit_energy_scorer_needs_a_tracked_estimator():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(TypeError, match=r"Wrap the estimator: EnergyTracked\(Ridge"):
        fit_energy_scorer(Ridge().fit(X, y), X, y)


def test_example(tmp_path, monkeypatch, capsys):
    run_example("sklearn_search.py", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "refit of the best" in out and "predicting 1797 digits" in out
    runs = Store().list_runs(with_summary=True)
    fits = [r for r in runs if r.summary["tags"]["method"] == "fit"]
    assert len(fits) == 3 * 3 + 1
    assert {r.summary["tags"]["group"] for r in runs} == {"svc-grid"}
