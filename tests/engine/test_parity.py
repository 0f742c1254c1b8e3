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
