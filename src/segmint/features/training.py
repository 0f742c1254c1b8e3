"""Supervised training sets from past cut-offs, without leakage.

For each cut-off ``c`` the features come from :func:`segmint.features.build_features` with
``as_of=c`` (only lines with ``ts < c``) and the labels only from purchases in
``[c, c + horizon)``. Stacking several cut-offs gives a training set whose every row could
have been built on the day of its cut-off; evaluating on a later cut-off whose labels start
where the training labels end is an honest held-out-time test.

Labels (one set per call, chosen by ``label``):

- ``"churn"``: ``churn`` = 1 when the customer makes no purchase in the horizon;
- ``"purchase"``: ``purchase`` = 1 when they make one, ``days_to_next`` = days from the
  cut-off to the first purchase in the horizon, censored at ``horizon_days`` (so it equals
  ``min(time to next purchase, horizon)``, observed for everybody), ``next_observed``, and
  ``spend``, the net spend in the horizon (purchases less returns, 0 without any line);
- ``"category"``: ``buy_<slug>`` = 1 when they buy in that category in the horizon, one column
  per category (the top categories by purchase spend before the latest cut-off, unless given).

A purchase is a line that is not a return (``is_return`` false, or NULL with ``amount >= 0``),
as in :func:`segmint.features.build_features`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.errors import DataValidationError
from segmint.features.categories import derive_categories
from segmint.features.labels import slugify
from segmint.features.transactions import (
    MIN_CATEGORY_COVERAGE,
    build_features,
    default_as_of,
)

__all__ = ["training_frames", "default_churn_horizon", "default_cutoffs", "LABELS"]

#: the label sets :func:`training_frames` can build.
LABELS = ("churn", "purchase", "category")

#: horizons :func:`default_churn_horizon` rounds up to (days).
_NICE_HORIZONS = (7, 14, 30, 60, 90, 120, 180, 270, 365)

_MAP_VIEW = "_segmint_training_category_map"

# Purchase lines (no returns) with a customer id, with or without the category map joined.
_PURCHASES = """
    SELECT t.customer_id, t.ts, t.amount, {category} AS category
    FROM transactions AS t {join}
    WHERE t.customer_id IS NOT NULL AND t.ts IS NOT NULL
      AND NOT coalesce(t.is_return, t.amount < 0, false)
"""
_PURCHASES_PLAIN = _PURCHASES.format(category="t.category", join="")
_PURCHASES_MAPPED = _PURCHASES.format(
    category="coalesce(m.category, t.category)",
    join=(
        "LEFT JOIN (SELECT product_id, max(CAST(category AS VARCHAR)) AS category "
        "FROM " + _MAP_VIEW + " GROUP BY product_id) AS m ON t.product_id = m.product_id"
    ),
)

_NEXT_SQL = """
WITH p AS ({purchases})
SELECT customer_id,
       (epoch(min(ts)) - epoch(CAST($start AS TIMESTAMP))) / 86400.0 AS days_to_next
FROM p
WHERE ts >= CAST($start AS TIMESTAMP) AND ts < CAST($stop AS TIMESTAMP)
GROUP BY customer_id
"""

# every line counts, returns included: spend is net
_SPEND_SQL = """
SELECT customer_id, sum(amount) AS spend
FROM transactions
WHERE customer_id IS NOT NULL
  AND ts >= CAST($start AS TIMESTAMP) AND ts < CAST($stop AS TIMESTAMP)
GROUP BY customer_id
"""

_CATEGORY_SQL = """
WITH p AS ({purchases})
SELECT DISTINCT customer_id, category
FROM p
WHERE ts >= CAST($start AS TIMESTAMP) AND ts < CAST($stop AS TIMESTAMP)
  AND category IS NOT NULL
"""

_TOP_CATEGORIES_SQL = """
WITH p AS ({purchases})
SELECT category, sum(amount) AS spend
FROM p
WHERE ts < CAST($stop AS TIMESTAMP) AND category IS NOT NULL
GROUP BY category
ORDER BY spend DESC, category
"""

_GAPS_SQL = """
WITH days AS (
    SELECT DISTINCT customer_id, CAST(ts AS DATE) AS d
    FROM transactions
    WHERE customer_id IS NOT NULL AND ts IS NOT NULL
      AND NOT coalesce(is_return, amount < 0, false)
),
gaps AS (
    SELECT customer_id,
           d - lag(d) OVER (PARTITION BY customer_id ORDER BY d) AS gap
    FROM days
),
typical AS (
    SELECT customer_id, median(gap) AS typical_gap
    FROM gaps
    WHERE gap IS NOT NULL
    GROUP BY customer_id
)
SELECT quantile_cont(typical_gap, $q) AS horizon, count(*) AS n
FROM typical
"""


def _naive_utc(value: datetime | date | str, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise DataValidationError(f"{name} must be an ISO date, got {value!r}") from None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    raise DataValidationError(f"{name} must be a date or datetime, got {value!r}")


def default_churn_horizon(con, *, quantile: float = 0.8) -> int:
    """A churn horizon (days) from the data's inter-purchase times.

    Each repeat customer's *typical gap* is the median number of days between their
    consecutive distinct purchase days; the horizon is the ``quantile`` of typical gaps across
    customers, rounded **up** to the next of 7, 14, 30, 60, 90, 120, 180, 270 or 365 days.
    So with the default, 80 % of repeat customers usually buy again within the horizon, and
    a customer silent for a whole horizon has broken their usual rhythm.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding a ``transactions`` table.
    quantile : float, default=0.8
        Quantile of the typical gaps, in (0, 1).

    Returns
    -------
    int
        Horizon in days (365 when the quantile exceeds a year).

    Raises
    ------
    DataValidationError
        When no customer has purchases on two different days.
    """
    if not 0.0 < quantile < 1.0:
        raise DataValidationError(f"quantile must be in (0, 1), got {quantile}")
    horizon, n = con.sql(_GAPS_SQL, params={"q": float(quantile)}).fetchall()[0]
    if not n or horizon is None:
        raise DataValidationError(
            "no customer bought on two different days; a churn horizon cannot be derived "
            "from inter-purchase times (pass horizon_days explicitly)",
            source="transactions",
        )
    for nice in _NICE_HORIZONS:
        if horizon <= nice:
            return nice
    return _NICE_HORIZONS[-1]


def default_cutoffs(con, horizon_days: int, n: int = 3) -> list[datetime]:
    """Cut-offs whose label windows fit in the data, latest last.

    The latest cut-off is the end of the data (midnight after the last transaction day, see
    :func:`segmint.features.default_as_of`) minus ``horizon_days``, so its label window ends
    with the data; each earlier one is one horizon before the next, so label windows do not
    overlap.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding a ``transactions`` table.
    horizon_days : int
        Label horizon in days.
    n : int, default=3
        Number of cut-offs.

    Returns
    -------
    list of datetime
        ``n`` naive UTC midnights in increasing order.

    Raises
    ------
    DataValidationError
        When the earliest cut-off would not be after the first transaction day.
    """
    if horizon_days <= 0:
        raise DataValidationError(f"horizon_days must be > 0, got {horizon_days}")
    if n < 1:
        raise DataValidationError(f"n must be >= 1, got {n}")
    end = default_as_of(con)
    step = timedelta(days=int(horizon_days))
    cutoffs = [end - step * k for k in range(n, 0, -1)]
    first = con.sql("SELECT min(ts) FROM transactions").fetchall()[0][0]
    if cutoffs[0] <= datetime.combine(first.date(), time()) + timedelta(days=1):
        raise DataValidationError(
            f"{n} cut-off(s) {horizon_days} days apart do not fit in the data "
            f"({first:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d}): the earliest would be "
            f"{cutoffs[0]:%Y-%m-%d}; use fewer cut-offs or a shorter horizon"
        )
    return cutoffs


def _category_coverage(con) -> float:
    n, named = con.sql(
        "SELECT count(*), count(category) FROM transactions "
        "WHERE customer_id IS NOT NULL AND NOT coalesce(is_return, amount < 0, false)"
    ).fetchall()[0]
    return named / n if n else 0.0


def training_frames(
    con,
    *,
    cutoffs: Sequence[datetime | date | str],
    horizon_days: int,
    label: str = "churn",
    categories: Sequence[str] | None = None,
    n_top_categories: int = 5,
    category_map_table: str | None = None,
    active_within_days: int | None = None,
    **feature_kwargs,
) -> pa.Table:
    """Features as of each cut-off joined with labels from the following horizon.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding ``transactions`` (and optionally ``customers``).
    cutoffs : sequence of datetime, date or ISO string
        Cut-off instants (naive = UTC). Features use lines with ``ts < cutoff``; labels use
        purchases with ``cutoff <= ts < cutoff + horizon_days``.
    horizon_days : int
        Label window length in days.
    label : {"churn", "purchase", "category"}, default="churn"
        Which label columns to add (see the module docstring).
    categories : sequence of str, optional
        For ``label="category"``: the categories to label. Default: the ``n_top_categories``
        with the largest purchase spend before the latest cut-off.
    n_top_categories : int, default=5
        See ``categories``.
    category_map_table : str, optional
        ``(product_id, category)`` table used for features *and* labels (passed on to
        :func:`build_features`). When not given and fewer than ``MIN_CATEGORY_COVERAGE`` of
        purchase lines carry a category, categories are derived once with
        :func:`segmint.features.derive_categories` from the products sold before the
        *earliest* cut-off (so before every frame's cut-off; later products are placed in
        those categories by their description) and used for every cut-off, so features and
        labels agree and no frame's categories are learned from data after its cut-off.
    active_within_days : int, optional
        Keep only customers whose last purchase before the cut-off is at most this many days
        old (default: every customer with a purchase before the cut-off).
    **feature_kwargs
        Passed on to :func:`build_features` (``n_top_categories`` is named
        ``feature_top_categories`` here to avoid the clash).

    Returns
    -------
    pyarrow.Table
        One row per (cut-off, customer), sorted by cut-off then customer: ``cutoff``
        (timestamp), ``customer_id``, the feature columns present at **every** cut-off (a
        ``cat_share_*`` column picked at one cut-off only is dropped, so columns mean the same
        in every row), then the label columns.

    Raises
    ------
    DataValidationError
        On an unknown label, a non-positive horizon, no cut-offs, repeated cut-offs, or a
        cut-off without purchases before it.

    Notes
    -----
    The label windows of consecutive cut-offs overlap when cut-offs are closer than the
    horizon. A test cut-off must come at least one horizon after the last training cut-off, or
    training labels would see the test period; :func:`segmint.predict.schedule.training_cutoffs`
    builds such schedules and states how much the trees' labels overlap the calibration
    cut-off's.
    """
    if label not in LABELS:
        raise DataValidationError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
    if horizon_days is None or int(horizon_days) <= 0:
        raise DataValidationError(
            f"horizon_days must be a positive number of days, got {horizon_days!r}"
        )
    if not cutoffs:
        raise DataValidationError("cutoffs is empty; give at least one cut-off date")
    cuts = sorted(_naive_utc(c, "cutoffs") for c in cutoffs)
    if len(set(cuts)) != len(cuts):
        raise DataValidationError("cutoffs contains the same date twice")
    horizon = timedelta(days=int(horizon_days))
    if "feature_top_categories" in feature_kwargs:
        feature_kwargs["n_top_categories"] = feature_kwargs.pop("feature_top_categories")

    registered = False
    map_table = category_map_table
    if map_table is None and _category_coverage(con) < MIN_CATEGORY_COVERAGE:
        con.register(_MAP_VIEW, derive_categories(con, before=cuts[0]))
        registered = True
        map_table = _MAP_VIEW
    elif map_table is not None:
        # the label SQL reads the map under a fixed name; a view keeps the user's table intact
        con.register(_MAP_VIEW, con.table(map_table).to_arrow_table())
        registered = True
    purchases = _PURCHASES_MAPPED if registered else _PURCHASES_PLAIN
    try:
        if label == "category" and categories is None:
            top_sql = _TOP_CATEGORIES_SQL.format(purchases=purchases)
            rows = con.sql(top_sql, params={"stop": cuts[-1]}).fetchall()
            categories = [r[0] for r in rows[:n_top_categories]]
            if not categories:
                raise DataValidationError(
                    "no purchase before the latest cut-off has a category; "
                    "category labels need categories",
                    column="category",
                )
        frames = []
        for cut in cuts:
            features = build_features(
                con, as_of=cut, category_map_table=map_table, **feature_kwargs
            )
            if active_within_days is not None:
                features = features.filter(
                    pc.less_equal(features["recency_days"], float(active_within_days))
                )
            labels = _labels(
                con,
                purchases,
                features["customer_id"],
                cut,
                horizon,
                label,
                categories,
                int(horizon_days),
            )
            table = features.append_column("_order", pa.array(np.arange(features.num_rows)))
            table = table.join(labels, "customer_id", join_type="left outer")
            table = table.sort_by("_order").drop_columns(["_order"])
            cutoff_col = pa.array([cut] * table.num_rows, type=pa.timestamp("us"))
            frames.append(table.add_column(0, "cutoff", cutoff_col))
    finally:
        if registered:
            con.unregister(_MAP_VIEW)

    common = [c for c in frames[0].column_names if all(c in f.column_names for f in frames)]
    return pa.concat_tables([f.select(common) for f in frames])


def _labels(con, purchases, customer_ids, cut, horizon, label, categories, horizon_days):
    """Label columns for the customers ``customer_ids`` at cut-off ``cut``."""
    params = {"start": cut, "stop": cut + horizon}
    ids = pa.table({"customer_id": customer_ids})
    if label in ("churn", "purchase"):
        nxt = con.sql(_NEXT_SQL.format(purchases=purchases), params=params).to_arrow_table()
        joined = ids.join(nxt, "customer_id", join_type="left outer")
        days = joined["days_to_next"]
        bought = pc.is_valid(days)
        if label == "churn":
            return joined.select(["customer_id"]).append_column(
                "churn", pc.cast(pc.invert(bought), pa.int8())
            )
        spend = con.sql(_SPEND_SQL, params=params).to_arrow_table()
        joined = joined.join(spend, "customer_id", join_type="left outer")
        return pa.table(
            {
                "customer_id": joined["customer_id"],
                "purchase": pc.cast(pc.is_valid(joined["days_to_next"]), pa.int8()),
                "days_to_next": pc.fill_null(joined["days_to_next"], float(horizon_days)),
                "next_observed": pc.is_valid(joined["days_to_next"]),
                "spend": pc.cast(pc.fill_null(joined["spend"], 0.0), pa.float64()),
            }
        )
    bought = con.sql(_CATEGORY_SQL.format(purchases=purchases), params=params).to_arrow_table()
    columns = {"customer_id": ids["customer_id"]}
    taken: set[str] = set()
    for category in categories:
        name = _label_name(category, taken)
        who = pc.filter(bought["customer_id"], pc.equal(bought["category"], str(category)))
        columns[name] = pc.cast(pc.is_in(ids["customer_id"], value_set=who), pa.int8())
    return pa.table(columns)


def _label_name(category: str, taken: set[str]) -> str:
    base = "buy_" + slugify(category)
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name
