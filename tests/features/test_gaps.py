"""Inter-purchase gaps from list sums (no window): checked against NumPy on random histories."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.features import build_features

from .conftest import _insert_transactions, create_tables

START = datetime(2023, 1, 1)
AS_OF = datetime(2025, 1, 1)

# per customer: purchase (day offset, hour) pairs, repeats and out-of-order days included
histories = st.lists(
    st.lists(st.tuples(st.integers(0, 700), st.integers(0, 23)), min_size=1, max_size=25),
    min_size=1,
    max_size=6,
)


def _expected(days: list[int]) -> tuple[float, float, int]:
    distinct = np.unique(days)
    gaps = np.diff(distinct).astype(float)
    mean = gaps.mean() if gaps.size else np.nan
    cv = gaps.std() / mean if gaps.size >= 2 and mean > 0 else np.nan
    return mean, cv, distinct.size


@settings(max_examples=60, deadline=None)
@given(histories)
def test_gap_mean_and_cv_match_numpy(customers):
    con = duckdb.connect()
    create_tables(con)
    rows = []
    for c, purchases in enumerate(customers):
        for k, (day, hour) in enumerate(purchases):
            ts = START + timedelta(days=day, hours=hour)
            rows.append(
                (
                    f"c{c}",
                    f"o{c}-{k}",
                    f"{ts:%Y-%m-%d %H:%M:%S}",
                    f"p{k % 3}",
                    None,
                    "Toys",
                    1,
                    10.0,
                    False,
                )
            )
    _insert_transactions(con, rows)
    out = build_features(con, as_of=AS_OF).to_pandas().set_index("customer_id")
    for c, purchases in enumerate(customers):
        mean, cv, _ = _expected([day for day, _ in purchases])
        row = out.loc[f"c{c}"]
        np.testing.assert_allclose(row["interpurchase_mean_days"], mean, rtol=1e-9)
        np.testing.assert_allclose(row["interpurchase_cv"], cv, rtol=1e-7, atol=1e-9)
        assert row["frequency"] == len(purchases)
        assert row["n_products"] == len({k % 3 for k in range(len(purchases))})
