"""Live profiles loaded in bulk from the workspace: DuckDB aggregates per order, return,
category and product (and event counts), handed to a :class:`ProfileStore` as arrays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import duckdb
import numpy as np
import pandas as pd

from segmint.features import MIN_CATEGORY_COVERAGE, derive_categories, to_naive_utc
from segmint.realtime.profiles import ProfileStore

__all__ = ["profiles_from_workspace"]


def profiles_from_workspace(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime | date | None = None,
    categories: Sequence[str] | None = None,
    n_top_categories: int = 8,
    trend_window_days: int = 90,
) -> ProfileStore:
    """Load the profiles of every customer from the workspace tables in bulk.

    Lines and events with ``ts < as_of`` are aggregated in DuckDB and loaded as arrays.
    Categories follow the pipeline: when fewer than ``MIN_CATEGORY_COVERAGE`` of the
    transactions have a category, the ``product_categories`` table (or, when empty,
    categories derived in memory with :func:`segmint.features.derive_categories`) maps
    products to categories, for the bulk load and for later purchases.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Workspace connection with ``transactions`` (and optionally ``customers``,
        ``events``, ``product_categories``).
    as_of : datetime or date, optional
        Default: midnight after the last transaction, as the batch features.
    categories, n_top_categories, trend_window_days
        See :class:`ProfileStore`.

    Returns
    -------
    ProfileStore
    """
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    tables |= {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    has_tx = "transactions" in tables
    if as_of is None:
        last = con.execute("SELECT max(ts) FROM transactions").fetchone()[0] if has_tx else None
        as_of = (
            datetime.combine(last.date(), time()) + timedelta(days=1)
            if last is not None
            else datetime.now(UTC).replace(tzinfo=None)
        )
    as_of = to_naive_utc(as_of)
    category_map = _category_map(con, tables) if has_tx else {}
    store = ProfileStore(
        categories=categories,
        n_top_categories=n_top_categories,
        trend_window_days=trend_window_days,
        category_map=category_map,
    )
    store.as_of = as_of
    ids: list[np.ndarray] = []
    if "customers" in tables:
        ids.append(
            con.execute("SELECT customer_id FROM customers").df()["customer_id"].to_numpy(object)
        )
    frames: dict[str, pd.DataFrame] = {}
    if has_tx:
        frames = _load_transactions(con, as_of, category_map)
        ids.extend(f["customer_id"].to_numpy(object) for f in frames.values())
    events = None
    if "events" in tables:
        events = con.execute(
            """SELECT customer_id, CAST(type AS VARCHAR) AS type, count(*) AS n,
                      epoch_us(max(ts)) AS last_us
               FROM events WHERE ts < ? AND customer_id IS NOT NULL GROUP BY 1, 2""",
            [as_of],
        ).df()
        ids.append(events["customer_id"].to_numpy(object))
    all_ids = pd.unique(np.concatenate(ids)) if ids else np.empty(0, dtype=object)
    all_ids = all_ids[~pd.isna(all_ids)]
    store.add_customers(all_ids)
    lookup = pd.Index(all_ids.astype(str))
    if frames:
        store.add_aggregates(frames, lookup)
    if events is not None and len(events):
        store.add_event_counts(
            lookup.get_indexer(events["customer_id"].astype(str)),
            events["type"],
            events["n"].to_numpy(np.int64),
            events["last_us"].to_numpy(np.int64),
        )
    return store


def _category_map(con: duckdb.DuckDBPyConnection, tables: set[str]) -> dict[str, str]:
    (coverage,) = con.execute(
        "SELECT coalesce(avg((category IS NOT NULL)::INT), 0) FROM transactions"
    ).fetchone()
    if coverage >= MIN_CATEGORY_COVERAGE:
        return {}
    frame = None
    if "product_categories" in tables:
        frame = con.execute(
            """SELECT product_id, max(CAST(category AS VARCHAR)) AS category
               FROM product_categories GROUP BY product_id"""
        ).df()
    if frame is None or frame.empty:
        (n,) = con.execute("SELECT count(*) FROM transactions").fetchone()
        if n == 0:
            return {}
        frame = derive_categories(con).to_pandas()
    return dict(zip(frame["product_id"].astype(str), frame["category"].astype(str), strict=True))


def _load_transactions(
    con: duckdb.DuckDBPyConnection, as_of: datetime, category_map: dict[str, str]
) -> dict[str, pd.DataFrame]:
    mapped = bool(category_map)
    if mapped:
        con.register(
            "_segmint_rt_map",
            pd.DataFrame(
                {
                    "product_id": list(category_map),
                    "mapped": list(category_map.values()),
                }
            ),
        )
        source = """transactions t LEFT JOIN _segmint_rt_map m ON t.product_id = m.product_id"""
        category = "coalesce(m.mapped, CAST(t.category AS VARCHAR))"
    else:
        source = "transactions t"
        category = "CAST(t.category AS VARCHAR)"
    lines = f"""WITH lines AS (
        SELECT t.customer_id, t.order_id, t.ts, t.product_id, {category} AS category,
               t.quantity, coalesce(t.is_return, t.amount < 0) AS is_ret,
               CASE WHEN coalesce(t.is_return, t.amount < 0) THEN -abs(t.amount)
                    ELSE t.amount END AS value
        FROM {source}
        WHERE t.ts < ? AND t.customer_id IS NOT NULL)"""
    queries = {
        "orders": """SELECT customer_id, order_id, epoch_us(min(ts)) AS ts_us,
                            sum(value) AS gross, coalesce(sum(quantity), 0) AS items,
                            count(quantity) AS n_qty
                     FROM lines WHERE NOT is_ret GROUP BY customer_id, order_id""",
        "returns": """SELECT customer_id, sum(-value) AS returned
                      FROM lines WHERE is_ret GROUP BY customer_id""",
        "categories": """SELECT customer_id, category, sum(value) AS spend
                         FROM lines WHERE NOT is_ret AND category IS NOT NULL
                         GROUP BY customer_id, category""",
        "products": """SELECT DISTINCT customer_id, product_id, category
                       FROM lines WHERE NOT is_ret AND product_id IS NOT NULL""",
    }
    try:
        return {k: con.execute(f"{lines} {q}", [as_of]).df() for k, q in queries.items()}
    finally:
        if mapped:
            con.unregister("_segmint_rt_map")
