"""Customer attributes from the JSON column, and the country helper."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from segmint.features import attribute_features, build_features, customer_countries

ROWS = [
    ("A", "o1", "2024-01-01 10:00:00", "P1", "toy car", "Toys", 1, 10.0, False),
    ("B", "o2", "2024-01-02 10:00:00", "P1", "toy car", "Toys", 1, 10.0, False),
    ("D", "o3", "2024-01-03 10:00:00", "P1", "toy car", "Toys", 1, 10.0, False),
    ("E", "o4", "2024-01-04 10:00:00", "P1", "toy car", "Toys", 1, 10.0, False),
]

ATTRIBUTES = {
    "A": {"age": 42, "plan": "gold", "vip": True, "email": "a@x", "address": {"city": "Leeds"}},
    "B": {"age": 30.5, "plan": "basic", "vip": False, "email": "b@x", "odd key.x": 7.5},
    "D": None,
    "E": {"age": "unknown", "plan": "gold", "email": "e@x"},
    "Z": {"age": 99, "plan": "silver", "odd key.x": 3},  # no transactions: no row
}


@pytest.fixture
def con_with_customers(con, insert_transactions):
    insert_transactions(con, ROWS)
    con.executemany(
        "INSERT INTO customers VALUES (?, NULL, ?, CAST(? AS JSON))",
        [
            (c, "UK" if c != "B" else "FR", None if a is None else json.dumps(a))
            for c, a in ATTRIBUTES.items()
        ],
    )
    return con


def test_attribute_columns(con_with_customers):
    table = build_features(con_with_customers, as_of=datetime(2024, 2, 1))
    attrs = [c for c in table.column_names if c.startswith("attr_")]
    assert table.column_names[0] == "customer_id"
    assert table.column_names[-len(attrs) :] == attrs  # attributes come last
    assert not any(c.startswith("customer_id_") for c in table.column_names)
    # Numbers and booleans -> one column each; strings with <= 5 values -> one-hot; nested
    # objects are left out, and so is country.
    assert "attr_address" not in attrs and not any(a.startswith("attr_address") for a in attrs)
    assert "country" not in table.column_names
    rows = {r["customer_id"]: r for r in table.to_pylist()}
    assert list(rows) == ["A", "B", "D", "E"]
    assert rows["A"]["attr_age"] == 42.0
    assert rows["B"]["attr_age"] == 30.5
    assert rows["D"]["attr_age"] is None  # no attributes at all
    assert rows["E"]["attr_age"] is None  # a string where a number is expected
    assert rows["A"]["attr_vip"] == 1.0 and rows["B"]["attr_vip"] == 0.0
    assert rows["E"]["attr_vip"] is None
    assert rows["B"]["attr_odd_key_x"] == 7.5  # a key that is not a plain JSON path
    for plan in ("basic", "gold", "silver"):
        assert f"attr_plan__{plan}" in attrs
    assert (rows["A"]["attr_plan__gold"], rows["A"]["attr_plan__basic"]) == (1.0, 0.0)
    assert rows["D"]["attr_plan__gold"] == 0.0
    assert rows["E"]["attr_plan__gold"] == 1.0


def test_high_cardinality_strings_are_left_out(con_with_customers):
    expr = attribute_features(con_with_customers, max_levels=2)
    columns = expr.columns
    # "plan" has 3 values and "email" 3: both above 2 levels, so neither is one-hot encoded.
    assert not any(c.startswith(("attr_plan", "attr_email")) for c in columns)
    assert {"attr_age", "attr_vip"} <= set(columns)


def test_no_attributes_table_or_column(con, insert_transactions):
    insert_transactions(con, ROWS)
    con.execute("DROP TABLE customers")
    table = build_features(con, as_of=datetime(2024, 2, 1))
    assert not any(c.startswith("attr_") for c in table.column_names)
    assert customer_countries(con).num_rows == 0


def test_customer_countries(con_with_customers):
    table = customer_countries(con_with_customers)
    assert table.to_pylist()[:2] == [
        {"customer_id": "A", "country": "UK"},
        {"customer_id": "B", "country": "FR"},
    ]
