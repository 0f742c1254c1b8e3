"""The feature groups of every source, and identity resolution, the same on DuckDB and Spark:
from the generator's files, ingested into a workspace on one side and read by Spark on the
other. Every column equal to 1e-9 relative (counts exactly), the same customers, and the same
chat topics (fitted on the driver on the same messages in the same order)."""

from __future__ import annotations

from datetime import datetime

import pytest

from segmint import pipeline
from segmint.datasets import generate_sources, write_sources
from segmint.engine import engine_for, read_tables
from segmint.features import source_features
from segmint.features.identity import resolve_identities
from segmint.store.workspace import Workspace

from .test_parity import _assert_same


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    data = generate_sources(600, seed=3)
    files = write_sources(data, root / "data")
    workspace = Workspace(root / "ws")
    pipeline.ingest_sources(workspace, files)
    return files, workspace, data.as_of


def _spark(spark, files):
    return read_tables(
        spark,
        files["transactions"],
        customers=files["customers"],
        sources={name: files[name] for name in ("events", "messages", "identities")},
    )


def test_identities_resolve_the_same_on_spark(spark, sources):
    files, workspace, _ = sources
    with workspace.connect(read_only=True) as con:
        duck, duck_stats = resolve_identities(engine_for(con))
    on_spark, spark_stats = resolve_identities(_spark(spark, files))
    assert spark_stats == duck_stats and duck_stats.customers_merged > 0
    assert duck_stats.shared_identifiers > 0  # the generator's kiosk
    key = ["raw_id", "customer_id"]
    assert on_spark.sort_values(key).values.tolist() == duck.sort_values(key).values.tolist()


@pytest.mark.parametrize("as_of", [None, datetime(2024, 9, 1)], ids=["default", "cut-off"])
def test_every_source_group_is_the_same_on_spark(spark, sources, as_of):
    files, workspace, end = sources
    as_of = as_of or end
    with workspace.connect(read_only=True) as con:
        engine = engine_for(con)
        customers = engine.to_arrow(engine.table("customers").select("customer_id")).column(0)
        duck = source_features(engine, as_of, customers.combine_chunks())
    on_spark = source_features(_spark(spark, files), as_of, customers.combine_chunks())
    assert set(duck.tables) == {"web", "chats", "devices", "social"}
    assert on_spark.coverage == duck.coverage and on_spark.topic_names == duck.topic_names
    for name, table in duck.tables.items():
        assert table.num_rows > 0
        _assert_same(table, on_spark.tables[name])
