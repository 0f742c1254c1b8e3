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
