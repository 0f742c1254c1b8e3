"""The batch transaction features from per-customer aggregates (pure NumPy), and the packed
keys the live profiles store their aggregates under.

:class:`segmint.realtime.ProfileStore` keeps the aggregates up to date; this module turns them
into the columns of :func:`segmint.features.build_features`.
"""

from __future__ import annotations

import numpy as np

from segmint.features import MONTH_DAYS

US_PER_DAY = 86_400_000_000
_US_PER_S = 1_000_000.0
_SECONDS_PER_DAY = 86_400.0
DAY_BITS = 22
DAY_OFFSET = 1 << (DAY_BITS - 1)
CAT_BITS = 20


def day_key(idx: np.ndarray, day: np.ndarray) -> np.ndarray:
    return (np.asarray(idx, np.int64) << DAY_BITS) | (np.asarray(day, np.int64) + DAY_OFFSET)


def cat_key(idx: np.ndarray, cat: np.ndarray) -> np.ndarray:
    return (np.asarray(idx, np.int64) << CAT_BITS) | np.asarray(cat, np.int64)


def features_from_aggregates(
    rows: dict[str, np.ndarray],
    days: tuple[np.ndarray, np.ndarray, np.ndarray],
    cats: tuple[np.ndarray, np.ndarray, np.ndarray],
    shares: dict[str, int],
    as_of_us: int,
    trend_window_days: int,
) -> dict[str, np.ndarray]:
    """The batch transaction features of ``m`` customers from their aggregates.

    Parameters
    ----------
    rows : dict of str to ndarray, each shape (m,)
        The customers' per-customer columns: ``frequency``, ``gross``, ``returned``,
        ``items``, ``n_qty``, ``n_products``, ``first_ts``, ``last_ts`` (microseconds).
    days : (owner, key, spend)
        Their order days (``owner`` the position in ``rows``, sorted by owner then day;
        ``key`` from :func:`day_key`), as ``SortedKV.gather`` returns them.
    cats : (owner, key, spend)
        Their spend per category (``key`` from :func:`cat_key`).
    shares : dict of str to int
        ``cat_share_*`` column -> category index (-1: a category never bought, share 0).
    as_of_us : int
        Reference time, microseconds since the epoch (UTC).
    trend_window_days : int
        Window of ``spend_trend``.

    Returns
    -------
    dict of str to ndarray
        Column -> values (NaN where the batch has NULL).
    """
    m = rows["frequency"].size
    freq = rows["frequency"].astype(np.float64)
    has = freq > 0
    gross = np.where(has, rows["gross"], np.nan)
    returned = rows["returned"]
    as_of_s = as_of_us / _US_PER_S
    with np.errstate(invalid="ignore", divide="ignore"):
        last_s = np.where(has, rows["last_ts"] / _US_PER_S, np.nan)
        first_s = np.where(has, rows["first_ts"] / _US_PER_S, np.nan)
        out: dict[str, np.ndarray] = {
            "recency_days": (as_of_s - last_s) / _SECONDS_PER_DAY,
            "frequency": freq,
            "monetary": gross - returned,
            "tenure_days": (as_of_s - first_s) / _SECONDS_PER_DAY,
            "avg_order_value": gross / np.where(has, freq, np.nan),
        }
        # distinct order days of each customer -> gaps; day spends -> spend_trend
        owner, keys, spend = days
        day = (keys & ((1 << DAY_BITS) - 1)) - DAY_OFFSET
        same = np.zeros(owner.size, dtype=bool)
        same[1:] = owner[1:] == owner[:-1]
        gaps = np.zeros(owner.size)
        gaps[1:] = day[1:] - day[:-1]
        g_owner, g = owner[same], gaps[same]
        n_gaps = np.bincount(g_owner, minlength=m).astype(np.float64)
        g_mean = np.bincount(g_owner, weights=g, minlength=m) / n_gaps
        dev = g - g_mean[g_owner]
        g_std = np.sqrt(np.bincount(g_owner, weights=dev * dev, minlength=m) / n_gaps)
        out["interpurchase_mean_days"] = np.where(n_gaps > 0, g_mean, np.nan)
        out["interpurchase_cv"] = np.where((n_gaps >= 2) & (g_mean > 0), g_std / g_mean, np.nan)
        out["return_rate"] = np.where(
            gross > 0,
            np.clip(returned / gross, 0.0, 1.0),
            np.where(returned > 0, 1.0, 0.0),
        )
        out["return_rate"][~has] = np.nan
        n_qty = rows["n_qty"]
        out["basket_size"] = np.where(n_qty > 0, rows["items"], np.nan) / np.where(
            has, freq, np.nan
        )
        out["n_products"] = np.where(has, rows["n_products"], np.nan).astype(np.float64)

        c_owner, c_keys, c_spend = cats
        c_cat = c_keys & ((1 << CAT_BITS) - 1)
        n_cats = np.bincount(c_owner, minlength=m).astype(np.float64)
        top = np.full(m, -np.inf)
        np.maximum.at(top, c_owner, c_spend)
        positive = np.where(gross > 0, gross, np.nan)

        def share(s: np.ndarray) -> np.ndarray:
            return np.clip(s / positive, 0.0, 1.0)

        out["n_categories"] = np.where(has, n_cats, np.nan)
        out["top_category_share"] = np.where(n_cats > 0, share(top), np.nan)
        for name, j in shares.items():
            sel = c_cat == j
            s = np.bincount(c_owner[sel], weights=c_spend[sel], minlength=m)
            out[name] = share(s)

        w = trend_window_days
        as_of_day = -(-as_of_us // US_PER_DAY)  # the day boundary at or after as_of
        recent_m = (day >= as_of_day - w) & (day < as_of_day)
        prev_m = (day >= as_of_day - 2 * w) & (day < as_of_day - w)
        recent = np.bincount(owner[recent_m], weights=spend[recent_m], minlength=m)
        previous = np.bincount(owner[prev_m], weights=spend[prev_m], minlength=m)
        trend = np.log((1.0 + np.maximum(recent, 0.0)) / (1.0 + np.maximum(previous, 0.0)))
        out["spend_trend"] = np.where(has, trend, np.nan)
        recent_days = np.bincount(owner[recent_m], minlength=m).astype(np.float64)
        out["recent_purchase_days"] = np.where(has, recent_days, np.nan)
        # 30-day periods back from as_of's day (the day before it in the first): days ascend
        # per owner, so periods descend
        before = day < as_of_day
        p_owner, period = owner[before], (as_of_day - 1 - day[before]) // MONTH_DAYS
        new = np.ones(p_owner.size, dtype=bool)
        new[1:] = (p_owner[1:] != p_owner[:-1]) | (period[1:] != period[:-1])
        months = np.bincount(p_owner[new], minlength=m).astype(np.float64)
        out["active_months"] = np.where(has, months, np.nan)
    return out
