"""Baseline groupings that segments must beat: the RFM ladder and two naive k-means.

Each takes the number of groups ``k`` of the segmentation it is compared with, so that both
sides explain an outcome with the same number of groups (eta² grows with it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from segmint.segment.rfm import quantile_scores, rfm_scores

__all__ = ["kmeans_rfm", "kmeans_rfm_categories", "rfm_ladder"]


def rfm_ladder(recency_days: Any, frequency: Any, monetary: Any, k: int) -> np.ndarray:
    """(a) The RFM ladder: R + F + M quintile scores, cut into ``k`` equal-count bins.

    Returns the bin per customer, 1 (lowest total) to ``k``; ties in the total are broken by
    position, as :func:`segmint.segment.quantile_scores` does.

    Examples
    --------
    >>> rfm_ladder([1, 20, 50, 120, 300, 400], [9, 5, 3, 2, 1, 1], [9, 8, 7, 6, 5, 4], 3).tolist()
    [3, 3, 2, 2, 1, 1]
    """
    total = rfm_scores(recency_days, frequency, monetary)["rfm_total"].to_numpy()
    return quantile_scores(total, k)


def _log_rfm(recency_days: Any, frequency: Any, monetary: Any) -> np.ndarray:
    """log(1 + x) of recency, frequency and monetary (clipped at 0), one column each."""
    columns = [np.asarray(v, dtype=float).reshape(-1) for v in (recency_days, frequency, monetary)]
    return np.log1p(np.clip(np.column_stack(columns), 0.0, None))


def _kmeans(X: np.ndarray, k: int, random_state: int) -> np.ndarray:
    Z = StandardScaler().fit_transform(X)
    return KMeans(n_clusters=k, n_init=10, random_state=random_state).fit_predict(Z)


def kmeans_rfm(
    recency_days: Any, frequency: Any, monetary: Any, k: int, *, random_state: int = 0
) -> np.ndarray:
    """(b) k-means with ``k`` clusters on standardised log R, F and M."""
    return _kmeans(_log_rfm(recency_days, frequency, monetary), k, random_state)


def kmeans_rfm_categories(
    recency_days: Any,
    frequency: Any,
    monetary: Any,
    category_shares: Any,
    k: int,
    *,
    random_state: int = 0,
) -> np.ndarray:
    """(c) k-means with ``k`` clusters on log R, F, M plus past category shares, standardised."""
    shares = np.asarray(category_shares, dtype=float)
    X = np.column_stack([_log_rfm(recency_days, frequency, monetary), shares])
    return _kmeans(X, k, random_state)
