"""The per-epoch cost model behind the forecast: which curve the epochs seen so far follow.

A series of per-epoch costs (joules, or seconds, or joules per declared unit of work) is fitted
by weighted least squares with three candidate shapes; a shape other than the level must pass a
significance test, so that a noisy steady run is not mistaken for a trend:

- ``level``: a constant (steady jobs);
- ``trend``: a straight line in the epoch number (a cost that grows or shrinks every epoch:
  a growing labelled set, a pruning schedule executed sparsely, progressive resizing);
- ``recent-level``: a step, of which only the level after the step is kept (a job that
  changed regime: a new stage of progressive training, a learning-rate phase with another
  batch size).

Before fitting, a first epoch much costlier than the rest (``WARMUP_RATIO``: a cache being
filled, lazy initialisation, compilation) is set aside as warm-up: it has been paid and does
not recur. With one epoch only there is nothing to compare; its cost is taken as the level
(``single-epoch``) with a wide prior spread.

The remaining cost's standard deviation combines the fitted curve's own uncertainty
(covariance of its coefficients), the epoch-to-epoch scatter around it and a stated drift of the
level (``DRIFT_RELATIVE_SD``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "ALPHA",
    "DRIFT_RELATIVE_SD",
    "MIN_SHAPE_POINTS",
    "PRIOR_RELATIVE_SD",
    "WARMUP_RATIO",
    "SeriesFit",
    "fit_series",
]

#: A first epoch costing more than this multiple of the median of the later ones is warm-up.
WARMUP_RATIO = 1.5
#: Points needed (after warm-up) before a trend or a step may be preferred to a level.
MIN_SHAPE_POINTS = 5
#: Relative spread assumed for one epoch's cost when the scatter cannot be estimated (one or
#: two epochs seen): a stated judgement, wide on purpose.
PRIOR_RELATIVE_SD = 0.25
#: Relative standard deviation of the remaining cost's level from one run's conditions changing
#: (co-located load, clock and thermal state, data-dependent batches): a stated judgement,
#: added to the statistical spread so that an interval does not claim more than epochs can show.
DRIFT_RELATIVE_SD = 0.05
#: Significance level of the tests that let a trend or a step replace the level.
ALPHA = 0.01
#: Fewest points on each side of a step.
MIN_SEGMENT = 2
#: Smallest relative change over the seen epochs for which a trend or a step is believed:
#: below it, quantisation of the energy readings and machine noise explain the difference.
MIN_EFFECT = 0.1


@dataclass(frozen=True)
class SeriesFit:
    """A fitted per-epoch cost curve.

    Attributes:
        kind: ``level``, ``trend``, ``recent-level`` or ``single-epoch``.
        warmup: whether the first interval was set aside as warm-up.
        coef: ``[level]`` or ``[intercept, slope per epoch]``.
        cov: covariance of ``coef``.
        sigma: standard deviation of one epoch's cost around the curve.
    """

    kind: str
    warmup: bool
    coef: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]
    sigma: float

    def per_epoch(self, epochs: np.ndarray) -> np.ndarray:
        """Predicted cost of each epoch (1-based numbers), never negative."""
        if len(self.coef) == 1:
            return np.full(len(epochs), max(self.coef[0], 0.0))
        a, b = self.coef
        return np.maximum(a + b * np.asarray(epochs, dtype=float), 0.0)

    def remaining(self, epochs: np.ndarray, work: np.ndarray) -> tuple[float, float]:
        """Sum of ``work[i] x cost(epochs[i])`` and its standard deviation.

        Args:
            epochs: 1-based epoch numbers still to run.
            work: weight of each of those epochs (1.0 each, or the declared work, or a
                fraction for a partial last epoch).
        """
        if len(epochs) == 0:
            return 0.0, 0.0
        point = float(np.dot(work, self.per_epoch(epochs)))
        basis = np.array([np.sum(work)] + ([np.dot(work, epochs)] if len(self.coef) == 2 else []))
        cov = np.array(self.cov)
        var = float(basis @ cov @ basis) + self.sigma**2 * float(np.dot(work, work))
        var += (DRIFT_RELATIVE_SD * point) ** 2
        return point, math.sqrt(max(var, 0.0))


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Weighted least squares: coefficients, (X'WX)^-1, weighted SSE, parameters."""
    sw = np.sqrt(w)
    A = X * sw[:, None]
    if X.shape[1] == 1:  # a level: the weighted mean, exactly
        coef = np.array([np.average(y, weights=w)])
    else:
        coef, *_ = np.linalg.lstsq(A, y * sw, rcond=None)
    resid = (y - X @ coef) * sw
    xtx_inv = np.linalg.pinv(A.T @ A)
    return coef, xtx_inv, float(resid @ resid), X.shape[1]


def _t_quantile(p: float, dof: int) -> float:
    """Student's t quantile (Cornish-Fisher expansion of the normal one; < 1 % off for dof >= 3)."""
    z = NormalDist().inv_cdf(p)
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def fit_series(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> SeriesFit:
    """Fit the per-epoch costs ``y`` observed at epoch positions ``x`` with weights ``w``.

    A trend or a step replaces the level only when it is significant at ``ALPHA`` (a t-test
    on the slope; the largest two-segment t over every split, Bonferroni-corrected for the
    number of splits tried) and changes the cost by more than ``MIN_EFFECT``: noise must not
    be extrapolated over the epochs left.

    Args:
        x: epoch position of each interval (its mid-epoch, 1-based).
        y: cost per epoch (or per unit of work) in each interval.
        w: weight of each interval (how many epochs it spans).

    Example:
        >>> import numpy as np
        >>> f = fit_series(np.arange(1.0, 7), np.array([9.0, 2, 2, 2, 2, 2]), np.ones(6))
        >>> f.kind, f.warmup, round(f.coef[0], 6)
        ('level', True, 2.0)
    """
    x, y, w = (np.asarray(a, dtype=float) for a in (x, y, w))
    warmup = False
    if len(y) >= 2 and y[0] > WARMUP_RATIO * float(np.median(y[1:])):
        x, y, w, warmup = x[1:], y[1:], w[1:], True
    n = len(y)
    scale = float(np.average(np.abs(y), weights=w)) or 1.0
    if n == 1:
        sd = PRIOR_RELATIVE_SD * abs(float(y[0]))
        return SeriesFit("single-epoch", warmup, (float(y[0]),), ((sd**2,),), sd)

    ones = np.ones((n, 1))
    chosen: tuple[str, tuple[np.ndarray, np.ndarray, float, int], np.ndarray] = (
        "level",
        _wls(ones, y, w),
        y,
    )
    if n >= MIN_SHAPE_POINTS:
        candidates = []
        X = np.column_stack([np.ones(n), x])
        trend = _wls(X, y, w)
        coef, xtx_inv, sse, _ = trend
        s2 = sse / (n - 2)
        change = abs(coef[1]) * (x[-1] - x[0]) / scale
        t_slope = abs(coef[1]) / math.sqrt(max(s2 * xtx_inv[1, 1], 1e-300))
        if change > MIN_EFFECT and t_slope > _t_quantile(1 - ALPHA / 2, n - 2):
            candidates.append((sse, "trend", trend, y))
        step = _best_step(y, w)
        if step is not None:
            split, sse_step, t_step, splits = step
            before = np.average(y[:split], weights=w[:split])
            after = np.average(y[split:], weights=w[split:])
            critical = _t_quantile(1 - ALPHA / (2 * splits), n - 2)
            if abs(after - before) / scale > MIN_EFFECT and t_step > critical:
                tail = np.ones((n - split, 1))
                candidates.append(
                    (sse_step, "recent-level", _wls(tail, y[split:], w[split:]), y[split:])
                )
        if candidates:
            _, kind, fit, used = min(candidates, key=lambda c: c[0])
            chosen = (kind, fit, used)
    kind, (coef, xtx_inv, sse, p), y_used = chosen
    dof = len(y_used) - p
    # one degree of freedom says little about the scatter: then the prior does
    sigma2 = sse / dof if dof >= 2 else (PRIOR_RELATIVE_SD * scale) ** 2
    cov = xtx_inv * sigma2
    return SeriesFit(
        kind,
        warmup,
        tuple(float(c) for c in coef),
        tuple(tuple(float(v) for v in row) for row in cov),
        math.sqrt(sigma2),
    )


def _best_step(y: np.ndarray, w: np.ndarray) -> tuple[int, float, float, int] | None:
    """The split (first index of the second segment) with the largest two-segment t statistic:
    ``(split, SSE, t, splits tried)``. Each segment has at least ``MIN_SEGMENT`` points.

    Every split at once from cumulative sums (O(n): ``epoch_end`` runs this in the training's
    thread at every epoch, and a run may have thousands of epochs); ``y`` is centred first so
    that the sums of squares lose no precision.
    """
    n = len(y)
    first, last = MIN_SEGMENT, n - MIN_SEGMENT  # splits first..last inclusive
    if last < first:
        return None
    yc = y - np.average(y, weights=w)
    cw, cwy, cwyy = np.cumsum(w), np.cumsum(w * yc), np.cumsum(w * yc * yc)
    k = np.arange(first, last + 1)
    w1, s1, q1 = cw[k - 1], cwy[k - 1], cwyy[k - 1]
    w2, s2, q2 = cw[-1] - w1, cwy[-1] - s1, cwyy[-1] - q1
    mean1, mean2 = s1 / w1, s2 / w2
    sse = np.maximum(q1 - s1 * mean1, 0.0) + np.maximum(q2 - s2 * mean2, 0.0)
    var = np.maximum(sse / (n - 2) * (1 / w1 + 1 / w2), 1e-300)
    t = np.abs(mean2 - mean1) / np.sqrt(var)
    best = int(np.argmax(t))  # the first of equal maxima, as a scan in order would keep
    return int(k[best]), float(sse[best]), float(t[best]), len(k)
