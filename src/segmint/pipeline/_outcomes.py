"""What customers did in a period after a cut-off: net spend, and purchase spend per category.

The outcome both the segments' learning (the period after an earlier cut-off) and
``segmint evaluate`` (the period after ``--cutoff``) measure segments against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from segmint.features.labels import coverage_column
from segmint.pipeline._features import feature_frame, stored_category_map
from segmint.segment.space import INTEREST_PREFIX

#: the names under which a category map and a sample's customers are visible to the query
_CATEGORIES = "_segmint_outcome_categories"
_SAMPLED = "_segmint_outcome_customers"

#: net spend and purchase spend per category of each customer in the period; a line's category
#: is the mapped one when a map is given, else its own ("" when it has none)
_SQL = """
    SELECT t.customer_id, coalesce({category}, '') AS category,
           sum(t.amount) AS net,
           sum(CASE WHEN t.is_return OR t.amount < 0 THEN 0 ELSE t.amount END) AS bought
    FROM transactions t {join}
    WHERE t.ts >= ? AND t.ts < ? + to_days(CAST(? AS INTEGER)) {sampled}
    GROUP BY ALL
"""


def next_period_spend(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    days: int,
    index: pd.Index,
    categories: pa.Table | str | None = None,
    sampled: bool = False,
) -> tuple[pd.Series, pd.DataFrame]:
    """Net spend per customer of ``index``, and purchase spend per (customer, category), over
    ``[start, start + days)``.

    ``categories`` maps products to categories: a ``(product_id, category)`` table, the name of
    one in the workspace, or None to use the lines' own categories. With ``sampled`` (the index
    is a sample of the customers), the engine sums only the index's customers, rather than
    every customer's sums being fetched and most dropped.
    """
    where = ""
    if sampled:
        con.register(_SAMPLED, pa.table({"customer_id": index.astype(str).to_numpy()}))
        where = f"AND t.customer_id IN (SELECT customer_id FROM {_SAMPLED})"
    if categories is None:
        sql = _SQL.format(category="t.category", join="", sampled=where)
    else:
        name = categories if isinstance(categories, str) else _CATEGORIES
        if not isinstance(categories, str):
            con.register(_CATEGORIES, categories)
        sql = _SQL.format(
            category="coalesce(c.category, t.category)",
            join=f"LEFT JOIN (SELECT product_id, max(category) AS category FROM {name}"
            " GROUP BY product_id) c USING (product_id)",
            sampled=where,
        )
    try:
        lines = con.sql(sql, params=[start, start, days]).to_arrow_table()
    finally:
        if categories is not None and not isinstance(categories, str):
            con.unregister(_CATEGORIES)
        if sampled:
            con.unregister(_SAMPLED)
    # dense customer x category sums by flat index: a pandas pivot of ten million customers'
    # rows takes minutes and several copies
    row = index.get_indexer(lines.column("customer_id").to_pandas())
    known = row >= 0
    # categories by dictionary codes, in name order (as a pivot would order them)
    encoded = lines.column("category").combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_numpy(zero_copy_only=False)
    order = np.argsort(names)
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    names, col = names[order], rank[encoded.indices.to_numpy(zero_copy_only=False)]
    row, col = row[known], col[known]
    n = len(index)

    def total(values: np.ndarray, cells: np.ndarray, size: int) -> np.ndarray:
        return np.bincount(cells, weights=np.nan_to_num(values[known]), minlength=size)

    net = pd.Series(total(lines.column("net").to_numpy(), row, n), index=index, name="net")
    flat = total(lines.column("bought").to_numpy(), row * len(names) + col, n * len(names))
    bought = pd.DataFrame(
        flat.reshape(n, len(names)), index=index, columns=pd.Index(names, name="category")
    )
    return net, bought


#: days in the earlier period segments learn from: a quarter, the horizon marketers plan for
LEARN_DAYS = 90
#: the shortest earlier period learned from: with less than a quarter of data before the cut-off
#: there is nothing earlier to learn from, and value goes along the RFM direction (on Online
#: Retail cut at 2011-03-01, 89 days in, a 44-day period taught an axis that kept 90% of the RFM
#: baselines' value signal, the RFM direction 112%; neither carried twice their interest)
MIN_LEARN_DAYS = LEARN_DAYS // 2
#: fewer customers than this at the earlier cut-off teach nothing reliable
MIN_LEARN_CUSTOMERS = 100


#: quarters the expected next mix is learned on: the one before the cut-off (which also teaches
#: the value axis and k) and the one before that. Measured on seven Online Retail cut-offs,
#: micro-segments on a mix learned on two quarters carried 98-106% of baseline (c)'s interest
#: signal, on one quarter 96-107%: a second quarter steadies the map across seasons.
MIX_QUARTERS = 2


@dataclass(frozen=True)
class EarlierPeriod:
    """Customers at an earlier cut-off and what they did in the period after it (and the same
    for the period before, when the data reaches back that far)."""

    cutoff: datetime
    days: int
    features: pd.DataFrame
    next_spend: pd.Series
    next_categories: pd.DataFrame
    previous: EarlierPeriod | None = None

    @property
    def label(self) -> str:
        """The period as runs record it: ``2011-01-01 +90d``."""
        return f"{self.cutoff:%Y-%m-%d} +{self.days}d"

    def buyers_mix(self) -> EarlierPeriod:
        """Only what learning the next mix reads: the buyers, their category shares and order
        counts (a million customers' full features per quarter would be held for nothing)."""
        buyers = self.next_categories.to_numpy().sum(axis=1) > 0
        keep = [c for c in self.features.columns if c.startswith(INTEREST_PREFIX)]
        keep += [c for c in ("frequency",) if c in self.features.columns]
        return EarlierPeriod(
            self.cutoff,
            self.days,
            self.features.loc[buyers, keep],
            self.next_spend[buyers],
            self.next_categories[buyers],
            self.previous,
        )

    def only(self, allows: Callable[[pd.Index], np.ndarray]) -> EarlierPeriod:
        """The customers ``allows`` keeps (a mask over an index), here and before."""
        keep = allows(self.features.index)
        return EarlierPeriod(
            self.cutoff,
            self.days,
            self.features[keep],
            self.next_spend[keep],
            self.next_categories[keep],
            None if self.previous is None else self.previous.only(allows),
        )

    def periods(self) -> list[EarlierPeriod]:
        """This period and the ones before it, nearest first."""
        return [self, *(self.previous.periods() if self.previous else [])]


def earlier_period(
    con: duckdb.DuckDBPyConnection,
    features: pd.DataFrame,
    as_of: datetime,
    categories: pa.Table | None,
    days: int | None = None,
    quarters: int = MIX_QUARTERS,
    sample: float | None = None,
    identities: pd.DataFrame | None = None,
) -> EarlierPeriod | None:
    """The features at ``as_of - days`` (columns as ``features``) and the ``days`` after it,
    with up to ``quarters - 1`` such periods before it as ``previous`` (each reduced to what
    learning the next mix reads: :meth:`EarlierPeriod.buyers_mix`).

    ``days`` (None: :func:`learn_days` of the data) is the length of each period.

    ``categories`` is the product map derived for ``features`` (None: the workspace's stored
    map or the lines' own categories, as the features used). None when the data does not
    reach back far enough to hold ``MIN_LEARN_CUSTOMERS`` customers at that cut-off.
    ``sample``: only a hash sample of that share of the customers (see ``build_features``);
    ``identities``: the identity resolution's mapping, when the caller resolved already.
    """
    ((first,),) = con.execute("SELECT min(ts) FROM transactions").fetchall()
    if first is None:
        return None
    days = learn_days(first, as_of) if days is None else days
    cutoff = as_of - timedelta(days=days)
    if days < MIN_LEARN_DAYS or cutoff <= first:
        return None
    used = features.attrs.get("sources", {})
    past, _, _ = feature_frame(
        con,
        cutoff,
        categories=categories,
        sample=sample,
        # the same sources and the same chat topics as the features learned for
        sources=used.get("used", ()),
        topics=used.get("topics"),
        required=False,
        identities=identities,
    )
    if len(past) < MIN_LEARN_CUSTOMERS:
        return None
    # a column the earlier cut-off lacks: no purchase in that category (0), or a source that
    # had not started (its customers uncovered: coverage 0, the source's features missing)
    added = [c for c in features.columns if c not in past.columns and not coverage_column(c)]
    past = past.reindex(columns=features.columns)
    past[added] = 0.0
    source = categories if categories is not None else stored_category_map(con)
    net, bought = next_period_spend(con, cutoff, days, past.index, source, sampled=bool(sample))
    previous = (
        earlier_period(con, features, cutoff, categories, days, quarters - 1, sample)
        if quarters > 1
        else None
    )
    return EarlierPeriod(cutoff, days, past, net, bought, previous and previous.buyers_mix())


def learn_days(first: datetime, as_of: datetime) -> int:
    """The length of the earlier period learned from: a quarter (``LEARN_DAYS``), shorter when
    the data before ``as_of`` spans less than two. Customers at the earlier cut-off need as
    much history behind them as the period after it: on Online Retail cut at 2011-04-01, a
    quarter starting one month into the data taught a value axis and a k that kept only 77% of
    the RFM baselines' value signal on the next quarter."""
    return min(LEARN_DAYS, (as_of - first).days // 2)
