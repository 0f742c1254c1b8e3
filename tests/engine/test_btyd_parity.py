"""The BTYD summary on DuckDB and on Spark, and models fitted from Spark's compressed form.

The same Parquet files as the feature parity tests: the summary equal on both engines (counts
exactly, times and spend to 1e-9 relative), and BG/NBD and MBG/NBD parameters fitted from
Spark's compressed summary (one row per distinct frequency, recency and T, with a weight) equal
to those fitted from DuckDB's per-customer summary. (Pareto/NBD takes the same weighted rows,
but its fit takes 10-20 s on these data.)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.engine import read_tables
from segmint.features import rfm_summary
from segmint.predict import BetaGeoNBD, ModifiedBetaGeoNBD
from segmint.store.workspace import Workspace

CAL_END = "2024-06-30"
HOLD_END = "2024-12-31"
FIT_END = "2024-09-30"


@pytest.fixture(scope="module")
def engines(spark, tmp_path_factory):
    """A DuckDB workspace and a Spark engine over the same generated Parquet files."""
    root = tmp_path_factory.mktemp("btyd")
    paths = write(generate(2000, seed=7), root / "data")
    workspace = Workspace(root / "ws")
    pipeline.ingest(workspace, paths["transactions"], customers=paths["customers"])
    engine = read_tables(spark, paths["transactions"])
    # every summary reads the cleaned lines several times: read and clean the files once
    spark.sql("CACHE TABLE transactions")
    with workspace.connect(read_only=True) as con:
        yield con, engine
    spark.sql("UNCACHE TABLE IF EXISTS transactions")


def _assert_same(duck: pa.Table, spark: pa.Table) -> None:
    assert spark.schema == duck.schema
    for name in duck.column_names:
        left, right = duck.column(name), spark.column(name)
        assert right.null_count == left.null_count == 0, name
        if pa.types.is_floating(left.type):
            np.testing.assert_allclose(
                right.to_numpy(), left.to_numpy(), rtol=1e-9, atol=1e-12, err_msg=name
            )
        else:
            assert right.equals(left), name


@pytest.mark.parametrize("holdout_end", [None, HOLD_END], ids=["calibration", "holdout"])
@pytest.mark.parametrize("merge_same_day", [True, False], ids=["days", "orders"])
def test_summary_is_the_same_on_duckdb_and_spark(engines, holdout_end, merge_same_day):
    con, engine = engines
    kwargs = {
        "calibration_end": CAL_END,
        "holdout_end": holdout_end,
        "merge_same_day": merge_same_day,
    }
    duck = rfm_summary(con, **kwargs)
    _assert_same(duck, rfm_summary(engine, **kwargs))
    # the data exercise what matters: repeat buyers, spend, holdout purchases
    assert 1000 < duck.num_rows < 2000
    assert pc.sum(duck.column("frequency")).as_py() > duck.num_rows
    if holdout_end is not None:
        assert pc.sum(duck.column("frequency_holdout")).as_py() > 0


def _total(table: pa.Table, name: str, weight: str | None = None) -> int:
    values = table.column(name)
    if weight is not None:
        values = pc.multiply(values, table.column(weight))
    return pc.sum(values).as_py()


def test_compressed_summary_is_the_same_and_counts_every_customer(engines):
    con, engine = engines
    kwargs = {"calibration_end": CAL_END, "holdout_end": HOLD_END}
    packed = rfm_summary(engine, compress=True, **kwargs)
    _assert_same(rfm_summary(con, compress=True, **kwargs), packed)
    assert packed.column_names == [
        "frequency",
        "recency",
        "T",
        "weight",
        "frequency_holdout",
        "duration_holdout",
    ]
    full = rfm_summary(con, **kwargs)
    assert packed.num_rows < full.num_rows
    assert _total(packed, "weight") == full.num_rows
    assert _total(packed, "frequency", "weight") == _total(full, "frequency")
    assert _total(packed, "frequency_holdout") == _total(full, "frequency_holdout")


def test_parameters_from_sparks_compressed_summary(engines):
    # a calibration period where MBG/NBD's dropout is identified (by mid-2024 too few
    # customers have lapsed, and BG/NBD's b runs to its bound)
    con, engine = engines
    full = rfm_summary(con, calibration_end=FIT_END)
    packed = rfm_summary(engine, calibration_end=FIT_END, compress=True)
    assert packed.num_rows < full.num_rows
    for model in (BetaGeoNBD, ModifiedBetaGeoNBD):
        expected = model().fit(full["frequency"], full["recency"], full["T"]).params_
        fitted = model().fit(packed["frequency"], packed["recency"], packed["T"], packed["weight"])
        for name, value in expected.items():
            assert fitted.params_[name] == pytest.approx(value, rel=1e-6), (model, name)
