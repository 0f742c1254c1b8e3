"""rfm_summary on hand-built toy data (worked out by hand) and on the CDNOW sample."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from segmint.errors import DataValidationError
from segmint.features import rfm_summary

# customer, order, ts, product, description, category, quantity, unit price, is_return
ROWS = [
    # A: first day 2024-01-01 (two orders, merged), repeat on 01-15 and 01-29, return on 01-20,
    # holdout purchase on 02-12, one after the holdout.
    ("A", "a1", "2024-01-01 09:00:00", "P1", "x", "T", 1, 10.0, False),
    ("A", "a2", "2024-01-01 17:00:00", "P1", "x", "T", 1, 5.0, False),
    ("A", "a3", "2024-01-15 12:00:00", "P1", "x", "T", 2, 10.0, False),
    ("A", "r1", "2024-01-20 12:00:00", "P1", "x", "T", -1, 10.0, True),
    ("A", "a4", "2024-01-29 08:00:00", "P1", "x", "T", 4, 10.0, False),
    ("A", "a5", "2024-02-12 08:00:00", "P1", "x", "T", 3, 10.0, False),
    ("A", "a6", "2024-03-30 08:00:00", "P1", "x", "T", 3, 10.0, False),
    # B: a single purchase on 2024-01-22 -> frequency 0.
    ("B", "b1", "2024-01-22 10:00:00", "P2", "y", "U", 1, 7.0, False),
    # C: only returns -> no row; D: first purchase after calibration -> no row.
    ("C", "c1", "2024-01-10 10:00:00", "P2", "y", "U", -1, 7.0, True),
    ("D", "d1", "2024-02-02 10:00:00", "P2", "y", "U", 1, 7.0, False),
]
CAL_END = datetime(2024, 1, 29)
HOLD_END = datetime(2024, 2, 26)


@pytest.fixture
def toy(con, insert_transactions):
    insert_transactions(con, ROWS)
    return con


def _rows(table):
    return {r["customer_id"]: r for r in table.to_pylist()}


def test_toy_calibration_weeks(toy):
    out = rfm_summary(toy, calibration_end=CAL_END)
    assert out.column_names == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    rows = _rows(out)
    assert sorted(rows) == ["A", "B"]
    # A: days 01-01, 01-15, 01-29 -> 2 repeats; recency 28 days = 4 weeks; T = 4 weeks;
    # repeat values 20 and 40; the return of 10 on 01-20 nets the 01-15 purchase to 10 ->
    # mean 25 (the return is no transaction).
    assert rows["A"] == {
        "customer_id": "A",
        "frequency": 2,
        "recency": 4.0,
        "T": 4.0,
        "monetary_value": 25.0,
    }
    assert rows["B"] == {
        "customer_id": "B",
        "frequency": 0,
        "recency": 0.0,
        "T": 1.0,
        "monetary_value": 0.0,
    }


def test_toy_holdout_and_days(toy):
    rows = _rows(rfm_summary(toy, calibration_end=CAL_END, holdout_end=HOLD_END, time_unit="D"))
    a = rows["A"]
    assert (a["frequency"], a["recency"], a["T"]) == (2, 28.0, 28.0)
    assert (a["frequency_holdout"], a["monetary_holdout"], a["duration_holdout"]) == (1, 30.0, 28.0)
    assert (rows["B"]["frequency_holdout"], rows["B"]["monetary_holdout"]) == (0, 0.0)


def test_months_unit(toy):
    rows = _rows(rfm_summary(toy, calibration_end=CAL_END, time_unit="M"))
    assert rows["A"]["T"] == pytest.approx(28 / (365.2425 / 12))


def test_without_merging_orders_count(toy):
    # a1 and a2 are two transactions now; times are the orders' own timestamps
    rows = _rows(
        rfm_summary(
            toy, calibration_end=datetime(2024, 1, 29, 12), merge_same_day=False, time_unit="D"
        )
    )
    a = rows["A"]
    assert a["frequency"] == 3
    assert a["recency"] == pytest.approx(28 - 1 / 24)  # 01-01 09:00 -> 01-29 08:00
    assert a["monetary_value"] == pytest.approx((5 + 10 + 40) / 3)  # a3 net of r1


def test_calibration_end_is_inclusive_by_day(toy):
    # with merging, a purchase at 08:00 on the calibration day counts
    assert _rows(rfm_summary(toy, calibration_end="2024-01-29"))["A"]["frequency"] == 2
    assert _rows(rfm_summary(toy, calibration_end="2024-01-28"))["A"]["frequency"] == 1


def test_observation_start_keeps_a_cohort(toy):
    rows = _rows(rfm_summary(toy, calibration_end=CAL_END, observation_start="2024-01-10"))
    assert sorted(rows) == ["B"]


def test_null_is_return_uses_the_amount_sign(con):
    con.execute(
        "INSERT INTO transactions (customer_id, order_id, ts, amount, is_return) VALUES "
        "('A', 'o1', TIMESTAMP '2024-01-01', 10.0, NULL), "
        "('A', 'o2', TIMESTAMP '2024-01-08', -4.0, NULL), "
        "('A', 'o3', TIMESTAMP '2024-01-15', 6.0, NULL)"
    )
    row = rfm_summary(con, calibration_end="2024-01-15").to_pylist()[0]
    assert (row["frequency"], row["recency"], row["monetary_value"]) == (1, 2.0, 6.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calibration_end": CAL_END, "time_unit": "Y"}, "time_unit must be one of W, D, M"),
        ({"calibration_end": CAL_END, "holdout_end": CAL_END}, "must be after calibration_end"),
        ({"calibration_end": "not a date"}, "calibration_end must be an ISO date"),
        ({"calibration_end": "2023-01-01"}, "no customer made a purchase on or before"),
        (
            {"calibration_end": CAL_END, "observation_start": "2024-02-01"},
            "must not be after calibration_end",
        ),
    ],
)
def test_errors(toy, kwargs, message):
    with pytest.raises(DataValidationError, match=message):
        rfm_summary(toy, **kwargs)


def test_missing_table():
    import duckdb

    with pytest.raises(DataValidationError, match="no transactions table"):
        rfm_summary(duckdb.connect(), calibration_end=CAL_END)


@pytest.fixture(scope="module")
def cdnow(cdnow_sample):
    import duckdb

    from segmint.datasets.cdnow import load_cdnow
    from segmint.schema import TRANSACTION_COLUMNS

    df = load_cdnow(cdnow_sample)
    con = duckdb.connect()
    cols = ", ".join(f"{c} {t}" for c, t in TRANSACTION_COLUMNS.items())
    con.execute(f"CREATE TABLE transactions ({cols})")
    con.register("cdnow_lines", df)
    con.execute(
        "INSERT INTO transactions (customer_id, order_id, ts, quantity, amount, is_return) "
        "SELECT customer_id, customer_id || '-' || CAST(row_number() OVER () AS VARCHAR), "
        "date, quantity, amount, false FROM cdnow_lines"
    )
    yield con, df
    con.close()


def test_cdnow_published_summary(cdnow):
    from segmint.datasets.cdnow import cdnow_rfm_summary

    con, df = cdnow
    out = rfm_summary(con, calibration_end="1997-09-30", holdout_end="1998-06-30").to_pandas()
    # Fader, Hardie & Lee (2005): 2,357 customers, 946 repeat buyers, 2,457 calibration
    # repeat purchases, 4,339 repeat purchases by week 78
    assert len(out) == 2357
    assert int((out["frequency"] > 0).sum()) == 946
    assert int(out["frequency"].sum()) == 2457
    assert int(out["frequency"].sum() + out["frequency_holdout"].sum()) == 4339
    assert out["duration_holdout"].iloc[0] == pytest.approx(39.0)
    ref = cdnow_rfm_summary(df)
    assert out["customer_id"].tolist() == ref["customer_id"].tolist()
    for col in ("frequency", "recency", "T", "monetary_value", "frequency_holdout"):
        np.testing.assert_allclose(
            out[col].to_numpy(), ref[col].to_numpy(), rtol=1e-12, atol=1e-9, err_msg=col
        )


def test_wholly_returned_purchase_is_no_repeat_and_zero_value_is_no_spend(con, insert_transactions):
    insert_transactions(
        con,
        [
            # E: 5.0 on day 1; 1,000 on day 8, all returned the same day; 6.0 on day 15
            ("E", "e1", "2024-01-01 09:00:00", "P1", "x", "T", 1, 5.0, False),
            ("E", "e2", "2024-01-08 09:00:00", "P1", "x", "T", 100, 10.0, False),
            ("E", "e3", "2024-01-08 11:00:00", "P1", "x", "T", -100, 10.0, True),
            ("E", "e4", "2024-01-15 09:00:00", "P1", "x", "T", 1, 6.0, False),
            # F: a zero-value repeat (a visit, no spend) and a 4.0 repeat
            ("F", "f1", "2024-01-01 09:00:00", "P1", "x", "T", 1, 3.0, False),
            ("F", "f2", "2024-01-08 09:00:00", "P1", "x", "T", 1, 0.0, False),
            ("F", "f3", "2024-01-15 09:00:00", "P1", "x", "T", 1, 4.0, False),
            # G: the return after the calibration end does not net the calibration purchase
            ("G", "g1", "2024-01-01 09:00:00", "P1", "x", "T", 1, 3.0, False),
            ("G", "g2", "2024-01-22 09:00:00", "P1", "x", "T", 1, 9.0, False),
            ("G", "g3", "2024-02-05 09:00:00", "P1", "x", "T", -1, 9.0, True),
        ],
    )
    rows = _rows(rfm_summary(con, calibration_end=CAL_END, holdout_end=HOLD_END))
    assert (rows["E"]["frequency"], rows["E"]["monetary_value"]) == (1, 6.0)
    assert (rows["F"]["frequency"], rows["F"]["monetary_value"]) == (2, 4.0)
    assert (rows["G"]["frequency"], rows["G"]["monetary_value"]) == (1, 9.0)


def test_a_purchase_returned_up_to_rounding_is_no_transaction(con, insert_transactions):
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point, not 0: the repeat is wholly returned
    insert_transactions(
        con,
        [
            ("H", "h1", "2024-01-01 09:00:00", "P1", "x", "T", 1, 5.0, False),
            ("H", "h2", "2024-01-08 09:00:00", "P1", "x", "T", 1, 0.1, False),
            ("H", "h2", "2024-01-08 09:00:00", "P2", "x", "T", 1, 0.2, False),
            ("H", "h3", "2024-01-09 09:00:00", "P1", "x", "T", -1, 0.3, True),
        ],
    )
    row = rfm_summary(con, calibration_end=CAL_END, merge_same_day=False).to_pylist()[0]
    assert (row["frequency"], row["monetary_value"]) == (0, 0.0)
