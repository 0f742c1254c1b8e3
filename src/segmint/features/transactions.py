"""Per-customer features from the ``transactions`` table, computed in the engine with Ibis.

Everything is one Ibis expression over the caller's engine (a DuckDB connection by default,
or Spark: :mod:`segmint.engine`); only the final per-customer table leaves the engine (as
Arrow).

The plan (see :func:`build_features`): the lines before ``as_of`` are aggregated once per
customer -- sums for spend, returns, items, the trend windows and each category (pivoted when
there are at most ``MAX_PIVOT_CATEGORIES``, else through a customer x category table), a list of
order keys (the order's day above a hash of its id) and the set of products bought (a bitmap
of product positions, or a list of id hashes when bitmaps would take more memory). The
sorted distinct order keys then give the frequency (their number) and the order days, whose
gaps' mean and spread come from sums of squares and neighbour products (:func:`_gap_moments`):
no customer x order table and no window. A few small queries run first: the last timestamp
(only when ``as_of`` is not given), the spend per category (to pick the ``cat_share_*`` columns
and see whether categories are there at all), the products (each with its bit position), the number
of lines and the JSON attribute keys. Per-customer lists do not spill to disk, so when the
lines would take more of DuckDB's memory limit than is safe, the aggregation runs bucket by
bucket, customers split into ranges of their ids so that each bucket skips the row groups of
the others (:func:`segmint.features._backend.customer_buckets`); Spark spills, and takes one
bucket.

Where Ibis does not compile an operation the same way on both engines (hashes, list
functions), the query calls the engine's own version (:class:`segmint.engine.Engine`); the
product count (bitmap or hashes) is in ``features/_products.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from segmint.engine import Engine, engine_for
from segmint.errors import DataValidationError
from segmint.features._backend import (
    bucket_bounds,
    customer_buckets,
    in_bucket,
    in_sample,
    known_customers,
    only,
)
from segmint.features._products import product_count, product_positions
from segmint.features.attributes import attribute_features
from segmint.features.categories import derive_categories
from segmint.features.labels import slugify

__all__ = [
    "build_features",
    "category_columns",
    "default_as_of",
    "to_naive_utc",
    "CORE_FEATURES",
    "MONTH_DAYS",
    "MIN_CATEGORY_COVERAGE",
]

#: with at most this many categories, category spend is pivoted in one customer-level
#: aggregation; with more, it goes through a customer x category table.
MAX_PIVOT_CATEGORIES = 32

#: the fixed feature columns, in output order (``cat_share_*`` follow ``top_category_share``,
#: ``attr_*`` come last).
CORE_FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_order_value",
    "interpurchase_mean_days",
    "interpurchase_cv",
    "return_rate",
    "basket_size",
    "n_products",
    "n_categories",
    "top_category_share",
)

#: below this share of purchase lines with a category, categories are derived from product
#: descriptions instead (when no category map is given).
MIN_CATEGORY_COVERAGE = 0.5

#: bits of an order key below its day: ``(day << 44) | (top 44 bits of the order-id hash)``
ORDER_BITS = 44
#: ``active_months`` counts periods of this many days back from ``as_of`` with a purchase
MONTH_DAYS = 30

_REQUIRED = ("customer_id", "order_id", "ts", "product_id", "quantity", "amount", "is_return")
_SECONDS_PER_DAY = 86400.0


def to_naive_utc(value: datetime | date) -> datetime:
    """Workspace time (naive UTC): an aware datetime is converted, a date means its midnight."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time())
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _transactions(engine: Engine) -> ir.Table:
    tx = engine.table("transactions")
    if tx is None:
        raise DataValidationError("no transactions table in the workspace", source="transactions")
    missing = [c for c in _REQUIRED if c not in tx.columns]
    if missing:
        raise DataValidationError(
            f"transactions lack column(s) {', '.join(missing)}", source="transactions"
        )
    # limit(1): an existence check must not count a billion rows.
    if tx.limit(1).count().to_pyarrow().as_py() == 0:
        raise DataValidationError(
            "the transactions table is empty; load some transactions before building features",
            source="transactions",
        )
    return tx


def default_as_of(con) -> datetime:
    """Return the default feature date: midnight after the day of the last transaction.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection, SparkSession or Engine
        Holding a ``transactions`` table.

    Returns
    -------
    datetime
        Naive UTC midnight following the latest ``ts`` (any line, returns included), so the
        whole last day counts and recency is measured from the end of the data.
    """
    tx = _transactions(engine_for(con))
    return _default_as_of(tx)


def _default_as_of(tx: ir.Table) -> datetime:
    last = tx["ts"].max().to_pyarrow().as_py()
    if last is None:
        raise DataValidationError("every transaction lacks a timestamp", column="ts")
    return datetime.combine(last.date(), time()) + timedelta(days=1)


def _category_spend(purchases: ir.Table) -> tuple[list[str], float]:
    """Return the categories by total purchase spend (largest first) and the covered share."""
    by_category = purchases.group_by("category").aggregate(
        spend=purchases["value"].sum(), n=purchases.count()
    )
    rows = by_category.to_pyarrow().to_pylist()
    n_lines = sum(r["n"] for r in rows)
    if n_lines == 0:
        raise DataValidationError(
            "no purchases (non-return lines) before as_of; nothing to build features from",
            source="transactions",
        )
    named = [r for r in rows if r["category"] is not None]
    # Ties broken by name so the chosen columns are the same run to run.
    named.sort(key=lambda r: (-(r["spend"] or 0.0), r["category"]))
    coverage = sum(r["n"] for r in named) / n_lines
    return [r["category"] for r in named], coverage


def category_columns(categories: Sequence[str]) -> dict[str, str]:
    """Map ``cat_share_<slug>`` column names to categories.

    Parameters
    ----------
    categories : sequence of str
        Categories in column order (the batch uses descending total spend, ties by name).

    Returns
    -------
    dict of str to str
        Column name -> category; slug collisions get ``_2``, ``_3``, ... suffixes.
    """
    columns: dict[str, str] = {}
    for category in categories:
        base = "cat_share_" + slugify(category)
        name, i = base, 2
        while name in columns:
            name, i = f"{base}_{i}", i + 1
        columns[name] = category
    return columns


def build_features(
    con,
    *,
    as_of: datetime | date | None = None,
    n_top_categories: int = 6,
    trend_window_days: int = 90,
    category_map_table: str | None = None,
    sample: float | None = None,
    share_categories: Sequence[str] | None = None,
) -> pa.Table:
    """Compute one row of features per customer from the workspace's transactions.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection, SparkSession or Engine
        Where ``transactions`` (and optionally ``customers``) are, in the canonical schema
        (:mod:`segmint.schema`): a DuckDB connection (a workspace's), or a Spark session or
        engine from :func:`segmint.engine.read_tables` (see :mod:`segmint.engine`).
    as_of : datetime or date, optional
        Only lines with ``ts < as_of`` count; this is what keeps later data (used to evaluate
        predictions) out of the features. Naive datetimes are UTC; a date means its midnight.
        Default: midnight after the day of the last transaction (:func:`default_as_of`).
    n_top_categories : int, default=6
        Number of ``cat_share_<slug>`` columns: the categories with the largest total purchase
        spend before ``as_of``.
    trend_window_days : int, default=90
        Window length for ``spend_trend``.
    category_map_table : str, optional
        Name of a table ``(product_id, category)`` whose category replaces the transactions'
        own (products missing from it keep their own). When not given and fewer than
        ``MIN_CATEGORY_COVERAGE`` of purchase lines have a category, categories are derived
        with :func:`segmint.features.derive_categories` for this call only, learned from the
        products sold before ``as_of``; a pipeline that wants
        to keep them stores that function's result and passes the table name here.
    sample : float, optional
        Only a hash sample of this share of the customers (by their ids: the same customers
        in every call on one engine), e.g. to learn from an earlier period of ten million
        customers on a few hundred thousand. The categories are still chosen on everyone.
    share_categories : sequence of str, optional
        The categories of the ``cat_share_*`` columns, in order, instead of the top
        ``n_top_categories`` (e.g. :func:`top_categories` of every customer, for a sample).

    Returns
    -------
    pyarrow.Table
        Sorted by ``customer_id``; one row per customer with at least one purchase (non-return
        line) before ``as_of``. Columns: ``customer_id``, then

        - ``recency_days``: days from the last purchase to ``as_of``;
        - ``frequency``: distinct purchase orders (two orders of one customer on one day
          count once only if their ids' 44-bit hashes agree: odds about 1 in 1.8e13);
        - ``monetary``: net spend, gross purchases minus returned value;
        - ``tenure_days``: days from the first purchase to ``as_of``;
        - ``avg_order_value``: gross purchase spend / orders;
        - ``interpurchase_mean_days``: mean gap in days between consecutive distinct purchase
          days (UTC calendar days; NULL with fewer than 2 purchase days);
        - ``interpurchase_cv``: population std / mean of those gaps (NULL with fewer than 3
          purchase days, i.e. fewer than 2 gaps);
        - ``return_rate``: returned value / gross purchase spend, clipped to [0, 1];
        - ``basket_size``: mean quantity per order;
        - ``n_products``: distinct products bought (exact on a bitmap of products; with too
          many products for bitmaps, counted on 64-bit hashes of the ids: two of one
          customer's products collide with odds of about n^2 / 3.7e19);
        - ``n_categories``: distinct non-null categories bought;
        - ``top_category_share``: largest single-category spend / gross purchase spend
          (NULL when no purchase has a category);
        - ``cat_share_<slug>``: spend in that category / gross purchase spend;
        - ``spend_trend``: ``ln((1 + S_recent) / (1 + S_previous))`` where the spends are gross
          purchase lines timed in ``[as_of - w, as_of)`` and ``[as_of - 2w, as_of - w)``;
        - ``recent_purchase_days``: distinct purchase days (UTC calendar days) in the last
          ``w`` days before ``as_of``: how often a customer buys now, where ``frequency``
          counts since the first order;
        - ``active_months``: periods of 30 days, counted back from ``as_of`` (``[as_of - 30
          days, as_of)`` is the first), with a purchase: how steadily they have bought
          (twelve orders in one month and one a month for a year have one frequency, and 1
          against 12 active months);
        - ``attr_*``: numeric customer attributes (see
          :func:`segmint.features.attributes.attribute_features`).

    Raises
    ------
    DataValidationError
        When the transactions table is missing, lacks columns, is empty, or holds no purchase
        before ``as_of``.

    Notes
    -----
    A line is a return when ``is_return`` is true; when ``is_return`` is NULL, a negative
    ``amount`` marks a return. The returned value is ``|amount|`` of return lines. Shares use
    gross purchase spend as denominator and are clipped to [0, 1]. Lines without a customer id
    are ignored. ``country`` is not a feature; see
    :func:`segmint.features.customer_countries`. Times are taken line by line: the lines of one
    order are expected to share its time (as invoices and checkout events do), so purchase days
    are order days.
    """
    engine = engine_for(con)
    parts = _feature_queries(
        engine,
        as_of=as_of,
        n_top_categories=n_top_categories,
        trend_window_days=trend_window_days,
        category_map_table=category_map_table,
        sample=sample,
        share_categories=share_categories,
    )
    return pa.concat_tables([engine.to_arrow(part) for part in parts]).sort_by("customer_id")


def feature_query(
    con,
    *,
    as_of: datetime | date | None = None,
    n_top_categories: int = 6,
    trend_window_days: int = 90,
    category_map_table: str | None = None,
    share_categories: Sequence[str] | None = None,
) -> ir.Table:
    """:func:`build_features` as one query, not run, for an engine that spills (Spark): the
    caller writes it where the data lives instead of fetching it (rows in no set order).

    Raises
    ------
    ValueError
        On an engine that must run the features a bucket of customers at a time (DuckDB over
        more lines than its memory holds): use :func:`build_features` there.
    """
    engine = engine_for(con)
    parts = list(
        _feature_queries(
            engine,
            as_of=as_of,
            n_top_categories=n_top_categories,
            trend_window_days=trend_window_days,
            category_map_table=category_map_table,
            share_categories=share_categories,
        )
    )
    if len(parts) > 1:
        raise ValueError(f"the features need {len(parts)} passes on {engine.name}")
    return parts[0]


def _feature_queries(
    engine: Engine,
    *,
    as_of: datetime | date | None,
    n_top_categories: int,
    trend_window_days: int,
    category_map_table: str | None,
    sample: float | None = None,
    share_categories: Sequence[str] | None = None,
) -> Iterator[ir.Table]:
    """The feature query of each bucket of customers (one bucket unless memory is short)."""
    if n_top_categories < 0:
        raise ValueError("n_top_categories must be >= 0")
    if trend_window_days <= 0:
        raise ValueError("trend_window_days must be > 0")
    tx = _transactions(engine)
    engine.prepare()
    as_of = _default_as_of(tx) if as_of is None else to_naive_utc(as_of)
    as_of_lit = ibis.literal(as_of, type="timestamp")
    lines, categories = _categorised_lines(engine, tx, as_of, category_map_table)
    if share_categories is None:
        share_categories = categories[:n_top_categories]
    else:  # columns chosen elsewhere (on every customer, for a sample's training frames)
        categories = [*categories, *(c for c in share_categories if c not in categories)]
    share_columns = category_columns(share_categories)
    if sample is not None and sample < 1.0:
        lines = lines.filter(in_sample(engine, lines["customer_id"], sample))

    positions, n_buckets = None, 1
    if engine.memory_limit() is not None:
        # the engine does not spill per-customer lists (DuckDB): the aggregation is sized to
        # its memory, with product bitmaps where they take less than lists of hashes
        n_lines, n_customers = tx.count().to_pyarrow().as_py(), known_customers(engine)
        if sample is not None:  # a sample's lines and customers, about (they size memory)
            n_lines = math.ceil(n_lines * min(sample, 1.0))
            n_customers = math.ceil(n_customers * min(sample, 1.0))
        n_buckets = customer_buckets(engine, n_lines, n_customers)
        positions = product_positions(engine, lines, n_lines)
    bounds = bucket_bounds(engine, lines, n_buckets)
    for bucket in range(len(bounds) + 1):
        part = lines
        if bounds:
            part = lines.filter(in_bucket(lines["customer_id"], bucket, bounds))
        features = _assemble(
            engine,
            part,
            part.filter(~part["is_ret"]),
            as_of_lit,
            trend_window_days,
            categories,
            share_columns,
            positions,
        )
        if bucket == 0:
            attrs = attribute_features(engine, taken=set(features.columns))
        if attrs is not None:
            bucket_attrs = attrs
            if bounds:
                bucket_attrs = attrs.filter(in_bucket(attrs["customer_id"], bucket, bounds))
            # An explicit select: a left join also keeps the right side's key (customer_id_right).
            columns = [*features.columns, *(c for c in attrs.columns if c != "customer_id")]
            features = features.left_join(bucket_attrs, "customer_id").select(*columns)
        yield features


def _categorised_lines(
    engine: Engine, tx: ir.Table, as_of: datetime, category_map_table: str | None
) -> tuple[ir.Table, list[str]]:
    """The lines before ``as_of`` with their categories (mapped, or derived where too few
    carry one), and the categories by purchase spend."""
    lines = tx.filter(tx["ts"] < ibis.literal(as_of, type="timestamp"), tx["customer_id"].notnull())
    if "category" not in lines.columns:
        lines = lines.mutate(category=ibis.null("string"))
    is_return = lines["is_return"].fill_null(lines["amount"] < 0)
    # Returns are normalised to negative values whatever sign convention the source used.
    lines = lines.select(
        "customer_id",
        "order_id",
        "ts",
        "product_id",
        "category",
        "quantity",
        value=ibis.ifelse(is_return, -lines["amount"].abs(), lines["amount"]),
        is_ret=is_return,
    )
    if category_map_table is not None:
        lines = _apply_map(lines, _map_table(engine, category_map_table))
    categories, coverage = _category_spend(lines.filter(~lines["is_ret"]))
    if category_map_table is None and coverage < MIN_CATEGORY_COVERAGE:
        lines = _apply_map(lines, ibis.memtable(derive_categories(engine, before=as_of)))
        categories, _ = _category_spend(lines.filter(~lines["is_ret"]))
    return lines, categories


def top_categories(
    con,
    *,
    as_of: datetime | date | None = None,
    n_top_categories: int = 6,
    category_map_table: str | None = None,
) -> list[str]:
    """The categories whose spend shares :func:`build_features` makes columns of, with the
    same arguments: to give a sample's features the columns every customer's have."""
    engine = engine_for(con)
    tx = _transactions(engine)
    engine.prepare()
    as_of = _default_as_of(tx) if as_of is None else to_naive_utc(as_of)
    return _categorised_lines(engine, tx, as_of, category_map_table)[1][:n_top_categories]


def _map_table(engine: Engine, name: str) -> ir.Table:
    table = engine.table(name)
    if table is None:
        raise DataValidationError(f"category map table {name!r} does not exist", source=name)
    missing = [c for c in ("product_id", "category") if c not in table.columns]
    if missing:
        raise DataValidationError(f"category map lacks column(s) {', '.join(missing)}", source=name)
    return table


def _apply_map(lines: ir.Table, category_map: ir.Table) -> ir.Table:
    """Replace each line's category by the map's, keeping the line's own when unmapped."""
    # One category per product, so a map with repeated products cannot duplicate lines.
    per_product = category_map.group_by("product_id").aggregate(
        mapped=category_map["category"].cast("string").max()
    )
    joined = lines.left_join(per_product, "product_id")
    return joined.mutate(category=joined["mapped"].fill_null(joined["category"])).drop("mapped")


def _category_sums(
    category: ir.StringValue, bought_value: ir.FloatingValue, categories: list[str]
) -> dict[str, ir.FloatingScalar]:
    """One purchase-spend sum per category, to pivot inside the customer aggregation."""
    return {
        f"_spend_{i}": only(category == name, bought_value).sum()
        for i, name in enumerate(categories)
    }


def _grouped_categories(purchases: ir.Table, share_columns: dict[str, str]) -> ir.Table:
    """Category features through a customer x category table (many categories)."""
    by_category = purchases.group_by(["customer_id", "category"]).aggregate(
        spend=purchases["value"].sum()
    )
    named = by_category["category"].notnull()
    return by_category.group_by("customer_id").aggregate(
        n_categories=by_category.count(where=named),
        top_spend=by_category["spend"].max(where=named),
        **{
            name: by_category["spend"].sum(where=by_category["category"] == value)
            for name, value in share_columns.items()
        },
    )


def _gap_moments(engine: Engine, days: ir.ArrayValue) -> tuple[ir.FloatingValue, ir.FloatingValue]:
    """Sum and sum of squares of the gaps between consecutive distinct values of ``days``.

    ``days`` must be sorted ascending and not empty; repeated days give gaps of 0, which add
    nothing to either sum, so no de-duplication is needed: sum = last - first, and
    sum of squares = sum((d[i+1] - d[i])^2) = 2 S2 - first^2 - last^2 - 2 sum(d[i] d[i+1]).
    """
    # first and last as min and max: Ibis 12 compiles a negative index wrongly for Spark
    first, last = days.mins(), days.maxs()
    squares = engine.inner_product(days, days)
    neighbours = engine.inner_product(days[1:], days[:-1])
    return last - first, 2.0 * squares - first * first - last * last - 2.0 * neighbours


def _unit(value: ir.FloatingValue) -> ir.FloatingValue:
    """Clip a value that is never NULL to [0, 1].

    LEAST/GREATEST rather than Ibis's ``clip``, which repeats the value in nested CASEs to keep
    NULLs (DuckDB's LEAST and GREATEST skip NULL arguments, so NULLs must be handled outside).
    """
    return ibis.least(ibis.greatest(value, 0.0), 1.0)


def _assemble(
    engine: Engine,
    lines: ir.Table,
    purchases: ir.Table,
    as_of: ir.TimestampScalar,
    trend_window_days: int,
    categories: list[str],
    share_columns: dict[str, str],
    positions: pa.Table | None,
) -> ir.Table:
    """Build the per-customer feature expression (nothing runs here)."""
    as_of_s = engine.epoch_seconds(as_of)
    as_of_day = as_of_s // int(_SECONDS_PER_DAY)
    recent_start = as_of - ibis.interval(days=trend_window_days)
    previous_start = as_of - ibis.interval(days=2 * trend_window_days)

    lines, products, count_products = product_count(engine, lines, positions)
    # One aggregation of the lines per customer. Orders are collected as a list of 64-bit keys
    # and reduced per customer afterwards (in DuckDB that is about twice as fast as
    # COUNT(DISTINCT) and far cheaper than a customer x order table). An order's key holds its
    # day above a 44-bit hash of its id, so one sorted distinct list gives the frequency (its
    # length) and the order days in time order (its high bits), whose gaps give the
    # inter-purchase statistics. Two orders of one customer on one day are merged only if
    # their ids' hashes agree in 44 bits (odds about 1 in 1.8e13 per pair). The lines of one
    # order share its time (an order is one checkout), so line days are order days.
    bought = ~lines["is_ret"]
    ts, value = lines["ts"], lines["value"]
    # calendar days counted back from as_of's day: small numbers keep the squares exact
    day = (as_of_day - engine.epoch_seconds(ts) // int(_SECONDS_PER_DAY)).cast("int64")
    order_hash = engine.hash_bits(lines["order_id"].cast("string"), ORDER_BITS)
    order_key = (day << ORDER_BITS) | order_hash
    pivot = len(categories) <= MAX_PIVOT_CATEGORIES
    bought_value = only(bought, value)
    per_customer = lines.group_by("customer_id").aggregate(
        first_ts=only(bought, ts).min(),
        last_ts=only(bought, ts).max(),
        gross=bought_value.sum(),
        returned=-only(lines["is_ret"], value).sum(),
        items=only(bought, lines["quantity"]).sum(),
        recent=only(ts >= recent_start, bought_value).sum(),
        previous=only((ts >= previous_start) & (ts < recent_start), bought_value).sum(),
        # a hash is never NULL (NULL ids hash too, as one order)
        _orders=engine.collect(order_key, bought),
        _products=products,
        **(_category_sums(lines["category"], bought_value, categories) if pivot else {}),
    )
    # customers whose every line before as_of is a return have no features
    per_customer = per_customer.filter(per_customer["first_ts"].notnull())
    per_customer = per_customer.mutate(
        _orders=engine.distinct(per_customer["_orders"]).sort(),
        n_products=count_products(per_customer["_products"]),
    )
    per_customer = per_customer.mutate(
        frequency=per_customer["_orders"].length(),
        _days=engine.shifted_doubles(per_customer["_orders"], ORDER_BITS),
    )
    days_back = per_customer["_days"]  # ascending: the most recent order first
    per_customer = per_customer.mutate(
        n_gaps=engine.sorted_unique(days_back) - 1,
        # a midnight as_of (the default) puts yesterday 1 day back: the window's days are 1..w
        recent_days=engine.count_at_most(days_back, trend_window_days),
        active_months=engine.count_periods_back(days_back, MONTH_DAYS),
    )
    gap_sum, gap_sum_squares = _gap_moments(engine, per_customer["_days"])
    n_gaps = per_customer["n_gaps"].nullif(0)
    gap_mean = gap_sum / n_gaps
    per_customer = per_customer.mutate(
        gap_mean=gap_mean,
        gap_std=ibis.greatest(gap_sum_squares / n_gaps - gap_mean * gap_mean, 0.0).sqrt(),
    )
    if pivot:
        sums = [per_customer[f"_spend_{i}"] for i in range(len(categories))]
        index = {name: i for i, name in enumerate(categories)}
        # a category is "bought" when the customer has a line in it: its sum is then not NULL
        n_categories = sum((x.notnull().cast("int64") for x in sums), ibis.literal(0, "int64"))
        top_spend = ibis.greatest(*sums) if len(sums) > 1 else (sums[0] if sums else ibis.null())
        j = per_customer.mutate(
            n_categories=n_categories,
            top_spend=top_spend.cast("float64"),
            **{name: sums[index[value]] for name, value in share_columns.items()},
        )
    else:
        by_category = _grouped_categories(purchases, share_columns)
        # left join: a customer may buy only uncategorised products
        joined = per_customer.left_join(by_category, "customer_id")
        j = joined.select(
            *per_customer.columns, *(c for c in by_category.columns if c != "customer_id")
        )
    gross = j["gross"]
    returned = j["returned"].fill_null(0.0)

    def share(spend: ir.FloatingValue) -> ir.FloatingValue:
        # NULL spend (nothing bought in that category) is a share of 0; no positive gross
        # spend at all gives NULL rather than a division by zero.
        return ibis.ifelse(gross > 0, _unit(spend.fill_null(0.0) / gross), ibis.null())

    return_rate = ibis.ifelse(
        gross > 0, _unit(returned / gross), ibis.ifelse(returned > 0, 1.0, 0.0)
    )
    recent = ibis.greatest(j["recent"].fill_null(0.0), 0.0)
    previous = ibis.greatest(j["previous"].fill_null(0.0), 0.0)
    has_categories = j["n_categories"] > 0

    return j.select(
        customer_id=j["customer_id"],
        recency_days=(as_of_s - engine.epoch_seconds(j["last_ts"])) / _SECONDS_PER_DAY,
        frequency=j["frequency"].cast("int64"),
        monetary=gross - returned,
        tenure_days=(as_of_s - engine.epoch_seconds(j["first_ts"])) / _SECONDS_PER_DAY,
        avg_order_value=gross / j["frequency"],
        interpurchase_mean_days=j["gap_mean"],
        interpurchase_cv=ibis.ifelse(
            (j["n_gaps"] >= 2) & (j["gap_mean"] > 0), j["gap_std"] / j["gap_mean"], ibis.null()
        ).cast("float64"),
        return_rate=return_rate.cast("float64"),
        basket_size=j["items"] / j["frequency"],
        n_products=j["n_products"].fill_null(0).cast("int64"),
        n_categories=j["n_categories"].fill_null(0).cast("int64"),
        top_category_share=ibis.ifelse(has_categories, share(j["top_spend"]), ibis.null()).cast(
            "float64"
        ),
        **{name: share(j[name]).cast("float64") for name in share_columns},
        spend_trend=((1.0 + recent) / (1.0 + previous)).ln(),
        recent_purchase_days=j["recent_days"].cast("int64"),
        active_months=j["active_months"].cast("int64"),
    )
