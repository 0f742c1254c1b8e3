"""Who is "high value" and who is "at risk": the one definition every output uses.

Customers: high value in the top fifth of CLV, at risk from a churn risk of one half.
Segments: high value when their mean CLV is at least 1.5 times the customer-weighted mean of
all segments, "high value at risk" when their mean churn risk is also above the weighted mean.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AT_RISK",
    "HIGH_VALUE_MULTIPLE",
    "HIGH_VALUE_QUANTILE",
    "customer_flags",
    "high_value_threshold",
    "segment_flags",
]

HIGH_VALUE_QUANTILE = 0.8
AT_RISK = 0.5
HIGH_VALUE_MULTIPLE = 1.5


def high_value_threshold(clv) -> float:
    """The CLV from which a customer is high value: the top fifth's lowest."""
    return float(np.nanquantile(np.asarray(clv, dtype=float), HIGH_VALUE_QUANTILE))


def customer_flags(
    clv, churn_risk, threshold: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``high_value`` and ``at_risk``, one boolean per customer (NaN scores are neither).

    ``threshold``: the high-value CLV, where ``clv`` is not every customer's (a batch of them);
    default :func:`high_value_threshold` of ``clv``.
    """
    clv = np.asarray(clv, dtype=float)
    risk = np.asarray(churn_risk, dtype=float)
    threshold = high_value_threshold(clv) if threshold is None else threshold
    return clv >= threshold, risk >= AT_RISK


def segment_flags(clv, churn_risk, size) -> tuple[np.ndarray, float, float]:
    """Each segment's flag (``""``, ``"high value"`` or ``"high value at risk"``), and the
    customer-weighted mean CLV and churn risk the flags compare against.

    Examples
    --------
    >>> flags, mean_clv, mean_risk = segment_flags([100, 400, 100], [0.2, 0.6, 0.5], [2, 1, 1])
    >>> flags.tolist(), mean_clv, mean_risk   # means: (200 + 400 + 100) / 4, (0.4 + 0.6 + 0.5) / 4
    (['', 'high value at risk', ''], 175.0, 0.375)
    """
    clv = np.asarray(clv, dtype=float)
    risk = np.asarray(churn_risk, dtype=float)
    size = np.asarray(size, dtype=float).clip(min=0)
    weights = size if size.sum() > 0 else np.ones(size.size)
    mean_clv = float(np.average(clv, weights=weights))
    mean_risk = float(np.average(risk, weights=weights))
    high = clv >= HIGH_VALUE_MULTIPLE * mean_clv
    flags = np.where(
        high & (risk > mean_risk), "high value at risk", np.where(high, "high value", "")
    )
    return flags, mean_clv, mean_risk
