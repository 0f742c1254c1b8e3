"""Live profiles equal the batch features: half the data in bulk, the other half as events."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segmint.datasets import generate
from segmint.features import build_features
from segmint.pipeline import N_TOP_CATEGORIES, clustering_columns
from segmint.realtime import ProfileStore, category_columns, profiles_from_workspace
from segmint.schema import TRANSACTION_COLUMNS
from segmint.segment import Segmenter, segmenter_from_dict, segmenter_to_dict

COLUMNS = list(TRANSACTION_COLUMNS)


def _db(table: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    cols = ", ".join(f"{c} {t}" for c, t in TRANSACTION_COLUMNS.items())
    con.execute(f"CREATE TABLE transactions ({cols})")
    con.register("_src", table.select(COLUMNS))
    con.execute("INSERT INTO transactions SELECT * FROM _src")
    con.unregister("_src")
    return con


@pytest.fixture(scope="module")
def data():
    return generate(2000, seed=7)


@pytest.fixture(scope="module")
def batch(data):
    con = _db(data.transactions)
    features = build_features(con, as_of=data.as_of, n_top_categories=N_TOP_CATEGORIES)
    con.close()
    return features.to_pandas().set_index("customer_id")


def _apply(store: ProfileStore, frame: pd.DataFrame, chunk: int) -> None:
    for lo in range(0, len(frame), chunk):
        part = frame.iloc[lo : lo + chunk]
        store.apply_purchases(
            part["customer_id"].to_numpy(object),
            part["order_id"].to_numpy(object),
            part["ts"].to_numpy(),
            part["product_id"].to_numpy(object),
            part["category"].to_numpy(object),
            part["quantity"].to_numpy(),
            part["amount"].to_numpy(),
            part["is_return"].to_numpy(object),
        )


@pytest.mark.parametrize("split", ["time", "random"])
def test_bulk_plus_events_equals_batch(data, batch, split):
    lines = data.transactions.select(COLUMNS).to_pandas()
    if split == "time":  # the usual case: history in bulk, the recent half live, in order
        cut = lines["ts"].sort_values().iloc[len(lines) // 2]
        bulk_mask = (lines["ts"] < cut).to_numpy()
        live = lines[~bulk_mask].sort_values("ts", kind="stable")
    else:  # lines of orders and days arriving late and out of order, in random batches
        bulk_mask = np.random.default_rng(0).random(len(lines)) < 0.5
        live = lines[~bulk_mask].sample(frac=1.0, random_state=1)
    con = _db(pa.Table.from_pandas(lines[bulk_mask], preserve_index=False))
    store = profiles_from_workspace(con, as_of=data.as_of, n_top_categories=N_TOP_CATEGORIES)
    con.close()
    _apply(store, live, chunk=997)

    live_features = store.features(batch.index, data.as_of, columns=list(batch.columns))
    clustered = clustering_columns(list(batch.columns))
    pd.testing.assert_frame_equal(
        live_features[clustered],
        batch[clustered].astype("float64"),
        check_exact=False,
        rtol=1e-9,
        atol=1e-9,
    )
    # the batch counts distinct products with HyperLogLog (approx_nunique); live is exact
    np.testing.assert_allclose(live_features["n_products"], batch["n_products"], rtol=0.1, atol=2)
    # the default columns are the batch ones (same top categories)
    assert list(store.features(batch.index[:3], data.as_of).columns) == list(batch.columns)


def test_live_assignment_equals_batch(data, batch):
    columns = clustering_columns(list(batch.columns))
    model = Segmenter(
        method="kmeans", k_range=(3, 6), n_stability_resamples=0, n_init=2, micro_segments=True
    ).fit(batch[columns])
    live_model = segmenter_from_dict(json.loads(json.dumps(segmenter_to_dict(model))))

    lines = data.transactions.select(COLUMNS).to_pandas()
    cut = datetime(2024, 6, 1)
    con = _db(pa.Table.from_pandas(lines[lines["ts"] < cut], preserve_index=False))
    store = profiles_from_workspace(con, as_of=data.as_of)
    con.close()
    _apply(store, lines[lines["ts"] >= cut].sort_values("ts"), chunk=5000)
    X = store.features(batch.index, data.as_of, columns=live_model.feature_names)
    np.testing.assert_array_equal(live_model.predict(X), model.labels_)
    np.testing.assert_array_equal(live_model.predict_micro(X), model.micro_labels_)
    np.testing.assert_allclose(live_model.confidence(X), model.confidence_, rtol=1e-9)


def test_small_cases_by_hand():
    store = ProfileStore(trend_window_days=10)
    t0 = datetime(2024, 1, 1, 10)
    day = timedelta(days=1)
    touched = store.apply_purchases(
        ["A", "A", "A", "B"],
        ["o1", "o1", "o2", "o3"],
        [t0, t0, t0 + 10 * day, t0],
        ["P1", "P2", "P1", None],
        ["Toys", "Books", "Toys", None],
        [2, 1, 1, 3],
        [10.0, 20.0, 5.0, 6.0],
        [False, False, False, None],
    )
    assert touched.tolist() == [0, 1]
    # same order again (a resent line of o2 joins its order) and a return (negative amount)
    store.apply_purchases(
        ["A", "A"],
        ["o2", "r1"],
        [t0 + 10 * day, t0 + 11 * day],
        ["P3", "P1"],
        ["Garden", "Toys"],
        [1, -1],
        [4.0, -5.0],
        None,
    )
    # a late order on a day between the others
    store.apply_purchases(["A"], ["o0"], [t0 + 4 * day], ["P1"], ["Toys"], [1], [1.0])
    as_of = datetime(2024, 1, 16)
    f = store.features(["A", "B"], as_of)
    a = f.loc["A"]
    assert a["frequency"] == 3
    assert a["monetary"] == pytest.approx(40.0 - 5.0)
    assert a["avg_order_value"] == pytest.approx(40.0 / 3)
    assert a["interpurchase_mean_days"] == pytest.approx(5.0)  # days 0, 4, 10
    assert a["interpurchase_cv"] == pytest.approx(1.0 / 5.0)  # gaps 4 and 6
    assert a["return_rate"] == pytest.approx(5.0 / 40.0)
    assert a["basket_size"] == pytest.approx(6 / 3)
    assert a["n_products"] == 3  # P1/Toys, P2/Books, P3/Garden (P1 again is not new)
    assert a["n_categories"] == 3
    assert a["top_category_share"] == pytest.approx(20.0 / 40.0)  # Books
    assert a["cat_share_toys"] == pytest.approx(16.0 / 40.0)
    assert a["recency_days"] == pytest.approx(4 + 14 / 24)
    assert a["spend_trend"] == pytest.approx(np.log((1 + 9.0) / (1 + 31.0)))
    b = f.loc["B"]
    assert b["frequency"] == 1 and np.isnan(b["top_category_share"])
    assert np.isnan(b["interpurchase_mean_days"]) and b["n_products"] == 0

    store.apply_events(
        ["A", "C", "A"], ["page_view", "chat_message", "page_view"], [as_of, as_of, as_of]
    )
    profile = store.profile("A", as_of)
    assert profile["events"] == {"page_view": 2, "chat_message": 0}
    assert profile["features"]["frequency"] == 3
    assert profile["last_purchase_at"] == "2024-01-11T10:00:00"
    c = store.features(["C"], as_of).loc["C"]
    assert c["frequency"] == 0 and np.isnan(c["monetary"])
    with pytest.raises(KeyError):
        store.features(["nobody"], as_of)
    assert "C" in store and len(store) == 3


def test_from_workspace_events_and_unknown_shares(data):
    lines = data.transactions.select(COLUMNS).to_pandas()
    con = _db(pa.Table.from_pandas(lines.iloc[:3000], preserve_index=False))
    con.execute(
        "CREATE TABLE events (event_id VARCHAR, customer_id VARCHAR, ts TIMESTAMP, "
        "source VARCHAR, type VARCHAR, properties JSON)"
    )
    con.execute(
        "INSERT INTO events VALUES ('e1', 'C0000001', '2023-02-01', 'web', 'page_view', "
        "NULL), ('e2', 'Z9', '2023-02-02', 'app', 'app_view', NULL)"
    )
    store = profiles_from_workspace(con)
    assert store.as_of == datetime.combine(
        lines.iloc[:3000]["ts"].max().date(), datetime.min.time()
    ) + timedelta(days=1)
    counts = store.event_counts(["C0000001", "Z9"])
    assert counts.loc["C0000001", "page_view"] == 1 and counts.loc["Z9", "app_view"] == 1
    f = store.features(["C0000001"], store.as_of, columns=["frequency", "cat_share_never_sold"])
    assert f.loc["C0000001", "cat_share_never_sold"] == 0.0
    assert set(category_columns(["A b", "a-b"])) == {"cat_share_a_b", "cat_share_a_b_2"}


def test_derived_categories_follow_the_batch():
    """Without categories the store maps products as the batch does (derived categories)."""
    data = generate(300, seed=3, with_categories=False)
    con = _db(data.transactions)
    batch = build_features(con, as_of=data.as_of).to_pandas().set_index("customer_id")
    store = profiles_from_workspace(con, as_of=data.as_of)
    con.close()
    assert store.category_map
    live = store.features(batch.index, data.as_of, columns=list(batch.columns))
    clustered = clustering_columns(list(batch.columns))
    pd.testing.assert_frame_equal(
        live[clustered], batch[clustered].astype("float64"), check_exact=False, rtol=1e-9
    )
