"""scikit-learn: ``EnergyTracked(estimator)`` measures every ``fit`` (and inference call) as a
frugalml run, and behaves as the estimator it wraps.

    from frugalml.integrations.sklearn import EnergyTracked, fit_energy_scorer

    model = EnergyTracked(SVC(), region="FR").fit(X, y)
    model.fit_energy_j_, model.fit_run_id_          # joules, registry run id
    model.predict(X); model.predict_energy_j_        # the last inference call

    search = GridSearchCV(
        EnergyTracked(SVC(), group="svc-grid"),
        {"estimator__C": [0.1, 1, 10]},
        scoring={"accuracy": "accuracy", "fit_energy_j": fit_energy_scorer},
        refit="accuracy",
    ).fit(X, y)
    search.cv_results_["mean_test_fit_energy_j"]     # energy per candidate, beside accuracy

It is a meta-estimator: cloneable (``get_params``/``set_params``, nested ``estimator__C``),
usable in ``Pipeline``, ``GridSearchCV``, ``cross_validate`` (also with ``n_jobs``: each fit is
measured in the process that runs it). Every fit is one run in the registry, tagged with
``group`` so a search's runs can be found together.

Needs scikit-learn >= 1.6 (``pip install 'frugalml[sklearn]'``).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy
from typing import TYPE_CHECKING, Any

from frugalml._lazy import require
from frugalml.errors import FrugalWarning

if TYPE_CHECKING:
    from frugalml.measure.base import Sensor
    from frugalml.measure.run import Run

sklearn_base = require("sklearn.base", "frugalml.integrations.sklearn")
_meta = require("sklearn.utils.metaestimators", "frugalml.integrations.sklearn")
_tags = require("sklearn.utils", "frugalml.integrations.sklearn")

__all__ = ["EnergyTracked", "fit_energy_scorer"]

log = logging.getLogger(__name__)
INFERENCE_METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
    "score",
)


def _inner_has(attr: str) -> Callable[[Any], bool]:
    """For ``available_if``: the method exists when the wrapped estimator has it (the fitted
    one once fitted), so ``hasattr(model, "predict_proba")`` answers as for the estimator."""

    def check(self: EnergyTracked) -> bool:
        getattr(self.__dict__.get("estimator_", self.estimator), attr)
        return True

    return check


class EnergyTracked(sklearn_base.MetaEstimatorMixin, sklearn_base.BaseEstimator):  # type: ignore[misc, name-defined]
    """Wrap an estimator so that each ``fit`` and inference call is measured.

    Args:
        estimator: the scikit-learn estimator (or pipeline) to wrap; cloned at each fit.
        name: run name prefix (default: the estimator's class name); runs are
            ``<name>.fit``, ``<name>.predict`` ...
        group: label shared by related runs (a search, a cross-validation), recorded as the
            run tag ``group``.
        region: grid region code (``FR``, ``aws:eu-west-3``...); default as :func:`frugalml.track`.
        pue: power usage effectiveness (number >= 1 or ``"datacenter"``).
        db: registry URL or path (None: the default registry; False: none).
        interval_s: sampling interval in seconds (default 1).
        sensors: sensors to read (default: probe the machine), as :class:`frugalml.Tracker`.
        track_inference: also measure ``predict``, ``predict_proba``, ``predict_log_proba``,
            ``decision_function``, ``transform`` and ``score`` (one run per call).
        tags: labels recorded with each run.

    Attributes:
        estimator_: the fitted clone of ``estimator``.
        fit_energy_j_: energy of the last fit, joules (IT energy, before PUE).
        fit_co2e_g_: its CO2e, grams.
        fit_duration_s_: its wall time, seconds.
        fit_run_id_: its run id in the registry (``frugal show ID``).
        predict_energy_j_, predict_co2e_g_, predict_run_id_, predict_n_samples_,
        predict_method_: the same for the last inference call (after one).

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> model = EnergyTracked(LogisticRegression(max_iter=500), db=False).fit(X, y)
        >>> model.fit_energy_j_ >= 0, model.predict(X[:2]).shape
        (True, (2,))
    """

    def __init__(
        self,
        estimator: Any,
        *,
        name: str | None = None,
        group: str | None = None,
        region: str | None = None,
        pue: float | str | None = None,
        db: str | os.PathLike[str] | bool | None = None,
        interval_s: float | None = None,
        sensors: Sequence[Sensor] | None = None,
        track_inference: bool = True,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.estimator = estimator
        self.name = name
        self.group = group
        self.region = region
        self.pue = pue
        self.db = db
        self.interval_s = interval_s
        self.sensors = sensors
        self.track_inference = track_inference
        self.tags = tags

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> EnergyTracked:
        """Fit a clone of ``estimator`` under a tracker; ``fit_params`` go to its ``fit``."""
        estimator = sklearn_base.clone(self.estimator)
        with self._measure("fit", X) as measured:
            estimator.fit(X, y, **fit_params)
        self.estimator_ = estimator
        run = measured[0] if measured else None
        self.fit_energy_j_ = run.energy_j["total"] if run is not None else math.nan
        self.fit_co2e_g_ = run.co2e_g if run is not None else math.nan
        self.fit_duration_s_ = run.duration_s if run is not None else math.nan
        self.fit_run_id_ = run.id if run is not None else None
        return self

    # -- inference, each measured ---------------------------------------------------------
    @_meta.available_if(_inner_has("predict"))
    def predict(self, X: Any, **params: Any) -> Any:
        """``estimator_.predict(X)``, measured."""
        return self._infer("predict", X, params)

    @_meta.available_if(_inner_has("predict_proba"))
    def predict_proba(self, X: Any, **params: Any) -> Any:
        """``estimator_.predict_proba(X)``, measured."""
        return self._infer("predict_proba", X, params)

    @_meta.available_if(_inner_has("predict_log_proba"))
    def predict_log_proba(self, X: Any, **params: Any) -> Any:
        """``estimator_.predict_log_proba(X)``, measured."""
        return self._infer("predict_log_proba", X, params)

    @_meta.available_if(_inner_has("decision_function"))
    def decision_function(self, X: Any, **params: Any) -> Any:
        """``estimator_.decision_function(X)``, measured."""
        return self._infer("decision_function", X, params)

    @_meta.available_if(_inner_has("transform"))
    def transform(self, X: Any, **params: Any) -> Any:
        """``estimator_.transform(X)``, measured."""
        return self._infer("transform", X, params)

    @_meta.available_if(_inner_has("transform"))
    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """``fit`` then ``transform``, each measured as its own run."""
        return self.fit(X, y, **fit_params).transform(X)

    @_meta.available_if(_inner_has("score"))
    def score(self, X: Any, y: Any = None, **params: Any) -> Any:
        """``estimator_.score(X, y)``, measured."""
        return self._infer("score", X, params, y=y)

    def _infer(self, method: str, X: Any, params: dict[str, Any], **y: Any) -> Any:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        call = getattr(self.estimator_, method)
        args = (X,) if not y or y["y"] is None else (X, y["y"])
        if not self.track_inference:
            return call(*args, **params)
        with self._measure(method, X) as measured:
            out = call(*args, **params)
        run = measured[0] if measured else None
        self.predict_method_ = method
        self.predict_n_samples_ = _n_samples(X)
        self.predict_energy_j_ = run.energy_j["total"] if run is not None else math.nan
        self.predict_co2e_g_ = run.co2e_g if run is not None else math.nan
        self.predict_run_id_ = run.id if run is not None else None
        return out

    # -- scikit-learn protocol ------------------------------------------------------------
    def __sklearn_tags__(self) -> Any:
        # the wrapped estimator's tags (classifier or regressor, input kinds...): a search
        # and cross_validate then treat the wrapper exactly as the estimator
        tags = deepcopy(_tags.get_tags(self.estimator))
        tags.requires_fit = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return "estimator_" in self.__dict__

    def __getattr__(self, name: str) -> Any:
        # learned attributes of the fitted estimator (classes_, n_features_in_, coef_...)
        if name.endswith("_") and not name.startswith("_"):
            fitted = self.__dict__.get("estimator_")
            if fitted is not None and name != "estimator_":
                return getattr(fitted, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- measuring ------------------------------------------------------------------------
    @contextmanager
    def _measure(self, what: str, X: Any) -> Iterator[list[Run]]:
        """Track the block as one run; yields a list that holds the run once it ended.

        A bad setting (region, PUE, registry URL) raises here, before any work; a tracker
        that then cannot start is a warning and the block runs unmeasured; the block's own
        exception marks the run failed and propagates."""
        measured: list[Run] = []
        tracker = self._tracker(what, X)
        try:
            run = tracker.start()
        except Exception as e:  # never into the user's fit
            warnings.warn(
                f"frugalml could not measure {type(self.estimator).__name__}.{what} "
                f"({type(e).__name__}: {e}); it runs unmeasured.",
                FrugalWarning,
                stacklevel=4,
            )
            yield measured
            return
        try:
            yield measured
        except BaseException as e:
            tracker.stop(status="failed", error=f"{type(e).__name__}: {e}")
            raise
        tracker.stop()
        measured.append(run)

    def _tracker(self, what: str, X: Any) -> Any:
        from frugalml.measure.tracker import Tracker

        inner = type(self.estimator).__name__
        tags = {**{str(k): str(v) for k, v in (self.tags or {}).items()}}
        tags.update(integration="sklearn", estimator=inner, method=what)
        if self.group is not None:
            tags["group"] = str(self.group)
        config: dict[str, Any] = {"n_samples": _n_samples(X)}
        if what == "fit":
            config["params"] = {
                k: repr(v) for k, v in self.estimator.get_params(deep=False).items()
            }
        return Tracker(
            f"{self.name or inner}.{what}",
            region=self.region,
            pue=self.pue,
            db=self.db,
            interval_s=self.interval_s,
            sensors=self.sensors,
            tags=tags,
            config=config,
            handle_signals=False,
        )


def _n_samples(X: Any) -> int | None:
    try:
        return len(X)
    except TypeError:
        shape = getattr(X, "shape", None)
        return int(shape[0]) if shape else None


def fit_energy_scorer(estimator: Any, X: Any, y: Any = None) -> float:
    """A scorer giving the fit energy (joules) of a fitted :class:`EnergyTracked` (or the sum
    over the ``EnergyTracked`` steps of a fitted pipeline), so searches and
    ``cross_validate`` report energy beside accuracy (``mean_test_fit_energy_j``).

    Lower is better: do not ``refit`` on it.

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> m = EnergyTracked(LogisticRegression(max_iter=500), db=False).fit(X, y)
        >>> fit_energy_scorer(m, X, y) == m.fit_energy_j_
        True
    """
    if isinstance(estimator, EnergyTracked):
        return float(estimator.fit_energy_j_)
    steps = getattr(estimator, "steps", None)
    found = [s for _, s in steps or [] if isinstance(s, EnergyTracked)]
    if not found:
        raise TypeError(
            f"fit_energy_scorer needs a fitted EnergyTracked (or a pipeline with one); got "
            f"{type(estimator).__name__}. Wrap the estimator: EnergyTracked({type(estimator).__name__}(...))."
        )
    return float(sum(s.fit_energy_j_ for s in found))
