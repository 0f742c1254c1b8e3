"""Each engine's functions give the same values; Spark reads files as the DuckDB ingest does."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa
import pytest

from segmint import pipeline
from segmint.engine import DuckDBEngine, EngineError, SparkEngine, read_tables, spark_session
from segmint.engine._spark import _spark_pattern
from segmint.errors import DataValidationError
from segmint.io.layout import resolve_layout
from segmint.store.workspace import Workspace

ROWS = pa.table(
    {
        "id": ["a", "b", "c"],
        "xs": [[3, 1, 3, 2], [5], [7, 7]],
        "ys": [[1.5, 2.0, 4.0], [3.0], [0.5, 0.25]],
        "ts": [datetime(2024, 1, 2, 3, 4, 5, 500000), datetime(1999, 12, 31), datetime(2024, 3, 1)],
        "attrs": [
            '{"age": 42, "plan": "gold", "a.b": true, "it\'s": 1.5, "x": null}',
            '{"age": " 7 ", "nested": {"k": 1}}',
            None,
        ],
    }
)


def _values(engine, table) -> dict:
    xs, ys = table["xs"], table["ys"]
    attrs = table["attrs"]
    expr = table.order_by("id").select(
        count_unique=engine.count_unique(xs),
        distinct=engine.distinct(xs).sort(),
        sorted_unique=engine.sorted_unique(xs.sort().cast("array<float64>")),
        shifted=engine.shifted_doubles(xs.cast("array<int64>"), 1),
        inner=engine.inner_product(ys, ys),
        seconds=engine.epoch_seconds(table["ts"]),
        **{f"key_{i}": engine.json_text(attrs, k) for i, k in enumerate(["age", "a.b", "it's"])},
        bits=engine.hash_bits(table["id"], 44),
    )
    entries = engine.json_entries("t", "attrs").to_pyarrow().to_pylist()
    entries.sort(key=lambda e: (e["key"], e["value"] or ""))
    return engine.to_arrow(expr).to_pydict() | {"entries": entries}


def test_engine_functions_agree(spark):
    con = duckdb.connect()
    con.register("rows", ROWS)
    con.execute("CREATE TABLE t AS SELECT * REPLACE (attrs::JSON AS attrs) FROM rows")
    duck = DuckDBEngine(con)
    duck.prepare()
    spark.createDataFrame(ROWS).createOrReplaceTempView("t")
    on_spark = SparkEngine(spark)
    on_spark.prepare()
    left, right = _values(duck, duck.table("t")), _values(on_spark, on_spark.table("t"))
    # the hashes differ between engines; both are 44-bit and non-negative
    for bits in (left.pop("bits"), right.pop("bits")):
        assert all(0 <= b < 2**44 for b in bits)
    assert right == left
    assert left["count_unique"] == [3, 1, 1]
    assert left["key_0"] == ["42", " 7 ", None]
    assert left["key_2"] == ["1.5", None, None]
    assert left["seconds"][0] % 1 == 0.5
    keys = ["a.b", "age", "age", "it's", "nested", "plan", "x"]
    assert [e["key"] for e in left["entries"]] == keys


def test_spark_reads_files_as_the_ingest_does(spark, tmp_path):
    # float-formatted ids and padded numbers (kept), an unflagged return (flagged); a blank
    # id, a bad date and a blank amount (left out)
    path = tmp_path / "lines.csv"
    path.write_text(
        "customer_id,order_id,ts,product_id,quantity,unit_price,amount,is_return\n"
        "17850.0,1,2024-01-02 10:00:00,P1, 2 ,1.5,3.0,\n"
        "17850.0,2,2024-01-03T11:00:00,P2,-1,1.5,-1.5,\n"
        " ,3,2024-01-03 11:00:00,P2,1,1.5,1.5,false\n"
        "C2,4,not a date,P3,1,1.5,1.5,false\n"
        "C2,5,2024-01-04 12:00:00, ,1,2.5,,true\n"
    )
    workspace = Workspace(tmp_path / "ws")
    pipeline.ingest(workspace, path)
    query = (
        "SELECT customer_id, order_id, CAST(ts AS STRING), product_id, quantity, unit_price, "
        "amount, is_return FROM transactions ORDER BY order_id"
    )
    with workspace.connect(read_only=True) as con:
        stored = con.execute(query).fetchall()
    read_tables(spark, path)
    assert [tuple(row) for row in spark.sql(query).collect()] == stored
    assert [row[0] for row in stored] == ["17850", "17850"]
    assert stored[1][-2:] == (-1.5, True)


def test_spark_names_the_missing_columns_and_reads_them_mapped(spark, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text("CustomerID,InvoiceDate,Amount\n1,2024-01-01,2.0\n")
    with pytest.raises(DataValidationError, match=r"lacks column\(s\) customer_id .*--map"):
        read_tables(spark, path)
    layout, _ = resolve_layout(mapping=["CustomerID=customer_id", "InvoiceDate=ts"])
    engine = read_tables(spark, path, layout=layout)
    [line] = engine.to_arrow(engine.table("transactions")).to_pylist()
    assert (line["customer_id"], line["amount"]) == ("1", 2.0)


def test_spark_needs_java(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EngineError, match="openjdk-17-jre-headless"):
        spark_session()


@pytest.mark.parametrize(
    ("strptime", "pattern"),
    [
        ("%Y%m%d", "yyyyMMdd"),  # fields run together: each its full width
        ("%m/%d/%Y %H:%M", "M/d/yyyy H:m"),  # separated: one or two digits, as strptime
        ("%d.%m.%Y at %H", "d.M.yyyy 'a''t' H"),
    ],
)
def test_date_formats_become_spark_patterns(strptime, pattern):
    assert _spark_pattern(strptime) == pattern
