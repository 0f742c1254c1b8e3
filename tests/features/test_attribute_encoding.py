"""How customer attributes are typed and encoded for clustering: hand-made hostile columns in a
real DuckDB table, and the weight of a categorical attribute computed by hand."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from segmint.features import attribute_features, attribute_groups, money_columns
from segmint.features.attributes import classify_attribute, is_outcome
from segmint.segment import FeatureScaler


def _customers(con, rows: list[dict]) -> None:
    con.executemany(
        "INSERT INTO customers VALUES (?, NULL, NULL, CAST(? AS JSON))",
        [(f"c{i:02d}", json.dumps(r)) for i, r in enumerate(rows)],
    )


@pytest.fixture
def encoded(con) -> pd.DataFrame:
    rows = []
    for i in range(20):
        rows.append(
            {
                # a CSV's numbers arrive as text, with a blank and a word among them
                "TotalCharges": " " if i == 0 else "n/a" if i == 1 else f"{10.5 * i}",
                "Member": "Yes" if i % 3 else "No",
                "plan": ["gold", "silver", "basic"][i % 3],
                "region": 1 + i % 3,  # codes, not amounts
                "senior": i % 2,  # 0/1
                "empty": None,
                "constant": "same",
                "email": f"user{i}@example.com",  # a different value on every row: an id
                "row_no": i + 1,  # consecutive whole numbers: an id
                "note": ["a", "b", "c", "d", "e", "f", "g"][i % 7],  # too many categories
            }
        )
    _customers(con, rows)
    table = attribute_features(con, max_levels=5).order_by("customer_id")
    return table.to_pyarrow().to_pandas().set_index("customer_id")


def test_columns_are_typed_from_their_values(encoded):
    assert sorted(encoded.columns) == [
        "attr_member",
        "attr_plan__basic",
        "attr_plan__gold",
        "attr_plan__silver",
        "attr_region__1",
        "attr_region__2",
        "attr_region__3",
        "attr_senior",
        "attr_total_charges",
    ]
    charges = encoded["attr_total_charges"]
    assert charges.iloc[:2].isna().all()  # the blank and the word are missing, not zero
    assert charges.iloc[2] == pytest.approx(21.0)
    assert encoded["attr_member"].tolist()[:4] == [0.0, 1.0, 1.0, 0.0]
    assert encoded["attr_senior"].tolist()[:3] == [0.0, 1.0, 0.0]
    # every customer is in exactly one category of each categorical attribute
    groups = attribute_groups(encoded.columns)
    for group in set(groups.values()):
        members = [c for c, g in groups.items() if g == group]
        assert (encoded[members].sum(axis=1) == 1).all()


def test_classify_hand_counted_cases():
    kind = classify_attribute(0, 0, 0, False, None, None, [])  # every value blank
    assert (kind.kind, kind.reason) == ("dropped", "empty")
    assert classify_attribute(10, 0, 1, False, None, None, ["x"]).reason == "constant"
    assert classify_attribute(10, 10, 2, True, 0, 1, ["0", "1"]).kind == "binary"
    assert classify_attribute(10, 0, 2, False, None, None, ["false", "true"]).kind == "binary"
    # two words that are not yes/no are a category, not a binary
    assert classify_attribute(10, 0, 2, False, None, None, ["Female", "Male"]).kind == (
        "categorical"
    )
    # numbers win when at least half the values are numbers
    assert classify_attribute(10, 5, 10, False, 0.5, 9.5, None).kind == "numeric"
    assert classify_attribute(10, 4, 10, False, 0.5, 9.5, None).reason.startswith("id-like")
    # whole numbers that are not consecutive are amounts, even when all distinct
    assert classify_attribute(10, 10, 10, True, 100, 9000, None).kind == "numeric"


def test_money_and_outcome_columns_by_name():
    columns = ["attr_tenure", "attr_monthly_charges", "attr_total_charges", "attr_plan__gold"]
    assert money_columns(columns) == ["attr_total_charges", "attr_monthly_charges"]
    assert money_columns(["attr_age", "attr_region__1"]) == []
    assert is_outcome("attr_churn") and is_outcome("attr_churn__yes")
    assert not is_outcome("attr_churning_score_model") and not is_outcome("attr_age")


def test_a_categorical_attribute_weighs_as_one_numeric_feature():
    """Simple matching: two customers in different categories are the same distance apart
    whichever the categories, and on average as far apart as on one standardised number."""
    rng = np.random.default_rng(0)
    n = 4000
    level = rng.choice(4, n, p=[0.55, 0.25, 0.15, 0.05])
    X = pd.DataFrame({f"attr_plan__{k}": (level == k).astype(float) for k in range(4)})
    X["attr_age"] = rng.normal(40, 10, n)
    groups = attribute_groups(X.columns)
    Z = FeatureScaler(groups=groups).fit_transform(X)
    plan, age = Z[:, :4], Z[:, 4]
    assert plan.var(axis=0).sum() == pytest.approx(1.0)
    assert age.var() == pytest.approx(1.0)
    p = np.bincount(level) / n
    # by hand: (x - p) / sqrt(1 - sum p^2), so two levels are 2 / (1 - sum p^2) apart, squared
    expected = 2 / (1 - np.sum(p**2))
    rows = {k: plan[np.flatnonzero(level == k)[0]] for k in range(4)}
    for a, b in combinations(range(4), 2):
        assert np.sum((rows[a] - rows[b]) ** 2) == pytest.approx(expected)
    # the mean squared distance between two random customers: 2 for both features
    i, j = rng.integers(0, n, (2, 20000))
    assert np.mean(np.sum((plan[i] - plan[j]) ** 2, axis=1)) == pytest.approx(2.0, rel=0.05)
    assert np.mean((age[i] - age[j]) ** 2) == pytest.approx(2.0, rel=0.05)
    # without groups, four standardised indicators weigh as four features
    plain = FeatureScaler().fit_transform(X)[:, :4]
    assert plain.var(axis=0).sum() == pytest.approx(4.0)
