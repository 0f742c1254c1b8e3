"""Metrics for churn, propensity, spend and purchase-count predictions, as plain dicts for reports.

NumPy (pandas for ranks): arrays in, dicts of floats and lists out (JSON-ready, no NumPy scalars).

Examples
--------
>>> y = [0, 0, 1, 1]
>>> p = [0.1, 0.4, 0.35, 0.8]
>>> round(roc_auc(y, p), 3)
0.75
>>> round(brier_score(y, p), 4)
0.1581
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmint.errors import DataValidationError

__all__ = [
    "roc_auc",
    "average_precision",
    "brier_score",
    "calibration_bins",
    "lift_table",
    "classification_report",
    "cumulative_repeat_tracking",
    "mean_absolute_error",
    "rank_correlation",
]


def _binary(y, name: str = "y_true") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataValidationError(f"{name} must be 1-D, got shape {y.shape}", column=name)
    if y.dtype == bool:
        return y.astype(np.int8)
    if y.size and not np.isin(y, (0, 1)).all():
        raise DataValidationError(f"{name} must hold only 0 and 1", column=name)
    return y.astype(np.int8)


def _scores(s, n: int, name: str = "y_score", probability: bool = False) -> np.ndarray:
    s = np.asarray(s, dtype=float)
    if s.shape != (n,):
        raise DataValidationError(
            f"{name} must have one value per label ({n}), got shape {s.shape}", column=name
        )
    if not np.isfinite(s).all():
        raise DataValidationError(f"{name} holds NaN or infinite values", column=name)
    if probability and ((s < 0) | (s > 1)).any():
        raise DataValidationError(f"{name} must be probabilities in [0, 1]", column=name)
    return s


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve (rank-based, ties counted half).

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_score : array-like of float
        Higher means more likely 1; any scale.

    Returns
    -------
    float
        In [0, 1]; NaN when only one class is present.
    """
    y = _binary(y_true)
    s = _scores(y_score, y.size)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    # Mann-Whitney U with average ranks for ties
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(y.size)
    start = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    stop = np.r_[start[1:], y.size]
    avg = (start + stop + 1) / 2.0  # 1-based average rank of each tie block
    ranks[order] = np.repeat(avg, stop - start)
    u = ranks[y == 1].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


def average_precision(y_true, y_score) -> float:
    """Average precision: the precision at each distinct score, weighted by the recall it adds.

    The area under the precision-recall curve as scikit-learn defines it (step-wise, no
    interpolation; tied scores form one threshold). A constant score gives the positive rate.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_score : array-like of float
        Higher means more likely 1; any scale.

    Returns
    -------
    float
        In [0, 1]; NaN when there is no positive.
    """
    y = _binary(y_true)
    s = _scores(y_score, y.size)
    n1 = int(y.sum())
    if n1 == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    sorted_s = s[order]
    last = np.r_[sorted_s[1:] != sorted_s[:-1], True]  # the last row of each tie block
    true_pos = np.cumsum(y[order])[last]
    precision = true_pos / (np.flatnonzero(last) + 1)
    recall = true_pos / n1
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def brier_score(y_true, y_prob) -> float:
    """Mean squared difference between predicted probabilities and outcomes (lower is better)."""
    y = _binary(y_true)
    p = _scores(y_prob, y.size, "y_prob", probability=True)
    return float(np.mean((p - y) ** 2))


def calibration_bins(y_true, y_prob, n_bins: int = 10, strategy: str = "quantile") -> dict:
    """Reliability-diagram data: mean predicted probability vs observed rate per bin.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_prob : array-like of float in [0, 1]
    n_bins : int, default=10
    strategy : {"quantile", "uniform"}, default="quantile"
        Equal-count bins or equal-width bins on [0, 1]. Empty bins are left out.

    Returns
    -------
    dict
        ``mean_predicted``, ``observed_rate``, ``count`` (lists, one entry per non-empty bin)
        and ``expected_calibration_error`` (count-weighted mean absolute gap).
    """
    y = _binary(y_true)
    p = _scores(y_prob, y.size, "y_prob", probability=True)
    if n_bins < 1:
        raise DataValidationError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "quantile":
        edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise DataValidationError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    bins = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    keep = count > 0
    mean_p = sum_p[keep] / count[keep]
    rate = sum_y[keep] / count[keep]
    ece = float(np.sum(count[keep] * np.abs(mean_p - rate)) / max(y.size, 1))
    return {
        "mean_predicted": mean_p.tolist(),
        "observed_rate": rate.tolist(),
        "count": count[keep].astype(int).tolist(),
        "expected_calibration_error": ece,
    }


def lift_table(y_true, y_score, n_bins: int = 10) -> dict:
    """Lift and cumulative gains by score decile (highest scores first).

    Returns
    -------
    dict
        Lists per bin: ``bin`` (1 = top scores), ``count``, ``positives``, ``rate``, ``lift``
        (rate / overall rate), ``cumulative_share`` (of customers) and ``cumulative_gain``
        (share of all positives captured so far); and ``base_rate``.
    """
    y = _binary(y_true)
    s = _scores(y_score, y.size)
    if y.size == 0:
        raise DataValidationError("lift_table needs at least one customer")
    order = np.argsort(-s, kind="mergesort")
    bins = np.minimum((np.arange(y.size) * n_bins) // y.size, n_bins - 1)
    ys = y[order]
    count = np.bincount(bins, minlength=n_bins)
    pos = np.bincount(bins, weights=ys, minlength=n_bins)
    base = float(y.mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = pos / count
        lift = rate / base if base > 0 else np.full(n_bins, np.nan)
    total = pos.sum()
    return {
        "bin": list(range(1, n_bins + 1)),
        "count": count.astype(int).tolist(),
        "positives": pos.astype(int).tolist(),
        "rate": rate.tolist(),
        "lift": np.asarray(lift).tolist(),
        "cumulative_share": (np.cumsum(count) / y.size).tolist(),
        "cumulative_gain": (np.cumsum(pos) / total if total > 0 else np.zeros(n_bins)).tolist(),
        "base_rate": base,
    }


def classification_report(y_true, probabilities: dict, n_bins: int = 10) -> dict:
    """ROC-AUC, Brier score and calibration error for several models on the same labels.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    probabilities : dict of str to array-like
        Model name -> predicted probability of 1.
    n_bins : int, default=10
        Bins for the calibration error.

    Returns
    -------
    dict
        ``{"n": ..., "base_rate": ..., "models": {name: {"roc_auc", "brier", "ece"}}}``.
    """
    y = _binary(y_true)
    out = {}
    for name, p in probabilities.items():
        out[name] = {
            "roc_auc": roc_auc(y, p),
            "brier": brier_score(y, p),
            "ece": calibration_bins(y, p, n_bins)["expected_calibration_error"],
        }
    return {
        "n": int(y.size),
        "base_rate": float(y.mean()) if y.size else float("nan"),
        "models": out,
    }


def mean_absolute_error(y_true, y_pred) -> float:
    """Mean absolute error."""
    y = np.asarray(y_true, dtype=float)
    p = _scores(y_pred, y.size, "y_pred")
    return float(np.mean(np.abs(y - p)))


def rank_correlation(x, y) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (ties get their mean rank); NaN when
    either is constant.

    >>> rank_correlation([1, 2, 3, 4], [10, 20, 40, 30])
    0.8
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise DataValidationError(f"x and y must be 1-D of one length, got {x.shape}, {y.shape}")
    rx, ry = (pd.Series(v).rank().to_numpy() for v in (x, y))
    if x.size < 2 or rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def cumulative_repeat_tracking(model, first_purchase, repeat_times, periods) -> dict:
    """Predicted vs actual cumulative repeat purchases of a cohort over calendar time.

    The tracking plot of Fader, Hardie & Lee (2005, fig. 4): at each time ``t`` the actual
    curve counts repeat purchases made by ``t``; the predicted one sums, over customers
    acquired before ``t``, the model's expected repeat purchases in ``t - first_purchase``
    (``model.expected_purchases_unconditional``).

    Parameters
    ----------
    model : fitted BetaGeoNBD, ParetoNBD or similar
        Anything with ``expected_purchases_unconditional(t)``.
    first_purchase : array-like of float
        Each customer's first purchase time (same unit and origin as ``periods``).
    repeat_times : array-like of float
        Times of all repeat purchases of these customers.
    periods : array-like of float
        Increasing end times at which to compare.

    Returns
    -------
    dict
        ``period``, ``actual``, ``predicted`` (lists) and ``max_abs_pct_error`` over the
        periods with at least one actual purchase.
    """
    t0 = np.asarray(first_purchase, dtype=float)
    rt = np.sort(np.asarray(repeat_times, dtype=float))
    grid = np.asarray(periods, dtype=float)
    if grid.ndim != 1 or np.any(np.diff(grid) <= 0):
        raise DataValidationError("periods must be a 1-D increasing sequence")
    actual = np.searchsorted(rt, grid, side="right").astype(float)
    # group customers by first-purchase time: few distinct values, so this stays cheap
    uniq, counts = np.unique(t0, return_counts=True)
    age = grid[:, None] - uniq[None, :]
    exp = np.where(age > 0, model.expected_purchases_unconditional(np.maximum(age, 0.0)), 0.0)
    predicted = exp @ counts
    seen = actual > 0
    err = (
        float(np.max(np.abs(predicted[seen] - actual[seen]) / actual[seen]))
        if seen.any()
        else float("nan")
    )
    return {
        "period": grid.tolist(),
        "actual": actual.tolist(),
        "predicted": predicted.tolist(),
        "max_abs_pct_error": err,
    }
