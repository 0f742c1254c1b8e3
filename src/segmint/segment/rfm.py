"""Classic RFM scoring and the named RFM groups, as a transparent baseline for ML segments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import DataValidationError

__all__ = ["RFM_GROUPS", "rfm_group", "rfm_groups_n", "rfm_scores", "quantile_scores"]

#: The named groups, from most to least valuable (the order used to break ties and to merge).
RFM_GROUPS = (
    "Champions",
    "Loyal Customers",
    "Cannot Lose Them",
    "Potential Loyalists",
    "At Risk",
    "New Customers",
    "Need Attention",
    "Promising",
    "About To Sleep",
    "Hibernating",
    "Lost",
)

# Grid: rows R = 1..5, columns F (or FM) = 1..5. The widely used R x F segment map
# (R 5 & F 4-5 Champions, R 3-4 & F 4-5 Loyal, R 1-2 & F 5 Cannot Lose Them, R 1-2 & F 3-4 At
# Risk, R 4-5 & F 2-3 Potential Loyalists, R 5 & F 1 New, R 4 & F 1 Promising, R 3 & F 3 Need
# Attention, R 3 & F 1-2 About To Sleep, R 1-2 & F 1-2 Hibernating) with the bottom corner
# (R 1 & F 1) split off as Lost.
_GRID = (
    # columns: F (or FM) = 1..5
    ("Lost", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"),  # R = 1
    ("Hibernating", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"),  # R = 2
    ("About To Sleep", "About To Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"),
    (
        "Promising",
        "Potential Loyalists",
        "Potential Loyalists",
        "Loyal Customers",
        "Loyal Customers",
    ),
    ("New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"),
)
_GRID_ARRAY = np.array(_GRID, dtype=object)


def _as_1d(values: Any, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values, dtype=float)
    arr = arr.reshape(-1)
    if arr.size == 0:
        msg = f"{name} is empty; RFM scores need at least one customer"
        raise DataValidationError(msg, column=name)
    if n is not None and arr.size != n:
        msg = f"{name} has {arr.size} values but recency_days has {n}"
        raise DataValidationError(msg, column=name)
    if np.isnan(arr).any():
        msg = f"{name} has {int(np.isnan(arr).sum())} missing value(s)"
        raise DataValidationError(msg, column=name)
    return arr


def quantile_scores(values: Any, n_bins: int = 5, *, higher_is_better: bool = True) -> np.ndarray:
    """Equal-count scores 1..n_bins by rank; ties are broken by position (``rank(method="first")``).

    With ``n`` values the ``i``-th smallest (0-based rank ``r``) gets ``floor(r * n_bins / n) + 1``,
    so every score holds ``n / n_bins`` customers (±1) even when many values are tied (typical for
    frequency, where most customers have one order). ``higher_is_better=False`` reverses the order
    (recency: the most recent customers get ``n_bins``).

    Parameters
    ----------
    values : array-like of shape (n,)
    n_bins : int, default=5
    higher_is_better : bool, default=True

    Returns
    -------
    ndarray of int of shape (n,)

    Examples
    --------
    >>> quantile_scores([10, 20, 30, 40, 50]).tolist()
    [1, 2, 3, 4, 5]
    >>> quantile_scores([10, 20, 30, 40, 50], higher_is_better=False).tolist()
    [5, 4, 3, 2, 1]
    """
    arr = np.asarray(values, dtype=float).reshape(-1)
    n = arr.size
    key = arr if higher_is_better else -arr
    order = np.argsort(key, kind="stable")
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n)
    return (ranks * n_bins // n + 1).astype(np.int64)


def rfm_group(r_score: Any, fm_score: Any) -> np.ndarray:
    """Named RFM group for R and F (or FM) scores in 1..5.

    The mapping (R score, then F or FM score)::

        R=5   F=1 New Customers   F=2-3 Potential Loyalists  F=4-5 Champions
        R=4   F=1 Promising       F=2-3 Potential Loyalists  F=4-5 Loyal Customers
        R=3   F=1-2 About To Sleep       F=3 Need Attention  F=4-5 Loyal Customers
        R=2   F=1-2 Hibernating          F=3-4 At Risk       F=5 Cannot Lose Them
        R=1   F=1 Lost   F=2 Hibernating F=3-4 At Risk       F=5 Cannot Lose Them

    This is the widely used R x F segment map, with the R=1, F=1 corner named Lost.

    Parameters
    ----------
    r_score, fm_score : array-like of int in 1..5

    Returns
    -------
    ndarray of str

    Examples
    --------
    >>> rfm_group([5, 1, 2], [5, 1, 5]).tolist()
    ['Champions', 'Lost', 'Cannot Lose Them']
    """
    r = np.asarray(r_score, dtype=np.int64).reshape(-1)
    f = np.asarray(fm_score, dtype=np.int64).reshape(-1)
    if ((r < 1) | (r > 5) | (f < 1) | (f > 5)).any():
        msg = "RFM scores must be integers from 1 to 5"
        raise DataValidationError(msg)
    return _GRID_ARRAY[r - 1, f - 1].astype(object)


def rfm_scores(
    recency_days: Any,
    frequency: Any,
    monetary: Any,
    *,
    index: Any = None,
    group_axis: str = "fm",
) -> pd.DataFrame:
    """RFM quintile scores, the "RFM" code and the named group of each customer.

    Parameters
    ----------
    recency_days : array-like of shape (n,)
        Days since the last order (lower is better, so it is scored inverted).
    frequency : array-like of shape (n,)
        Number of orders.
    monetary : array-like of shape (n,)
        Spend.
    index : array-like, optional
        Index of the result (e.g. customer ids); defaults to the index of ``recency_days`` when it
        is a pandas Series, else a RangeIndex.
    group_axis : {"fm", "f"}, default="fm"
        Second axis of the named-group grid: ``"fm"`` uses ``fm_score``, the mean of F and M
        rounded half up (so M counts, as in the R x FM variant of the map); ``"f"`` uses F alone.

    Returns
    -------
    pandas.DataFrame
        Columns ``r_score``, ``f_score``, ``m_score`` (1..5, 5 = best; equal-count quintiles by
        rank, see :func:`quantile_scores`), ``fm_score``, ``rfm_score`` (e.g. ``"545"``),
        ``rfm_total`` (R+F+M) and ``rfm_group`` (see :func:`rfm_group`).

    Examples
    --------
    >>> df = rfm_scores([1, 20, 50, 120, 300], [9, 5, 3, 2, 1], [900, 400, 120, 60, 15])
    >>> df["rfm_score"].tolist()
    ['555', '444', '333', '222', '111']
    >>> df["rfm_group"].tolist()
    ['Champions', 'Loyal Customers', 'Need Attention', 'Hibernating', 'Lost']
    """
    if group_axis not in ("fm", "f"):
        msg = f"group_axis must be 'fm' or 'f', got {group_axis!r}"
        raise ValueError(msg)
    rec = _as_1d(recency_days, "recency_days")
    freq = _as_1d(frequency, "frequency", rec.size)
    mon = _as_1d(monetary, "monetary", rec.size)
    if index is None and isinstance(recency_days, pd.Series):
        index = recency_days.index
    r = quantile_scores(rec, higher_is_better=False)
    f = quantile_scores(freq)
    m = quantile_scores(mon)
    fm = (f + m + 1) // 2  # mean rounded half up
    code = np.char.add(np.char.add(r.astype(str), f.astype(str)), m.astype(str))
    group = rfm_group(r, fm if group_axis == "fm" else f)
    return pd.DataFrame(
        {
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "fm_score": fm,
            "rfm_score": code.astype(object),
            "rfm_total": r + f + m,
            "rfm_group": group,
        },
        index=index,
    )


def rfm_groups_n(
    recency_days: Any,
    frequency: Any,
    monetary: Any,
    n_groups: int,
    *,
    method: str = "merge",
    group_axis: str = "fm",
) -> pd.Series:
    """RFM-based groups with exactly ``n_groups`` groups (where the data allow), as a baseline.

    Parameters
    ----------
    recency_days, frequency, monetary : array-like of shape (n,)
    n_groups : int
        Number of groups wanted (>= 1).
    method : {"merge", "tiers"}, default="merge"
        ``"merge"``: start from the named groups (:func:`rfm_scores`) and repeatedly merge the
        two groups whose centroids in (R, FM) score space are closest (Ward's criterion: the
        merge that least increases the within-group sum of squares, weighted by size) until
        ``n_groups`` remain; merged groups are named ``"A + B"``. If fewer named groups are
        populated than asked, all of them are returned. ``"tiers"``: equal-count tiers of the
        total score R+F+M (ties broken by R, then F, then M), named ``"RFM tier 1"`` (best) ...
    group_axis : {"fm", "f"}, default="fm"
        As in :func:`rfm_scores`.

    Returns
    -------
    pandas.Series of str
        Group name per customer.

    Examples
    --------
    >>> g = rfm_groups_n([1, 20, 50, 120, 300], [9, 5, 3, 2, 1], [900, 400, 120, 60, 15], 2)
    >>> g.value_counts().sort_index().to_dict()
    {'Champions + Loyal Customers': 2, 'Need Attention + Hibernating + Lost': 3}
    """
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or n_groups < 1:
        msg = f"n_groups must be a positive integer, got {n_groups!r}"
        raise ValueError(msg)
    scores = rfm_scores(recency_days, frequency, monetary, group_axis=group_axis)
    if method == "tiers":
        key = scores["rfm_total"] * 1000 + scores["r_score"] * 100 + scores["f_score"] * 10
        key = key + scores["m_score"]
        tier = n_groups - quantile_scores(key.to_numpy(), n_groups) + 1
        return pd.Series(
            np.char.add("RFM tier ", tier.astype(str)).astype(object),
            index=scores.index,
            name="rfm_group",
        )
    if method != "merge":
        msg = f"method must be 'merge' or 'tiers', got {method!r}"
        raise ValueError(msg)
    second = "fm_score" if group_axis == "fm" else "f_score"
    stats = scores.groupby("rfm_group", sort=False).agg(
        n=("r_score", "size"), r=("r_score", "mean"), f=(second, "mean")
    )
    stats = stats.loc[[g for g in RFM_GROUPS if g in stats.index]]
    names = list(stats.index)
    members: dict[str, list[str]] = {g: [g] for g in names}
    cent = {g: np.array([stats.at[g, "r"], stats.at[g, "f"]]) for g in names}
    size = {g: float(stats.at[g, "n"]) for g in names}
    while len(names) > n_groups:
        best: tuple[float, int, int] | None = None
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                a, b = names[i], names[j]
                d = np.sum((cent[a] - cent[b]) ** 2) * size[a] * size[b] / (size[a] + size[b])
                if best is None or d < best[0] - 1e-12:
                    best = (d, i, j)
        assert best is not None
        _, i, j = best
        a, b = names[i], names[j]
        merged = sorted(members[a] + members[b], key=RFM_GROUPS.index)
        new = " + ".join(merged)
        cent[new] = (cent[a] * size[a] + cent[b] * size[b]) / (size[a] + size[b])
        size[new] = size[a] + size[b]
        members[new] = merged
        names[i] = new
        del names[j]
    mapping = {orig: name for name in names for orig in members[name]}
    return pd.Series(
        scores["rfm_group"].map(mapping).to_numpy(dtype=object),
        index=scores.index,
        name="rfm_group",
    )
