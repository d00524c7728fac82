"""When will early stopping end the run? The forecast's epoch count under an early-stopping rule.

Three ways a callback can report its state (:class:`EarlyStopping`):

- ``expected``: the callback's own estimate of its stopping epoch, taken as given.
- ``patience`` (Keras/Lightning ``EarlyStopping``): stop after ``patience`` epochs without an
  improvement larger than ``min_delta``. Whether an epoch improves is treated as a coin
  that lands "improved" with the frequency seen so far, recent epochs weighing more
  (half-life ``patience`` epochs; Jeffreys prior); the distribution of the stopping epoch follows exactly by dynamic
  programming over "epochs since the best". Its mean is the forecast, its 10th and 90th
  percentiles the interval.
- ``relative-gain`` (frugalml's ``EnergyAwareEarlyStopping`` in its default, relative form):
  stop when the improvement over the last ``window`` epochs, per joule, falls below
  ``min_relative_gain`` times the average since the first epoch. The running best of the
  monitored value is extrapolated with a saturating exponential ``c - a exp(-k e)``, fitted
  once three epochs are seen, and the rule is played forward on it (per-epoch energy taken as
  constant, so it cancels). The interval spans the stopping epochs of every decay rate ``k``
  that fits within twice the best squared error (or within 0.5 % of the gain so far). Before three epochs, the forecast is the
  earliest epoch the rule can stop at, and the interval reaches the configured end.

Units: epochs (1-based); the returned counts may be fractional (an expectation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from frugalml._params import check_number
from frugalml.errors import InputError

__all__ = ["RULES", "EarlyStopping", "StopEstimate", "estimate_stop"]

RULES = ("expected", "patience", "relative-gain")
_LOW_Q, _HIGH_Q = 0.1, 0.9
_DECAY_RATES = np.geomspace(0.01, 5.0, 80)


@dataclass(frozen=True)
class EarlyStopping:
    """What an early-stopping callback tells the forecast. Build it with a class method.

    Example:
        >>> EarlyStopping.with_patience(3, values=[0.9, 0.5, 0.4, 0.41]).rule
        'patience'
        >>> EarlyStopping.expected(12).expected_stop_epoch
        12
    """

    rule: str
    values: tuple[float, ...] = ()
    higher_is_better: bool = False
    patience: int | None = None
    epochs_since_best: int | None = None
    min_delta: float = 0.0
    window: int | None = None
    min_relative_gain: float | None = None
    expected_stop_epoch: int | None = None

    @classmethod
    def expected(cls, stop_epoch: int) -> EarlyStopping:
        """The callback expects to stop after epoch ``stop_epoch``."""
        check_number("EarlyStopping", "stop_epoch", stop_epoch, low=1, integer=True)
        return cls("expected", expected_stop_epoch=int(stop_epoch))

    @classmethod
    def with_patience(
        cls,
        patience: int,
        *,
        values: Sequence[float] = (),
        epochs_since_best: int | None = None,
        higher_is_better: bool = False,
        min_delta: float = 0.0,
    ) -> EarlyStopping:
        """Patience rule: stop after ``patience`` epochs without improvement.

        Args:
            patience: epochs without improvement that stop training (>= 1).
            values: the monitored value after each epoch so far (loss, accuracy ...); gives
                the improvement frequency. Without it, one improvement in two is assumed.
            epochs_since_best: epochs since the best value, when ``values`` is not given.
            higher_is_better: True for accuracy-like metrics.
            min_delta: smallest change that counts as an improvement.
        """
        check_number("EarlyStopping", "patience", patience, low=1, integer=True)
        if epochs_since_best is not None:
            check_number(
                "EarlyStopping", "epochs_since_best", epochs_since_best, low=0, integer=True
            )
        check_number("EarlyStopping", "min_delta", min_delta, low=0)
        return cls(
            "patience",
            values=_values(values),
            higher_is_better=bool(higher_is_better),
            patience=int(patience),
            epochs_since_best=epochs_since_best,
            min_delta=float(min_delta),
        )

    @classmethod
    def relative_gain(
        cls,
        window: int,
        min_relative_gain: float = 0.1,
        *,
        values: Sequence[float] = (),
        higher_is_better: bool = False,
    ) -> EarlyStopping:
        """frugalml's energy-aware rule (``EnergyAwareEarlyStopping``, relative form).

        Args:
            window: epochs over which the improvement rate is measured.
            min_relative_gain: stop when the window's rate is below this fraction of the
                average rate since the first epoch.
            values: the monitored value after each epoch so far.
            higher_is_better: True for accuracy-like metrics.
        """
        check_number("EarlyStopping", "window", window, low=1, integer=True)
        check_number("EarlyStopping", "min_relative_gain", min_relative_gain, low=0, high=1)
        return cls(
            "relative-gain",
            values=_values(values),
            higher_is_better=bool(higher_is_better),
            window=int(window),
            min_relative_gain=float(min_relative_gain),
        )


@dataclass(frozen=True)
class StopEstimate:
    """Expected last epoch and its interval (10th-90th percentile where a distribution exists)."""

    epochs: float
    low: float
    high: float


def _values(values: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in out):
        raise InputError(
            "EarlyStopping values must be finite numbers (the monitored metric after each "
            f"epoch); got {list(values)!r}."
        )
    return out


def estimate_stop(state: EarlyStopping, epochs_seen: int, total_epochs: int) -> StopEstimate:
    """Expected last epoch of a run at ``epochs_seen`` of ``total_epochs`` under ``state``.

    The run has not stopped at ``epochs_seen`` (else there would be nothing to forecast), so
    the answer is at least ``epochs_seen + 1`` and at most ``total_epochs``.

    Example:
        >>> estimate_stop(EarlyStopping.expected(12), 5, 30)
        StopEstimate(epochs=12.0, low=12.0, high=12.0)
        >>> e = estimate_stop(EarlyStopping.with_patience(2, values=[5, 4, 4, 4]), 4, 30)
        >>> 5 <= e.low <= e.epochs <= e.high <= 30
        True
    """
    if epochs_seen >= total_epochs:
        return StopEstimate(float(total_epochs), float(total_epochs), float(total_epochs))
    first = epochs_seen + 1
    if state.rule == "expected":
        assert state.expected_stop_epoch is not None
        e = float(min(max(state.expected_stop_epoch, first), total_epochs))
        return StopEstimate(e, e, e)
    if state.rule == "patience":
        return _patience(state, epochs_seen, total_epochs)
    if state.rule == "relative-gain":
        return _relative_gain(state, epochs_seen, total_epochs)
    raise InputError(f"Unknown early-stopping rule {state.rule!r}; use one of {', '.join(RULES)}.")


def _improvements(state: EarlyStopping) -> list[bool]:
    """Whether each epoch after the first improved on the running best by > min_delta."""
    sign = 1.0 if state.higher_is_better else -1.0
    out: list[bool] = []
    best = None
    for v in state.values:
        score = sign * v
        if best is None:
            best = score
            continue
        improved = score - best > state.min_delta
        out.append(improved)
        if improved:
            best = score
    return out


def _patience(state: EarlyStopping, seen: int, total: int) -> StopEstimate:
    assert state.patience is not None
    patience = state.patience
    improved = _improvements(state)
    if state.values:
        since = next((i for i, imp in enumerate(reversed(improved)) if imp), len(improved))
    else:
        since = state.epochs_since_best or 0
    # improvement frequency, recent epochs weighing more (half-life: patience epochs), since
    # improvements thin out as training converges; Jeffreys prior
    ages = np.arange(len(improved))[::-1]
    weights = 0.5 ** (ages / patience)
    q = (float(np.dot(weights, improved)) + 0.5) / (float(weights.sum()) + 1.0)
    # P(epochs since best == s), s < patience, before each future epoch
    prob = np.zeros(patience)
    prob[min(since, patience - 1)] = 1.0
    stops: list[tuple[int, float]] = []
    for epoch in range(seen + 1, total + 1):
        stop_now = prob[-1] * (1 - q)
        new = np.zeros(patience)
        new[0] = prob.sum() * q
        new[1:] = prob[:-1] * (1 - q)
        prob = new
        if epoch == total:
            stop_now += prob.sum()
        stops.append((epoch, float(stop_now)))
    mean = sum(e * p for e, p in stops)
    low, high = _quantile(stops, _LOW_Q), _quantile(stops, _HIGH_Q)
    return StopEstimate(min(max(mean, low), high), low, high)


def _quantile(dist: list[tuple[int, float]], q: float) -> float:
    acc = 0.0
    for epoch, p in dist:
        acc += p
        if acc >= q - 1e-12:
            return float(epoch)
    return float(dist[-1][0])


def _relative_gain(state: EarlyStopping, seen: int, total: int) -> StopEstimate:
    assert state.window is not None and state.min_relative_gain is not None
    window = state.window
    earliest = float(min(max(seen + 1, window + 1), total))
    sign = 1.0 if state.higher_is_better else -1.0
    best = np.maximum.accumulate(sign * np.array(state.values[:seen], dtype=float))
    if len(best) < 3 or best[-1] <= best[0]:
        return StopEstimate(earliest, earliest, float(total))
    epochs = np.arange(1, len(best) + 1, dtype=float)
    fits = [f for f in (_fit_decay(epochs, best, k) for k in _DECAY_RATES) if f is not None]
    if not fits:
        return StopEstimate(earliest, earliest, float(total))
    best_fit = _refine(epochs, best, min(fits))
    scale = float(best[-1] - best[0])
    # every decay rate that fits about as well (or within 0.5 % of the gain, model error)
    tolerance = 2 * best_fit[0] + len(best) * (0.005 * scale) ** 2
    plausible = [f for f in [*fits, best_fit] if f[0] <= tolerance]
    play = [
        _play_forward(best, k, a, window, state.min_relative_gain, total) for _, k, a in plausible
    ]
    point = _play_forward(best, best_fit[1], best_fit[2], window, state.min_relative_gain, total)
    return StopEstimate(max(point, earliest), max(min(play), earliest), max(max(play), earliest))


def _fit_decay(epochs: np.ndarray, best: np.ndarray, k: float) -> tuple[float, float, float] | None:
    """Least squares of ``c - a exp(-k e)`` for a given ``k``: ``(sse, k, a)``, None if not
    improving (a <= 0)."""
    basis = np.exp(-k * epochs)
    X = np.column_stack([np.ones_like(basis), -basis])
    (c, a), *_ = np.linalg.lstsq(X, best, rcond=None)
    if a <= 0:
        return None
    return float(np.sum((X @ np.array([c, a]) - best) ** 2)), float(k), float(a)


def _refine(
    epochs: np.ndarray, best: np.ndarray, start: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Golden-section search of log k around the best grid point."""
    step = math.log(_DECAY_RATES[1] / _DECAY_RATES[0])
    lo, hi = math.log(start[1]) - step, math.log(start[1]) + step
    g = (math.sqrt(5) - 1) / 2

    def sse(logk: float) -> float:
        f = _fit_decay(epochs, best, math.exp(logk))
        return math.inf if f is None else f[0]

    for _ in range(40):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        if sse(a) < sse(b):
            hi = b
        else:
            lo = a
    found = _fit_decay(epochs, best, math.exp((lo + hi) / 2))
    return found if found is not None and found[0] <= start[0] else start


def _play_forward(
    best: np.ndarray, k: float, a: float, window: int, min_gain: float, total: int
) -> float:
    """First epoch at which the relative-gain rule fires on the extrapolated running best."""
    seen = len(best)
    future = np.arange(seen + 1, total + 1, dtype=float)
    # continue from the last observed best with the fitted curve's increments
    ext = best[-1] + a * (math.exp(-k * seen) - np.exp(-k * future))
    curve = np.concatenate([best, ext])
    for i in range(seen, total):  # evaluation index i is epoch i + 1
        if i < window:
            continue
        gained = curve[i] - curve[0]
        if gained <= 0:
            return float(i + 1)
        rate = (curve[i] - curve[i - window]) / window
        if rate < min_gain * gained / i:
            return float(i + 1)
    return float(total)
