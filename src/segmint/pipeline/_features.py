"""Features for segmentation: the per-customer table as of a date, and which columns cluster."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from segmint.features import (
    MIN_CATEGORY_COVERAGE,
    build_features,
    default_as_of,
    derive_categories,
    feature_label,
)


def clustering_columns(columns: list[str]) -> list[str]:
    """The feature columns segments are found on.

    Behaviour only: customer attributes describe segments (they appear in profiles) but do not
    define them, and ``n_products`` duplicates what ``frequency`` and ``basket_size`` carry.
    """
    skip = {"customer_id", "n_products"}
    return [c for c in columns if c not in skip and not c.startswith("attr_")]


#: numbers of segments tried when none is given: two segments are a value split rather than a
#: segmentation (silhouette favours k=2 on real customer data, whose clusters overlap), and more
#: than ten are too many for a marketer to act on
K_RANGE = (3, 10)

#: category shares used as features; 8 rather than 6 so that a small but distinctive category
#: (the planted seasonal gift buyers' "christmas") is not left out by the big ones
N_TOP_CATEGORIES = 8


def compute_features(
    con: duckdb.DuckDBPyConnection, as_of: datetime | None = None
) -> tuple[pd.DataFrame, datetime]:
    """Features per customer as of a date, deriving and storing product categories if needed."""
    as_of = as_of or default_as_of(con)
    (coverage,) = con.execute(
        "SELECT coalesce(avg((category IS NOT NULL)::INT), 0) FROM transactions"
    ).fetchall()[0]
    map_table = None
    if coverage < MIN_CATEGORY_COVERAGE:
        (mapped,) = con.execute("SELECT count(*) FROM product_categories").fetchall()[0]
        if mapped == 0:
            categories = derive_categories(con)
            con.register("_derived", categories)
            con.execute("INSERT INTO product_categories SELECT product_id, category FROM _derived")
            con.unregister("_derived")
        map_table = "product_categories"
    table = build_features(
        con, as_of=as_of, n_top_categories=N_TOP_CATEGORIES, category_map_table=map_table
    )
    return table.to_pandas().set_index("customer_id"), as_of


def feature_labels(columns) -> dict[str, str]:
    """Plain-language label of every feature column, for rules, names and reports."""
    return {c: feature_label(c) for c in columns if c != "customer_id"}
