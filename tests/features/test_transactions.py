"""build_features on a tiny hand-built data set; every value is worked out by hand below."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from segmint.errors import DataValidationError
from segmint.features import CORE_FEATURES, build_features, default_as_of

AS_OF = datetime(2024, 1, 31)

# customer, order, ts, product, description, category, quantity, unit price, is_return
ROWS = [
    # A: three orders on three days, one order with two lines, a return, a later order.
    ("A", "o1", "2024-01-01 10:00:00", "P1", "toy car", "Toys", 2, 5.0, False),
    ("A", "o1", "2024-01-01 10:00:00", "P2", "novel", "Books", 1, 20.0, False),
    ("A", "o2", "2024-01-11 12:00:00", "P1", "toy car", "Toys", 1, 5.0, False),
    ("A", "o3", "2024-01-26 09:00:00", "P3", "spade", "Garden", 4, 10.0, False),
    ("A", "r1", "2024-01-27 09:00:00", "P3", "spade", "Garden", -1, 10.0, True),
    ("A", "o9", "2024-02-05 09:00:00", "P2", "novel", "Books", 5, 20.0, False),  # after as_of
    # B: two orders on the same day; one line without a category.
    ("B", "o4", "2024-01-15 08:00:00", "P2", "novel", "Books", 1, 20.0, False),
    ("B", "o4", "2024-01-15 08:00:00", "P4", "misc", None, 3, 2.0, False),
    ("B", "o5", "2024-01-15 18:00:00", "P1", "toy car", "Toys", 2, 5.0, False),
    # C: only a return -> no row.
    ("C", "r2", "2024-01-20 09:00:00", "P1", "toy car", "Toys", -1, 5.0, True),
    # D: one order an hour before as_of; one exactly at as_of (excluded: ts < as_of).
    ("D", "o6", "2024-01-30 23:00:00", "P5", "robot", "Toys", 1, 8.0, False),
    ("D", "o7", "2024-01-31 00:00:00", "P5", "robot", "Toys", 1, 8.0, False),
    # E: two orders on two days, never a category.
    ("E", "o8", "2024-01-05 10:00:00", "P4", "misc", None, 1, 2.0, False),
    ("E", "o10", "2024-01-08 10:00:00", "P4", "misc", None, 1, 2.0, False),
]

H = 1 / 24  # one hour in days

EXPECTED = {
    "A": {
        "recency_days": 4 + 15 * H,
        "frequency": 3,
        "monetary": 75.0 - 10.0,
        "tenure_days": 29 + 14 * H,
        "avg_order_value": 25.0,
        "interpurchase_mean_days": 12.5,  # gaps 10 and 15 days
        "interpurchase_cv": 2.5 / 12.5,  # population std of (10, 15) is 2.5
        "return_rate": 10.0 / 75.0,
        "basket_size": 8 / 3,
        "n_products": 3,
        "n_categories": 3,
        "top_category_share": 40.0 / 75.0,  # Garden
        "cat_share_books": 20.0 / 75.0,
        "cat_share_garden": 40.0 / 75.0,
        "spend_trend": math.log((1 + 40.0) / (1 + 5.0)),  # o3 recent, o2 previous
        "recent_purchase_days": 1,  # 01-26 is 5 days back; 01-11 is 20 (window 10)
        # 5, 20 and 30 days back: all in [as_of - 30 days, as_of)
        "active_months": 1,
    },
    "B": {
        "recency_days": 15 + 6 * H,
        "frequency": 2,
        "monetary": 36.0,
        "tenure_days": 15 + 16 * H,
        "avg_order_value": 18.0,
        "interpurchase_mean_days": None,  # one distinct order day
        "interpurchase_cv": None,
        "return_rate": 0.0,
        "basket_size": 3.0,
        "n_products": 3,
        "n_categories": 2,
        "top_category_share": 20.0 / 36.0,  # Books; the uncategorised line counts in gross
        "cat_share_books": 20.0 / 36.0,
        "cat_share_garden": 0.0,
        "spend_trend": math.log(1 / (1 + 36.0)),
        "recent_purchase_days": 0,
        "active_months": 1,  # two orders, one day
    },
    "D": {
        "recency_days": H,
        "frequency": 1,
        "monetary": 8.0,
        "tenure_days": H,
        "avg_order_value": 8.0,
        "interpurchase_mean_days": None,
        "interpurchase_cv": None,
        "return_rate": 0.0,
        "basket_size": 1.0,
        "n_products": 1,
        "n_categories": 1,
        "top_category_share": 1.0,
        "cat_share_books": 0.0,
        "cat_share_garden": 0.0,
        "spend_trend": math.log(9.0),
        "recent_purchase_days": 1,
        "active_months": 1,
    },
    "E": {
        "recency_days": 22 + 14 * H,
        "frequency": 2,
        "monetary": 4.0,
        "tenure_days": 25 + 14 * H,
        "avg_order_value": 2.0,
        "interpurchase_mean_days": 3.0,
        "interpurchase_cv": None,  # only one gap
        "return_rate": 0.0,
        "basket_size": 1.0,
        "n_products": 1,
        "n_categories": 0,
        "top_category_share": None,
        "cat_share_books": 0.0,
        "cat_share_garden": 0.0,
        "spend_trend": 0.0,
        "recent_purchase_days": 0,
        "active_months": 1,
    },
}


@pytest.fixture
def features(con, insert_transactions):
    insert_transactions(con, ROWS)
    return build_features(con, as_of=AS_OF, n_top_categories=2, trend_window_days=10)


def test_columns_and_rows(features):
    # Books and Garden tie at 40 of spend (the later Books order must not count), Toys has 33.
    assert features.column_names == [
        "customer_id",
        *CORE_FEATURES,
        "cat_share_books",
        "cat_share_garden",
        "spend_trend",
        "recent_purchase_days",
        "active_months",
    ]
    # C has only a return: no row.
    assert features["customer_id"].to_pylist() == ["A", "B", "D", "E"]


@pytest.mark.parametrize("customer", sorted(EXPECTED))
def test_every_value_by_hand(features, customer):
    row = {r["customer_id"]: r for r in features.to_pylist()}[customer]
    for name, expected in EXPECTED[customer].items():
        got = row[name]
        if expected is None:
            assert got is None or math.isnan(got), (name, got)
        else:
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9), (name, got)


def test_types(features):
    assert str(features.schema.field("customer_id").type) == "string"
    assert str(features.schema.field("frequency").type) == "int64"
    assert str(features.schema.field("recency_days").type) == "double"


def test_default_as_of_is_midnight_after_last_transaction(con, insert_transactions):
    insert_transactions(con, ROWS)
    assert default_as_of(con) == datetime(2024, 2, 6)
    # With the default, A's later order counts.
    table = build_features(con)
    row = {r["customer_id"]: r for r in table.to_pylist()}["A"]
    assert row["frequency"] == 4
    assert row["recency_days"] == pytest.approx(15 / 24)
    # 1, 11, 26 and 36 days back from 2024-02-06: four days in the 90-day window, and two
    # 30-day periods (the first is 01-07 .. 02-05)
    assert row["recent_purchase_days"] == 4
    assert row["active_months"] == 2


def test_as_of_before_data_is_a_clear_error(con, insert_transactions):
    insert_transactions(con, ROWS)
    with pytest.raises(DataValidationError, match="no purchases"):
        build_features(con, as_of=datetime(2023, 1, 1))


def test_empty_transactions_is_a_clear_error(con):
    with pytest.raises(DataValidationError, match="transactions table is empty"):
        build_features(con)


def test_missing_transactions_table_is_a_clear_error():
    import duckdb

    with pytest.raises(DataValidationError, match="no transactions table"):
        build_features(duckdb.connect())


def test_customer_with_only_returns_has_no_row(con, insert_transactions):
    insert_transactions(con, [r for r in ROWS if r[0] in ("C", "D")])
    table = build_features(con, as_of=AS_OF)
    assert table["customer_id"].to_pylist() == ["D"]


def test_category_map_table_replaces_categories(con, insert_transactions):
    insert_transactions(con, ROWS)
    con.execute(
        "CREATE TABLE product_map AS SELECT * FROM (VALUES ('P4', 'Misc'), ('P4', 'Misc'),"
        " ('P1', 'Games')) AS m(product_id, category)"
    )
    table = build_features(con, as_of=AS_OF, n_top_categories=10, category_map_table="product_map")
    rows = {r["customer_id"]: r for r in table.to_pylist()}
    # Unmapped products keep their own category; the duplicated map row does not duplicate lines.
    assert rows["E"]["cat_share_misc"] == pytest.approx(1.0)
    assert rows["E"]["frequency"] == 2
    assert rows["A"]["cat_share_games"] == pytest.approx(15.0 / 75.0)
    assert rows["B"]["n_categories"] == 3
    assert "cat_share_toys" in table.column_names  # D's P5 is still Toys


def test_missing_category_map_table_is_a_clear_error(con, insert_transactions):
    insert_transactions(con, ROWS)
    with pytest.raises(DataValidationError, match="does not exist"):
        build_features(con, as_of=AS_OF, category_map_table="nope")


@pytest.mark.parametrize(
    "limit",
    # many categories: a customer x category table instead of the pivot; many products: lists
    # of product-id hashes instead of bitmaps
    ["transactions.MAX_PIVOT_CATEGORIES", "_products.MAX_BITMAP_PRODUCTS"],
)
def test_large_data_paths_give_the_same_values(con, insert_transactions, monkeypatch, limit):
    insert_transactions(con, ROWS)
    fast = build_features(con, as_of=AS_OF, n_top_categories=2, trend_window_days=10)
    monkeypatch.setattr(f"segmint.features.{limit}", 1)
    other = build_features(con, as_of=AS_OF, n_top_categories=2, trend_window_days=10)
    assert other.equals(fast)
    assert other.column("n_products").to_pylist() == [3, 3, 1, 1]
