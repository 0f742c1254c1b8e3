"""Tests of the synthetic data generator: schema, determinism, planted behaviour, files."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from segmint.datasets import (
    ARCHETYPES,
    CATEGORIES,
    TRANSACTIONS_SCHEMA,
    SyntheticData,
    generate,
    synthetic,
    write,
    write_stream,
)
from segmint.errors import DataValidationError
from segmint.schema import TRANSACTION_COLUMNS

ARROW_OF_SQL = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate(5000, seed=7)


@pytest.fixture(scope="module")
def tx(data) -> pd.DataFrame:
    return data.transactions.to_pandas()


@pytest.fixture(scope="module")
def features(data, tx) -> pd.DataFrame:
    """Per-customer RFM-style features of purchases, with the planted segment."""
    buy = tx[~tx["is_return"]]
    as_of = pd.Timestamp(data.as_of)
    g = buy.groupby("customer_id")
    f = pd.DataFrame(
        {
            "recency": (as_of - g["ts"].max()).dt.days,
            "tenure": (as_of - g["ts"].min()).dt.days,
            "orders": g["order_id"].nunique(),
            "lines": g.size(),
            "spend": g["amount"].sum(),
            "novdec": buy["ts"].dt.month.isin([11, 12]).groupby(buy["customer_id"]).mean(),
            "home": (buy["category"] == "home").groupby(buy["customer_id"]).mean(),
            "avg_price": g["unit_price"].mean(),
        }
    )
    f["aov"] = f["spend"] / f["orders"]
    returns = tx[tx["is_return"]].groupby("customer_id").size()
    f["return_rate"] = returns.reindex(f.index, fill_value=0) / f["lines"]
    labels = data.labels.to_pandas().set_index("customer_id")["segment"]
    f["segment"] = labels
    return f


# --- shape and types --------------------------------------------------------------------------


def test_transactions_schema_is_canonical_plus_country(data):
    expected = [(name, ARROW_OF_SQL[kind]) for name, kind in TRANSACTION_COLUMNS.items()]
    expected.append(("country", pa.string()))
    got = [(f.name, f.type) for f in data.transactions.schema]
    assert got == expected
    assert data.transactions.schema.equals(TRANSACTIONS_SCHEMA)


def test_customers_and_labels_tables(data):
    assert data.customers.column_names == ["customer_id", "country", "age", "signup_channel"]
    assert data.customers.schema.field("age").type == pa.int64()
    assert data.labels.column_names == ["customer_id", "segment"]
    assert data.customers.num_rows == data.labels.num_rows == 5000
    ids = data.customers["customer_id"].to_pylist()
    assert ids[0] == "C0000001"
    assert len(set(ids)) == 5000
    assert ids == data.labels["customer_id"].to_pylist()
    assert set(data.labels["segment"].to_pylist()) == set(ARCHETYPES)
    assert set(data.customers["signup_channel"].to_pylist()) <= {"web", "app", "store"}


def test_values_are_consistent(data, tx):
    assert data.as_of == datetime(2025, 1, 1)
    assert tx["ts"].min() >= pd.Timestamp("2023-01-01")
    assert tx["ts"].max() < pd.Timestamp(data.as_of)
    np.testing.assert_allclose(tx["amount"], tx["quantity"] * tx["unit_price"])
    assert (tx["unit_price"] > 0).all()
    assert set(tx["channel"]) <= {"web", "app", "store"}
    assert tx[["customer_id", "order_id", "ts", "product_id", "description"]].notna().all().all()
    assert tx["order_id"].str.fullmatch(r"[OR]\d{8}").all()
    assert tx["product_id"].str.fullmatch(r"[A-Z]{3}-\d{4}").all()
    # The country on each line is the customer's country.
    country = data.customers.to_pandas().set_index("customer_id")["country"]
    assert (tx["country"].to_numpy() == country.loc[tx["customer_id"]].to_numpy()).all()


def test_catalogue_families_and_descriptions(tx):
    assert len(CATEGORIES) == 10
    family = tx["product_id"].str[:3]
    # Each product id family maps to exactly one category, and vice versa.
    assert (tx.groupby(family)["category"].nunique() == 1).all()
    assert (tx.groupby("category")["product_id"].agg(lambda s: s.str[:3].nunique()) == 1).all()
    sizes = tx.drop_duplicates("product_id").groupby("category").size()
    assert sizes.between(5, 60).all()
    # A description names its product: one description per product id.
    assert (tx.groupby("product_id")["description"].nunique() == 1).all()
    xmas = tx.loc[tx["category"] == "christmas", "description"].str.lower()
    words = next(c for c in CATEGORIES if c.name == "christmas").words
    assert xmas.str.split().str[0].isin(words).all()


def test_rows_grouped_by_customer_in_time_order(tx):
    assert tx["customer_id"].is_monotonic_increasing
    assert (tx.groupby("customer_id")["ts"].diff().dropna() >= pd.Timedelta(0)).all()


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_same_data():
    a, b = generate(400, seed=3), generate(400, seed=3)
    assert a.transactions.equals(b.transactions)
    assert a.customers.equals(b.customers)
    assert a.labels.equals(b.labels)


def test_different_seed_different_data():
    a, b = generate(400, seed=3), generate(400, seed=4)
    assert not a.transactions.equals(b.transactions)
    assert not a.labels.equals(b.labels)


# --- customers, orders and returns --------------------------------------------------------------


def test_every_customer_buys(data, tx):
    buyers = set(tx.loc[~tx["is_return"], "customer_id"])
    assert buyers == set(data.labels["customer_id"].to_pylist())


def test_returns_are_negative_and_reference_a_purchase(tx):
    ret = tx[tx["is_return"]]
    buy = tx[~tx["is_return"]]
    assert len(ret) > 0.01 * len(tx)
    assert (ret["amount"] < 0).all() and (ret["quantity"] < 0).all()
    assert (buy["amount"] > 0).all() and (buy["quantity"] > 0).all()
    assert ret["order_id"].str.startswith("R").all()
    assert buy["order_id"].str.startswith("O").all()
    # A return line refers to a product of the customer's original order (same number, "O"),
    # comes later, and never returns more than was bought.
    key = ["customer_id", "order_id", "product_id"]
    bought = buy.groupby(key).agg(bought=("quantity", "sum"), bought_at=("ts", "first"))
    back = (
        ret.assign(order_id="O" + ret["order_id"].str[1:])
        .groupby(key)
        .agg(returned=("quantity", "sum"), returned_at=("ts", "first"))
    )
    merged = back.join(bought, how="left")
    assert merged["bought"].notna().all()
    assert (merged["returned_at"] > merged["bought_at"]).all()
    assert (-merged["returned"] <= merged["bought"]).all()


def test_scale_about_twenty_lines_per_customer(data):
    per_customer = data.transactions.num_rows / data.labels.num_rows
    assert 15 <= per_customer <= 25


def test_fourth_quarter_is_busier(tx):
    buy = tx[~tx["is_return"]]
    month = buy["ts"].dt.month
    assert month.isin([10, 11, 12]).mean() > 0.3  # a quarter of the months


def test_segment_sizes_follow_weights(data):
    counts = data.labels.to_pandas()["segment"].value_counts()
    for name, archetype in ARCHETYPES.items():
        assert abs(counts[name] - archetype.weight * 5000) <= 1


# --- planted behaviour ------------------------------------------------------------------------


def test_archetype_behaviour(features):
    med = features.groupby("segment").median()
    assert med.loc["Lapsed big spenders", "recency"] > 240
    assert features.loc[features["segment"] == "Lapsed big spenders", "recency"].min() >= 240
    assert features.loc[features["segment"] == "New customers", "tenure"].max() < 60
    assert features.loc[features["segment"] == "New customers", "orders"].max() <= 3
    assert med.loc["Champions", "recency"] < 30
    assert med.loc["Champions", "orders"] >= 15
    assert med["aov"].idxmax() in {"Champions", "Lapsed big spenders"}
    assert med.loc["Champions", "aov"] > 2 * med.loc["Bargain hunters", "aov"]
    assert med["avg_price"].idxmin() == "Bargain hunters"
    gift = features[features["segment"] == "Seasonal gift buyers"]
    assert gift["novdec"].mean() > 0.8
    assert gift["tenure"].median() > 180
    home = features[features["segment"] == "Occasional home shoppers"]
    assert home["home"].median() > 0.5
    assert 2 <= home["orders"].median() <= 10


def test_bargain_hunters_return_most(features):
    rate = features.groupby("segment")["return_rate"].mean()
    assert rate.idxmax() == "Bargain hunters"
    assert rate["Bargain hunters"] > 0.15
    assert rate.drop("Bargain hunters").max() < 0.08


def test_planted_segments_are_separable(features):
    # Not the product's clustering, just evidence that the archetypes separate on RFM-style
    # features: plain k-means on standardised features already recovers them well.
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    x = np.column_stack(
        [
            np.log1p(features["recency"]),
            np.log1p(features["tenure"]),
            np.log(features["orders"]),
            np.log(features["aov"]),
            np.log(features["avg_price"]),
            features["return_rate"],
            features["novdec"],
            features["home"],
        ]
    )
    labels = KMeans(6, n_init=3, random_state=0).fit_predict(StandardScaler().fit_transform(x))
    assert adjusted_rand_score(features["segment"], labels) > 0.9


# --- options ----------------------------------------------------------------------------------


def test_without_categories_the_column_is_null():
    data = generate(300, seed=1, with_categories=False)
    category = data.transactions["category"]
    assert category.type == pa.string()
    assert category.null_count == data.transactions.num_rows
    with_cats = generate(300, seed=1)
    # Everything else is the same data.
    assert data.transactions.drop_columns(["category"]).equals(
        with_cats.transactions.drop_columns(["category"])
    )


def test_archetype_weights_select_segments():
    data = generate(300, seed=1, archetype_weights={"Champions": 1.0, "New customers": 1.0})
    counts = data.labels.to_pandas()["segment"].value_counts()
    assert counts.to_dict() == {"Champions": 150, "New customers": 150}


def test_other_period():
    data = generate(300, seed=2, start="2021-07-01", end="2024-03-01")
    assert data.as_of == datetime(2024, 3, 1)
    ts = data.transactions["ts"].to_pandas()
    assert ts.min() >= pd.Timestamp("2021-07-01") and ts.max() < pd.Timestamp("2024-03-01")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_customers": 0}, "at least 1"),
        ({"n_customers": 2.5}, "must be an integer"),
        ({"start": "2024-01-01", "end": "2025-01-01"}, "at least 730"),
        ({"start": "yesterday"}, "ISO date"),
        ({"start": datetime(2023, 1, 1, 12)}, "midnight"),
        ({"archetype_weights": {"Whales": 1.0}}, "unknown archetype"),
        ({"archetype_weights": {"Champions": 0.0}}, "not all zero"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(DataValidationError, match=match):
        generate(**{"n_customers": 10, **kwargs})


# --- writing ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> SyntheticData:
    return generate(200, seed=5, with_categories=False)


def test_write_parquet_round_trip(small, tmp_path):
    paths = write(small, tmp_path / "out")
    assert set(paths) == {"transactions", "customers", "labels"}
    assert paths["transactions"] == tmp_path / "out" / "transactions.parquet"
    for name, path in paths.items():
        assert pq.read_table(path).equals(getattr(small, name))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "customers.parquet",
        "labels.parquet",
        "transactions.parquet",
    ]


def test_write_csv_round_trip(small, tmp_path):
    paths = write(small, tmp_path, fmt="csv")
    for name, path in paths.items():
        expected = getattr(small, name)
        options = pacsv.ConvertOptions(column_types=expected.schema, strings_can_be_null=True)
        assert pacsv.read_csv(path, convert_options=options).equals(expected)


def test_write_rejects_unknown_format(small, tmp_path):
    with pytest.raises(DataValidationError, match="unknown format"):
        write(small, tmp_path, fmt="xlsx")


def test_write_failure_leaves_nothing(small, tmp_path, monkeypatch):
    write(small, tmp_path)
    before = (tmp_path / "transactions.parquet").read_bytes()

    def broken(table, where, **kwargs):
        with open(where, "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write(generate(50, seed=9), tmp_path)
    assert (tmp_path / "transactions.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "customers.parquet",
        "labels.parquet",
        "transactions.parquet",
    ]


# --- streaming --------------------------------------------------------------------------------


@pytest.fixture
def blocks_of_1000(monkeypatch):
    """Simulation blocks of 1,000 customers, so small data sets span several blocks.

    The block size is part of the seeding (one child seed per block), so it changes the data;
    a comparison patches it on both sides.
    """
    monkeypatch.setattr(synthetic, "_CHUNK", 1000)


def read_back(paths: dict) -> dict[str, pa.Table]:
    return {name: pq.read_table(path) for name, path in paths.items()}


def assert_same_data(paths: dict, data: SyntheticData) -> None:
    tables = read_back(paths)
    for name in ("transactions", "customers", "labels"):
        assert tables[name].schema.equals(getattr(data, name).schema)
        assert tables[name].equals(getattr(data, name)), name


def test_write_stream_is_generate(tmp_path):
    paths = write_stream(3000, tmp_path, seed=11)
    assert paths == {
        name: tmp_path / f"{name}.parquet" for name in ("transactions", "customers", "labels")
    }
    assert_same_data(paths, generate(3000, seed=11))


@pytest.mark.parametrize("row_group_size", [500, 2000, 10**7])
def test_write_stream_same_data_for_any_row_groups(tmp_path, blocks_of_1000, row_group_size):
    # Blocks of 1,000 customers (about 20,000 lines) cut by row groups of 500 and 2,000 lines,
    # or not at all.
    paths = write_stream(3000, tmp_path, seed=11, row_group_size=row_group_size)
    assert_same_data(paths, generate(3000, seed=11))
    # One row group per block at least; more when the row group size cuts the blocks.
    layout = pq.read_metadata(paths["customers"])
    assert layout.num_row_groups == 3 * -(-1000 // row_group_size)


def test_write_stream_passes_the_options(tmp_path, blocks_of_1000):
    options = {
        "seed": 4,
        "start": "2021-07-01",
        "end": "2024-03-01",
        "with_categories": False,
        "archetype_weights": {"Champions": 1.0, "Bargain hunters": 3.0},
    }
    assert_same_data(write_stream(2500, tmp_path, **options), generate(2500, **options))


def test_write_stream_holds_one_block_at_a_time(tmp_path, monkeypatch):
    # Arrow memory in use when each block starts being simulated: the earlier blocks must be
    # gone (written and released), not held until the end as `generate` holds them.
    monkeypatch.setattr(synthetic, "_CHUNK", 2000)
    in_use, block_bytes = [], []

    def simulate_chunk(*args, **kwargs):
        in_use.append(pa.total_allocated_bytes())
        batch, n_orders = real(*args, **kwargs)
        block_bytes.append(batch.nbytes)
        return batch, n_orders

    real = synthetic.simulate_chunk
    monkeypatch.setattr(synthetic, "simulate_chunk", simulate_chunk)
    write_stream(10_000, tmp_path, seed=2)
    assert len(in_use) == 5
    assert max(in_use) - in_use[0] < min(block_bytes) / 2


def test_write_stream_rejects_arguments_before_writing(tmp_path):
    with pytest.raises(DataValidationError, match="at least 1"):
        write_stream(0, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_write_stream_failure_midway_leaves_files_as_they_were(
    tmp_path, blocks_of_1000, monkeypatch
):
    write_stream(1500, tmp_path / "old", seed=1)
    before = {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()}
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first block is written, the second fails
            raise OSError("disk full")
        return real(*args, **kwargs)

    real = synthetic.simulate_chunk
    monkeypatch.setattr(synthetic, "simulate_chunk", failing)
    for target in (tmp_path / "old", tmp_path / "new"):
        calls.clear()
        with pytest.raises(OSError, match="disk full"):
            write_stream(3000, target, seed=2)
    assert {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()} == before
    assert list((tmp_path / "new").iterdir()) == []


def test_write_stream_unwritable_target_leaves_nothing(tmp_path):
    # The transactions cannot replace a directory: the other files are not put in place
    # either, and no temporary file is left.
    (tmp_path / "transactions.parquet").mkdir()
    with pytest.raises(OSError):
        write_stream(300, tmp_path, seed=1)
    assert [p.name for p in tmp_path.iterdir()] == ["transactions.parquet"]
    assert list((tmp_path / "transactions.parquet").iterdir()) == []
