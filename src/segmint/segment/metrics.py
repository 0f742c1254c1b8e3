"""How well a grouping of customers explains a numeric outcome."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def eta_squared(labels: Any, y: Any) -> float:
    """Share of the variance of ``y`` explained by the groups ``labels`` (correlation ratio²).

    ``eta² = sum_g n_g (mean_g - mean)² / sum_i (y_i - mean)²``: 0 when the groups say nothing
    about ``y``, 1 when ``y`` is constant within each group. It is the R² of a one-way ANOVA,
    so it is comparable between groupings only with the same number of groups.

    Examples
    --------
    >>> eta_squared(["a", "a", "b", "b"], [1.0, 1.0, 3.0, 3.0])
    1.0
    >>> eta_squared(["a", "b", "a", "b"], [1.0, 1.0, 3.0, 3.0])
    0.0
    """
    y = np.asarray(y, dtype=float)
    codes, _ = pd.factorize(np.asarray(labels), sort=True)
    if y.shape[0] != codes.shape[0]:
        raise ValueError(f"labels has {codes.shape[0]} rows but y has {y.shape[0]}")
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0.0:
        return 0.0
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=y) / counts
    between = float((counts * (means - y.mean()) ** 2).sum())
    return between / total


def value_eta_squared(labels: Any, net_spend: Any) -> float:
    """Value: eta² of ``log(1 + net spend)`` across the groups ``labels``.

    Net spend below 0 (returns exceeding purchases in the period) counts as 0: such a
    customer brought nothing, like one who did not buy. The log keeps a few very large buyers
    from deciding the score alone.

    Examples
    --------
    >>> value_eta_squared(["a", "a", "b", "b"], [0.0, -5.0, 99.0, 99.0])
    1.0
    """
    spend = np.asarray(net_spend, dtype=float)
    return eta_squared(labels, np.log1p(np.clip(spend, 0.0, None)))


def interest_eta_squared(labels: Any, category_spend: Any) -> float | None:
    """Interest: multivariate eta² of each buyer's spend-share vector over categories.

    ``category_spend`` is an ``(n, c)`` matrix of gross purchase spend per category (returns
    left out, so every entry is >= 0). Only buyers count, i.e. rows with positive total: each
    becomes its share vector (rows sum to 1), and the result is the trace of the between-group
    covariance over the trace of the total one, the share of the summed per-category variance
    that the groups explain. None when fewer than two buyers or no variance is left.

    Examples
    --------
    >>> spend = [[10.0, 0.0], [5.0, 0.0], [0.0, 3.0], [0.0, 0.0]]
    >>> interest_eta_squared(["a", "a", "b", "b"], spend)
    1.0
    >>> interest_eta_squared(["a", "b", "a", "b"], [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    0.0
    """
    spend = np.asarray(category_spend, dtype=float)
    labels = np.asarray(labels)
    if spend.ndim != 2 or spend.shape[0] != labels.shape[0]:
        raise ValueError(f"category_spend must be ({labels.shape[0]}, c), got {spend.shape}")
    if (spend < 0).any():
        raise ValueError("category_spend must be gross purchase spend (>= 0)")
    total = spend.sum(axis=1)
    buyers = total > 0
    if buyers.sum() < 2:
        return None
    shares = spend[buyers] / total[buyers, None]
    codes, _ = pd.factorize(labels[buyers], sort=True)
    centred = shares - shares.mean(axis=0)
    total_ss = float((centred**2).sum())
    if total_ss == 0.0:
        return None
    counts = np.bincount(codes).astype(float)
    means = np.zeros((counts.size, shares.shape[1]))
    np.add.at(means, codes, centred)
    means /= counts[:, None]
    between = float((counts[:, None] * means**2).sum())
    return between / total_ss
