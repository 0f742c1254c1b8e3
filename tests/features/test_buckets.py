"""Big data is aggregated a bucket of customers at a time: the same features as one pass."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.engine import engine_for
from segmint.features import build_features
from segmint.features._backend import customer_buckets
from segmint.features.transactions import _feature_queries
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


def _scans(node: dict) -> list[dict]:
    found = [node] if node.get("type") == "TABLE_SCAN" else []
    for child in node.get("children", []):
        found += _scans(child)
    return found


@pytest.mark.parametrize("chunk", [None, 500_000])
def test_a_bucket_reads_only_the_row_groups_of_its_customers(tmp_path, monkeypatch, chunk):
    # a file as shops export it, in time order: every customer's lines are spread through it.
    # Ingest stores them in customer order (a chunk of lines at a time when the file is big),
    # so a bucket (a range of ids) skips the row groups of other customers by their
    # statistics, instead of every bucket reading every line
    source = tmp_path / "lines.parquet"
    duckdb.execute(
        f"""COPY (SELECT 'C' || lpad(CAST(i % 40000 AS VARCHAR), 6, '0') AS customer_id,
                         'O' || CAST(i // 3 AS VARCHAR) AS order_id,
                         TIMESTAMP '2024-01-01' + to_seconds(i * 30) AS ts,
                         'P' || CAST(i % 97 AS VARCHAR) AS product_id,
                         1.0 + i % 7 AS amount
                  FROM range(1000000) AS r(i) ORDER BY i) TO '{source}'"""
    )
    workspace = Workspace(tmp_path / "ws")
    if chunk:
        monkeypatch.setattr("segmint.store.ingest.STORE_CHUNK_LINES", chunk)
    pipeline.ingest(workspace, source)
    n_chunks = -(-1_000_000 // chunk) if chunk else 1
    monkeypatch.setattr("segmint.features._backend.MAX_BUCKET_ROWS", 300_000)
    profile = tmp_path / "profile.json"
    with workspace.connect(read_only=True) as con:
        ((in_order,),) = con.execute(
            """SELECT bool_and(customer_id >= previous) FROM (
                   SELECT customer_id, lag(customer_id) OVER (
                       PARTITION BY rowid // ? ORDER BY rowid) AS previous
                   FROM transactions)""",
            [chunk or 1_000_000],
        ).fetchall()
        engine = engine_for(con)
        parts = _feature_queries(
            engine, as_of=None, n_top_categories=6, trend_window_days=90, category_map_table=None
        )
        first = next(parts)  # the small queries before the buckets run here, unprofiled
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{profile}'")
        n_customers = engine.to_arrow(first).num_rows
        con.execute("PRAGMA disable_profiling")
    assert in_order
    assert 8_000 < n_customers < 12_000  # a quarter of the 40,000 customers
    operators = json.loads(profile.read_text())["operator"]
    scans = [s for o in operators for s in _scans(o) if "transactions" in str(s["extra_info"])]
    assert scans
    for scan in scans:
        # 1M lines fill 9 row groups; a quarter of them, give or take the two at the edges of
        # the bucket's stretch in each chunk
        assert scan["total_row_groups_to_scan"] >= 8
        bound = scan["total_row_groups_to_scan"] // 4 + 2 * n_chunks
        assert scan["row_groups_scanned"] <= bound, scan
