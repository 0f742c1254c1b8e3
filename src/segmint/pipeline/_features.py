"""Features for segmentation: the per-customer table as of a date, and which columns cluster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa

from segmint.engine import engine_for
from segmint.errors import DataValidationError
from segmint.features import (
    MIN_CATEGORY_COVERAGE,
    build_features,
    default_as_of,
    derive_categories,
    feature_label,
    source_features,
)


def clustering_columns(columns: list[str], use_attributes: bool = False) -> list[str]:
    """The feature columns segments are found on.

    Behaviour, and customer attributes (``attr_*``) only with ``use_attributes``: by default
    they describe segments (they appear in profiles) but do not define them. ``n_products``
    duplicates what ``frequency`` and ``basket_size`` carry; ``customer_value`` is a sum of
    attributes, there to measure value, not to count twice.
    """
    skip = {"customer_id", "n_products", "customer_value"}
    return [
        c
        for c in columns
        if c not in skip
        and (use_attributes or not c.startswith("attr_"))
        and not c.startswith("outcome_")
    ]


def value_column(columns) -> str | None:
    """The column whose total a segment's value share is of: net spend, when there."""
    return "monetary" if "monetary" in columns else None


#: numbers of segments tried when none is given: two segments are a value split rather than a
#: segmentation (silhouette favours k=2 on real customer data, whose clusters overlap), and more
#: than ten are too many for a marketer to act on
K_RANGE = (3, 10)

#: category shares used as features; 8 rather than 6 so that a small but distinctive category
#: (the planted seasonal gift buyers' "christmas") is not left out by the big ones
N_TOP_CATEGORIES = 8


def _check_as_of(con: duckdb.DuckDBPyConnection, as_of: datetime | None) -> datetime:
    """``as_of``, or the default (midnight after the last day), if it lies within the data."""
    end = default_as_of(con)
    if as_of is None:
        return end
    ((first, last),) = con.execute("SELECT min(ts), max(ts) FROM transactions").fetchall()
    if not first < as_of <= end:
        side = "after" if as_of > end else "before"
        raise DataValidationError(
            f"as of {as_of:%Y-%m-%d} is {side} the data, which runs from {first:%Y-%m-%d} to "
            f"{last:%Y-%m-%d}; pick a date after {first:%Y-%m-%d} and up to {end:%Y-%m-%d} "
            "(the default)"
        )
    return as_of


#: the name under which categories derived for one call are visible to the feature query
_NEW_CATEGORIES = "_segmint_new_categories"


def feature_frame(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime | None = None,
    *,
    keep_categories: bool = True,
    categories: pa.Table | None = None,
    sample: float | None = None,
    sources: Sequence[str] | None = None,
    topics: dict | None = None,
    required: bool = True,
    identities: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, datetime, pa.Table | None]:
    """Features per customer as of a date, without writing anything.

    Purchases make the customers; each other source (web, chats, devices, social: see
    :func:`segmint.features.source_features`) adds its columns and its coverage column, for
    the sources named in ``sources`` (``()``: purchases only; None: every source covering
    enough customers; ``required``: a source named without data is an error).
    ``features.attrs["sources"]`` says which were used, their coverage and the chat topics
    (``topics``: fitted ones to reuse, as at an earlier cut-off; ``identities``: the identity
    resolution's mapping, when the caller resolved already).

    When the data carries too few categories, product categories are derived from the products
    sold before ``as_of``. With ``keep_categories`` the workspace's stored categories are used
    when there are some, so a segment's category shares mean the same run to run, and newly
    derived ones are returned for the caller to store (:func:`store_categories`) with its run;
    without, they are derived for this call only (an evaluation at a past cut-off must not use
    categories learned from later data). ``categories`` forces a ``(product_id, category)``
    map, e.g. the one derived for a later cut-off, so two cut-offs share their categories.
    ``sample`` keeps a hash sample of that share of the customers (see ``build_features``).

    Returns
    -------
    features : DataFrame
        Indexed by ``customer_id``.
    as_of : datetime
    new_categories : pyarrow.Table or None
        ``(product_id, category)`` derived here (to be stored with ``keep_categories``); None
        when nothing was derived.
    """
    as_of = _check_as_of(con, as_of)
    (coverage,) = con.execute(
        "SELECT coalesce(avg((category IS NOT NULL)::INT), 0) FROM transactions"
    ).fetchall()[0]
    map_table, new = None, None
    if categories is not None and coverage < MIN_CATEGORY_COVERAGE:
        con.register(_NEW_CATEGORIES, categories)
        map_table = _NEW_CATEGORIES
    elif coverage < MIN_CATEGORY_COVERAGE:
        stored = 0
        if keep_categories:
            (stored,) = con.execute("SELECT count(*) FROM product_categories").fetchall()[0]
        map_table = "product_categories"
        if stored == 0:
            new = derive_categories(con, before=as_of)
            con.register(_NEW_CATEGORIES, new)
            map_table = _NEW_CATEGORIES
    try:
        table = build_features(
            con,
            as_of=as_of,
            n_top_categories=N_TOP_CATEGORIES,
            category_map_table=map_table,
            sample=sample,
        )
    finally:
        if map_table == _NEW_CATEGORIES:
            con.unregister(_NEW_CATEGORIES)
    features = table.to_pandas().set_index("customer_id")
    if sources is None or len(sources):
        features = _with_sources(
            con, features, table.column("customer_id"), as_of, sources, topics, required, identities
        )
    return features, as_of, new


def _with_sources(
    con: duckdb.DuckDBPyConnection,
    features: pd.DataFrame,
    customers: pa.ChunkedArray,
    as_of: datetime,
    sources: Sequence[str] | None,
    topics: dict | None,
    required: bool,
    identities: pd.DataFrame | None,
) -> pd.DataFrame:
    found = source_features(
        engine_for(con),
        as_of,
        customers.combine_chunks(),
        sources=sources,
        topics=topics,
        required=required,
        identities=identities,
    )
    features = features.join(found.frame(features.index))
    features.attrs["sources"] = {
        "used": list(found.tables),
        "coverage": found.coverage,
        "topics": found.topics,
        "topic_names": found.topic_names,
    }
    return features


def stored_category_map(con: duckdb.DuckDBPyConnection) -> str | None:
    """``"product_categories"`` when features map products through the stored categories
    (the data carries too few of its own and some are stored), else None."""
    (coverage,) = con.execute(
        "SELECT coalesce(avg((category IS NOT NULL)::INT), 0) FROM transactions"
    ).fetchall()[0]
    if coverage >= MIN_CATEGORY_COVERAGE:
        return None
    (stored,) = con.execute("SELECT count(*) FROM product_categories").fetchall()[0]
    return "product_categories" if stored else None


def store_categories(con: duckdb.DuckDBPyConnection, categories: pa.Table) -> None:
    """Store derived product categories in the workspace, for later runs to reuse."""
    con.register(_NEW_CATEGORIES, categories)
    try:
        con.execute(
            "INSERT INTO product_categories SELECT product_id, category FROM " + _NEW_CATEGORIES
        )
    finally:
        con.unregister(_NEW_CATEGORIES)


def compute_features(
    con: duckdb.DuckDBPyConnection, as_of: datetime | None = None, *, keep_categories: bool = True
) -> tuple[pd.DataFrame, datetime]:
    """:func:`feature_frame`, storing newly derived categories at once (on ``con``)."""
    features, as_of, new = feature_frame(con, as_of, keep_categories=keep_categories)
    if new is not None and keep_categories:
        store_categories(con, new)
    return features, as_of


def feature_labels(columns) -> dict[str, str]:
    """Plain-language label of every feature column, for rules, names and reports."""
    return {c: feature_label(c) for c in columns if c != "customer_id"}
