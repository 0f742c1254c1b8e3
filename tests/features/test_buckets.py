"""Big data is aggregated a bucket of customers at a time: the same features as one pass."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.features import build_features
from segmint.features._backend import customer_buckets
from segmint.store.workspace import Workspace


@pytest.mark.parametrize("bytes_per_row", [5_000, 50_000])
def test_customer_buckets_give_the_same_features(tmp_path, monkeypatch, bytes_per_row):
    # per-customer lists do not spill, so big data is aggregated a bucket of customers at a
    # time; every bucket count must give exactly the one-pass features, attributes included
    data = write(generate(1_500, seed=4), tmp_path / "data")
    workspace = Workspace(tmp_path / "ws")
    pipeline.ingest(workspace, data["transactions"], customers=data["customers"])
    with workspace.connect(read_only=True) as con:
        whole = build_features(con)
        con.execute("SET memory_limit = '200MB'")
        monkeypatch.setattr("segmint.features._backend.BYTES_PER_ROW", bytes_per_row)
        ((n_lines,),) = con.execute("SELECT count(*) FROM transactions").fetchall()
        ((n_customers,),) = con.execute("SELECT count(*) FROM customers").fetchall()
        n_buckets = customer_buckets(con, n_lines, n_customers)
        bucketed = build_features(con)
    assert n_buckets >= 2
    assert any(c.startswith("attr_") for c in whole.column_names)
    assert bucketed.schema == whole.schema
    for name in whole.column_names:
        left, right = whole.column(name), bucketed.column(name)
        if pa.types.is_floating(left.type):
            # sums run in another order: equal to rounding, as between two threaded runs
            np.testing.assert_allclose(right.to_numpy(), left.to_numpy(), rtol=1e-9, atol=1e-12)
        else:
            assert right.equals(left), name


def test_buckets_count_customers_as_well_as_lines():
    # one line per customer: the customers' sums and hash-table entries need memory too, so
    # ten million one-line customers take more buckets than ten million lines of few customers
    con = duckdb.connect()
    con.execute("SET memory_limit = '1GB'")
    few = customer_buckets(con, 10_000_000, 100_000)
    many = customer_buckets(con, 10_000_000, 10_000_000)
    assert 1 < few < many
