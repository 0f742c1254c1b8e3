"""The same features on DuckDB and on Spark, from the same Parquet files.

Every column equal to 1e-9 relative (counts exactly), the same customers in the same order and
the same columns. Order and product ids are hashed differently on the two engines (DuckDB's
``hash``, Spark's ``xxhash64``); only counts are derived from the hashes, and they agree
barring a collision.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.engine import read_tables
from segmint.features import build_features
from segmint.io.layout import resolve_layout
from segmint.schema import get_preset
from segmint.store.workspace import Workspace


def _assert_same(duck: pa.Table, spark: pa.Table) -> None:
    assert spark.column_names == duck.column_names
    assert spark.schema == duck.schema
    assert spark.column("customer_id").equals(duck.column("customer_id"))
    for name in duck.column_names:
        left, right = duck.column(name), spark.column(name)
        if pa.types.is_floating(left.type):
            assert right.null_count == left.null_count, name
            # sums run in another order on each engine: equal to rounding
            np.testing.assert_allclose(
                right.to_numpy(zero_copy_only=False),
                left.to_numpy(zero_copy_only=False),
                rtol=1e-9,
                atol=1e-12,
                err_msg=name,
            )
        else:
            assert right.equals(left), name


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The generator's data as Parquet, ingested into a DuckDB workspace too."""
    root = tmp_path_factory.mktemp("parity")
    paths = write(generate(2000, seed=7), root / "data")
    workspace = Workspace(root / "ws")
    pipeline.ingest(workspace, paths["transactions"], customers=paths["customers"])
    return paths, workspace


@pytest.mark.parametrize("as_of", [None, datetime(2024, 6, 1)], ids=["default", "cut-off"])
def test_features_are_the_same_on_duckdb_and_spark(spark, files, as_of):
    paths, workspace = files
    with workspace.connect(read_only=True) as con:
        duck = build_features(con, as_of=as_of)
    engine = read_tables(spark, paths["transactions"], customers=paths["customers"])
    on_spark = build_features(engine, as_of=as_of)
    # the cut-off is inside the data, and the features cover categories and attributes
    assert 0 < on_spark.num_rows <= 2000
    assert any(c.startswith("cat_share_") for c in duck.column_names)
    assert any(c.startswith("attr_") for c in duck.column_names)
    _assert_same(duck, on_spark)


def test_derived_categories_are_the_same_on_duckdb_and_spark(spark, files, tmp_path):
    # without categories, both engines derive them from the same product descriptions
    paths, _ = files
    lines = pq.read_table(paths["transactions"])
    bare = lines.set_column(
        lines.schema.get_field_index("category"),
        "category",
        pa.nulls(lines.num_rows, pa.string()),
    )
    path = tmp_path / "bare.parquet"
    pq.write_table(bare, path)
    workspace = Workspace(tmp_path / "ws")
    pipeline.ingest(workspace, path)
    with workspace.connect(read_only=True) as con:
        duck = build_features(con)
    on_spark = build_features(read_tables(spark, str(tmp_path / "*.parquet")))
    assert pc.sum(duck.column("n_categories")).as_py() > 0
    _assert_same(duck, on_spark)


@pytest.mark.slow
def test_online_retail_as_users_have_it_gives_the_same_features_on_spark(
    spark, online_retail_csv, tmp_path
):
    # the UCI file as downloaded (gzip CSV, its own column names, ids written as 17850.0,
    # cancellations as invoices starting with C, no categories), read through its preset
    workspace = Workspace(tmp_path / "ws")
    pipeline.ingest(workspace, online_retail_csv, preset="online-retail")
    with workspace.connect(read_only=True) as con:
        duck = build_features(con, as_of=datetime(2011, 9, 1))
    engine = read_tables(spark, online_retail_csv, layout=get_preset("online-retail"))
    on_spark = build_features(engine, as_of=datetime(2011, 9, 1))
    assert on_spark.num_rows > 3000
    _assert_same(duck, on_spark)


def test_a_mapped_csv_with_its_own_date_format_reads_as_on_duckdb(spark, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(
        "Client;Invoice;When;Total\n"
        "A1;1;03/02/2024 10:15;10.5\n"
        "A1;2;17/02/2024 09:00;20\n"
        "B2;3;01/03/2024 12:30;-4\n"
        "B2;4;not a date;7\n"
    )
    mapping = ["Client=customer_id", "Invoice=order_id", "When=ts", "Total=amount"]
    layout, delimiter = resolve_layout(mapping=mapping, delimiter=";")
    engine = read_tables(
        spark, path, layout=layout, delimiter=delimiter, date_format="%d/%m/%Y %H:%M"
    )
    lines = engine.to_arrow(engine.table("transactions").order_by("order_id")).to_pylist()
    assert [(r["customer_id"], r["order_id"], r["is_return"]) for r in lines] == [
        ("A1", "1", False),
        ("A1", "2", False),
        ("B2", "3", True),
    ]
    assert lines[0]["ts"] == datetime(2024, 2, 3, 10, 15)
    assert [r["amount"] for r in lines] == [10.5, 20.0, -4.0]
