"""Lift of a campaign: treated against holdout, with 95% intervals, p-values and power.

Rates (conversion, retention) are compared by their difference with Newcombe's hybrid score
interval (Wilson intervals per group; good coverage down to small rates and small holdouts),
revenue per customer by Welch's t interval. Every function takes NumPy arrays as well as
numbers, so many campaigns (or simulated repetitions) are measured at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

Z95 = stats.norm.ppf(0.975)


def wilson(successes, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion."""
    successes, n = np.asarray(successes, float), np.asarray(n, float)
    p = np.divide(successes, n, out=np.zeros_like(n), where=n > 0)
    denom = 1 + z**2 / np.maximum(n, 1)
    centre = (p + z**2 / (2 * np.maximum(n, 1))) / denom
    half = z * np.sqrt(p * (1 - p) / np.maximum(n, 1) + z**2 / (4 * np.maximum(n, 1) ** 2)) / denom
    return centre - half, centre + half


def proportion_lift(x_t, n_t, x_h, n_h) -> dict[str, np.ndarray]:
    """Treated minus holdout rate, its Newcombe 95% interval and the two-sided p-value of the
    pooled z-test; also the relative lift (treated / holdout − 1)."""
    x_t, n_t, x_h, n_h = (np.asarray(v, float) for v in (x_t, n_t, x_h, n_h))
    p_t = np.divide(x_t, n_t, out=np.zeros_like(n_t), where=n_t > 0)
    p_h = np.divide(x_h, n_h, out=np.zeros_like(n_h), where=n_h > 0)
    lo_t, hi_t = wilson(x_t, n_t)
    lo_h, hi_h = wilson(x_h, n_h)
    diff = p_t - p_h
    lower = diff - np.sqrt((p_t - lo_t) ** 2 + (hi_h - p_h) ** 2)
    upper = diff + np.sqrt((hi_t - p_t) ** 2 + (p_h - lo_h) ** 2)
    pooled = (x_t + x_h) / np.maximum(n_t + n_h, 1)
    se = np.sqrt(pooled * (1 - pooled) * (1 / np.maximum(n_t, 1) + 1 / np.maximum(n_h, 1)))
    z = np.divide(diff, se, out=np.zeros_like(diff), where=se > 0)
    return {
        "treated": p_t,
        "holdout": p_h,
        "lift": diff,
        "lower": lower,
        "upper": upper,
        "relative": np.divide(diff, p_h, out=np.full_like(diff, np.nan), where=p_h > 0),
        "p_value": 2 * stats.norm.sf(np.abs(z)),
    }


def mean_lift(mean_t, var_t, n_t, mean_h, var_h, n_h) -> dict[str, np.ndarray]:
    """Treated minus holdout mean with Welch's 95% interval and p-value."""
    mean_t, var_t, n_t, mean_h, var_h, n_h = (
        np.asarray(v, float) for v in (mean_t, var_t, n_t, mean_h, var_h, n_h)
    )
    a, b = var_t / np.maximum(n_t, 1), var_h / np.maximum(n_h, 1)
    se = np.sqrt(a + b)
    dof = np.divide(
        (a + b) ** 2,
        a**2 / np.maximum(n_t - 1, 1) + b**2 / np.maximum(n_h - 1, 1),
        out=np.ones_like(se),
        where=(a + b) > 0,
    )
    t = stats.t.ppf(0.975, np.maximum(dof, 1))
    diff = mean_t - mean_h
    stat = np.divide(diff, se, out=np.zeros_like(diff), where=se > 0)
    return {
        "treated": mean_t,
        "holdout": mean_h,
        "lift": diff,
        "lower": diff - t * se,
        "upper": diff + t * se,
        "relative": np.divide(diff, mean_h, out=np.full_like(diff, np.nan), where=mean_h != 0),
        "p_value": 2 * stats.t.sf(np.abs(stat), np.maximum(dof, 1)),
    }


def sample_size(base_rate: float, relative_effect: float, *, power: float = 0.8) -> int | None:
    """Customers per arm a two-sided test at 5% needs to detect a rate moving from
    ``base_rate`` by ``relative_effect`` (0.1: ten per cent) with ``power``; None when the
    rates make no sense (0, 1, or no change)."""
    p1 = base_rate
    p2 = base_rate * (1 + relative_effect)
    if not (0 < p1 < 1 and 0 < p2 < 1) or p1 == p2:
        return None
    z_b = stats.norm.ppf(power)
    pbar = (p1 + p2) / 2
    n = (Z95 * np.sqrt(2 * pbar * (1 - pbar)) + z_b * np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return int(np.ceil(n / (p2 - p1) ** 2))


def measure(outcomes: pd.DataFrame, *, effect: float = 0.1) -> dict:
    """Lift on every outcome of a campaign.

    Parameters
    ----------
    outcomes : DataFrame
        One row per campaign member: ``holdout`` (bool), ``converted`` (bool), ``revenue``
        (float), ``active_before`` (bool: bought in the same length of time before the
        start; retention is measured among them).
    effect : float
        The relative lift in conversion the power calculation is for.

    Returns
    -------
    dict
        ``treated``/``holdout`` sizes, and per outcome (``conversion``, ``revenue``,
        ``retention``) the rates or means, lift, 95% interval, relative lift, p-value and
        whether it is significant at 5%; ``power``: the customers per arm ``effect`` needs.
    """
    hold = outcomes["holdout"].to_numpy(bool)
    converted = outcomes["converted"].to_numpy(bool)
    revenue = outcomes["revenue"].to_numpy(float)
    active = outcomes["active_before"].to_numpy(bool)
    n_t, n_h = int((~hold).sum()), int(hold.sum())
    out: dict = {"treated": n_t, "holdout": n_h}
    out["conversion"] = proportion_lift(converted[~hold].sum(), n_t, converted[hold].sum(), n_h)
    out["revenue"] = mean_lift(
        revenue[~hold].mean() if n_t else 0.0,
        revenue[~hold].var(ddof=1) if n_t > 1 else 0.0,
        n_t,
        revenue[hold].mean() if n_h else 0.0,
        revenue[hold].var(ddof=1) if n_h > 1 else 0.0,
        n_h,
    )
    out["retention"] = proportion_lift(
        (converted & active & ~hold).sum(),
        (active & ~hold).sum(),
        (converted & active & hold).sum(),
        (active & hold).sum(),
    )
    for key in ("conversion", "revenue", "retention"):
        numbers = {k: float(v) for k, v in out[key].items()}
        numbers["significant"] = bool(numbers["p_value"] < 0.05)
        out[key] = numbers
    base = out["conversion"]["holdout"]
    out["power"] = {
        "effect": effect,
        "per_arm_needed": sample_size(base, effect),
        "holdout_has": n_h,
    }
    return out
