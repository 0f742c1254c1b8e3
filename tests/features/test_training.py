"""training_frames, default_churn_horizon and default_cutoffs on hand-built data."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from segmint.errors import DataValidationError
from segmint.features import (
    build_features,
    default_churn_horizon,
    default_cutoffs,
    training_frames,
)

CUT = datetime(2024, 2, 1)

# customer, order, ts, product, description, category, quantity, unit price, is_return
ROWS = [
    # A: buys before the cut-off, then Books on 02-05 (day 4 of the horizon) and Toys on 02-20
    ("A", "a1", "2024-01-01 10:00:00", "P1", "toy", "Toys", 1, 5.0, False),
    ("A", "a2", "2024-01-21 10:00:00", "P1", "toy", "Toys", 1, 5.0, False),
    ("A", "a3", "2024-02-05 12:00:00", "P2", "novel", "Books", 1, 20.0, False),
    ("A", "a4", "2024-02-20 12:00:00", "P1", "toy", "Toys", 1, 5.0, False),
    # B: buys before; only a return in the horizon -> churned
    ("B", "b1", "2024-01-10 10:00:00", "P2", "novel", "Books", 1, 20.0, False),
    ("B", "b2", "2024-02-03 10:00:00", "P2", "novel", "Books", -1, 20.0, True),
    # C: buys before; next purchase exactly at cut-off + 30 days -> outside the horizon
    ("C", "c1", "2024-01-15 10:00:00", "P3", "spade", "Garden", 1, 12.0, False),
    ("C", "c2", "2024-03-02 00:00:00", "P3", "spade", "Garden", 1, 12.0, False),
    # D: first purchase inside the horizon -> not a row (no history at the cut-off)
    ("D", "d1", "2024-02-10 10:00:00", "P1", "toy", "Toys", 1, 5.0, False),
]


@pytest.fixture
def toy(con, insert_transactions):
    insert_transactions(con, ROWS)
    return con


def _by_customer(table):
    return {r["customer_id"]: r for r in table.to_pylist()}


def test_churn_labels(toy):
    out = training_frames(toy, cutoffs=[CUT], horizon_days=30, label="churn")
    rows = _by_customer(out)
    assert sorted(rows) == ["A", "B", "C"]
    assert {c: r["churn"] for c, r in rows.items()} == {"A": 0, "B": 1, "C": 1}
    assert out.column_names[:2] == ["cutoff", "customer_id"]
    assert all(r["cutoff"] == CUT for r in rows.values())


def test_features_ignore_the_future(toy):
    out = training_frames(toy, cutoffs=[CUT], horizon_days=30, label="churn")
    expected = _by_customer(build_features(toy, as_of=CUT))
    for cid, row in _by_customer(out).items():
        for name, value in expected[cid].items():
            assert row[name] == value, (cid, name)
    # adding later data does not change the frame's features
    toy.execute(
        "INSERT INTO transactions (customer_id, order_id, ts, product_id, category, quantity, "
        "amount, is_return) VALUES ('A', 'z', TIMESTAMP '2024-02-02', 'P9', 'Toys', 50, 500, false)"
    )
    again = training_frames(toy, cutoffs=[CUT], horizon_days=30, label="churn")
    assert again.drop_columns(["churn"]).equals(out.drop_columns(["churn"]))
    assert _by_customer(again)["A"]["churn"] == 0


def test_purchase_labels_censored_at_horizon(toy):
    rows = _by_customer(training_frames(toy, cutoffs=[CUT], horizon_days=30, label="purchase"))
    assert rows["A"]["purchase"] == 1
    assert rows["A"]["days_to_next"] == pytest.approx(4.5)  # 02-05 12:00
    assert rows["A"]["next_observed"] is True
    assert (rows["C"]["purchase"], rows["C"]["days_to_next"], rows["C"]["next_observed"]) == (
        0,
        30.0,
        False,
    )
    # net spend in the horizon, returns included: A 20 + 5; B only returned a 20 novel; C none
    assert {c: r["spend"] for c, r in rows.items()} == {"A": 25.0, "B": -20.0, "C": 0.0}


def test_category_labels(toy):
    out = training_frames(
        toy,
        cutoffs=[CUT],
        horizon_days=30,
        label="category",
        categories=["Toys", "Books", "Garden"],
    )
    rows = _by_customer(out)
    assert out.column_names[-3:] == ["buy_toys", "buy_books", "buy_garden"]
    assert [rows["A"][c] for c in ("buy_toys", "buy_books", "buy_garden")] == [1, 1, 0]
    assert [rows["B"][c] for c in ("buy_toys", "buy_books", "buy_garden")] == [0, 0, 0]


def test_default_categories_by_spend_before_latest_cutoff(toy):
    out = training_frames(toy, cutoffs=[CUT], horizon_days=30, label="category", n_top_categories=2)
    # spend before 02-01: Books 20, Garden 12, Toys 10
    assert out.column_names[-2:] == ["buy_books", "buy_garden"]


def test_several_cutoffs_stack(toy):
    out = training_frames(toy, cutoffs=["2024-02-15", CUT], horizon_days=14, label="churn")
    cut2 = datetime(2024, 2, 15)
    assert out["cutoff"].to_pylist() == [CUT] * 3 + [cut2] * 4
    second = {r["customer_id"]: r["churn"] for r in out.to_pylist() if r["cutoff"] == cut2}
    assert second == {"A": 0, "B": 1, "C": 1, "D": 1}


def test_active_within_days(toy):
    out = training_frames(toy, cutoffs=[CUT], horizon_days=30, active_within_days=14)
    assert sorted(out["customer_id"].to_pylist()) == ["A"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cutoffs": [CUT], "horizon_days": 30, "label": "ltv"}, "label must be one of"),
        ({"cutoffs": [CUT], "horizon_days": 0}, "horizon_days must be a positive"),
        ({"cutoffs": [], "horizon_days": 30}, "cutoffs is empty"),
        ({"cutoffs": [CUT, CUT], "horizon_days": 30}, "the same date twice"),
    ],
)
def test_errors(toy, kwargs, message):
    with pytest.raises(DataValidationError, match=message):
        training_frames(toy, **kwargs)


def test_default_churn_horizon(con, insert_transactions):
    # typical gaps: X 10 days, Y 20, Z median of (30, 50) = 40 -> 0.8 quantile = 36 -> 60
    start = datetime(2024, 1, 1, 10)
    rows = [
        (cid, f"{cid}{d}", str(start + timedelta(days=d)), "P", "p", "c", 1, 1.0, False)
        for cid, days in (("X", [0, 10, 20]), ("Y", [0, 20]), ("Z", [0, 30, 80]))
        for d in days
    ]
    insert_transactions(con, rows)
    assert default_churn_horizon(con) == 60
    assert default_churn_horizon(con, quantile=0.1) == 14


def test_default_churn_horizon_needs_repeat_buyers(con, insert_transactions):
    insert_transactions(con, [("A", "o", "2024-01-01 10:00:00", "P", "p", "c", 1, 1.0, False)])
    with pytest.raises(DataValidationError, match="no customer bought on two different days"):
        default_churn_horizon(con)


def test_default_cutoffs(toy):
    # last transaction 2024-03-02 -> end of data 2024-03-03
    assert default_cutoffs(toy, 10, n=2) == [datetime(2024, 2, 12), datetime(2024, 2, 22)]
    with pytest.raises(DataValidationError, match="do not fit in the data"):
        default_cutoffs(toy, 30, n=3)


def test_derived_categories_ignore_data_after_the_earliest_cutoff(con, insert_transactions):
    """Without categories in the data, the ones a training frame uses are learned before its
    cut-off: products first sold later (even many, with new words) change no frame."""
    rng = __import__("numpy").random.default_rng(0)
    kinds = {"mug": "COFFEE MUG", "bag": "LUNCH BAG", "card": "BIRTHDAY CARD", "lamp": "DESK LAMP"}
    noise = ["PINK", "RETRO", "STAR", "HEART", "SPOTTY"]
    products = [
        (f"{k}{i}", f"{text} {rng.choice(noise)}") for k, text in kinds.items() for i in range(8)
    ]
    rows = []
    for c in range(40):
        for day in rng.choice(120, 6, replace=False):
            pid, desc = products[rng.integers(len(products))]
            ts = f"{datetime(2024, 1, 1) + timedelta(days=int(day)):%Y-%m-%d} 10:00:00"
            rows.append((f"C{c}", f"o{c}-{day}", ts, pid, desc, None, 1, 5.0, False))
    insert_transactions(con, rows)
    cuts = [datetime(2024, 2, 1), datetime(2024, 3, 1)]

    def frames():
        return training_frames(
            con, cutoffs=cuts, horizon_days=28, label="category", n_top_categories=3
        ).to_pandas()

    before = frames()
    later = [
        (
            "Z",
            f"z{i}",
            "2024-06-01 10:00:00",
            f"new{i}",
            f"VELVET SOFA CUSHION {w}",
            None,
            1,
            9.0,
            False,
        )
        for i, w in enumerate(["BLUE", "GREY", "GOLD", "TEAL"] * 10)
    ]
    insert_transactions(con, later)
    after = frames()
    assert [c for c in before.columns if c.startswith("cat_share_")]  # categories were derived
    assert after.equals(before)
