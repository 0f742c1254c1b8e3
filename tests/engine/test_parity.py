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


#: published files as users download them: their fixture, a cut-off and the least customers
_PUBLISHED = {
    # the UCI file (gzip CSV, its own column names, ids written as 17850.0, cancellations as
    # invoices starting with C, no categories)
    "online-retail": ("online_retail_csv", datetime(2011, 9, 1), 3000),
    # the CDNOW master log (gzip, runs of spaces between fields and before the first, CRLF
    # line ends, a header line of its own)
    "cdnow": ("cdnow_master", datetime(1997, 10, 1), 15000),
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(_PUBLISHED))
def test_published_files_read_through_their_preset_give_the_same_features_on_spark(
    spark, request, tmp_path, preset
):
    fixture, as_of, at_least = _PUBLISHED[preset]
    path = request.getfixturevalue(fixture)
    workspace = Workspace(tmp_path / "ws")
    pipeline.ingest(workspace, path, preset=preset)
    with workspace.connect(read_only=True) as con:
        duck = build_features(con, as_of=as_of)
    engine = read_tables(spark, path, layout=get_preset(preset))
    on_spark = build_features(engine, as_of=as_of)
    assert on_spark.num_rows > at_least
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


_TEXT_LAYOUTS = {
    # no header line: the preset's positional names; runs of spaces between fields
    "headerless-whitespace": (
        "cdnow.txt",
        " 00001 19970101  1   11.77\r\n 00002 19970112  2   89.00\r\n"
        " 00002 19970112  1\r\n 00003 19970102  2   20.76\r\n",
        {"preset": "cdnow"},
    ),
    "headerless-csv": (
        "cdnow.csv",
        "00001,19970101,1,11.77\n00002,19970112,2,89.00\n00003,19970102,x,20.76\n"
        "00003,19970105,3,30.00\n",
        {"preset": "cdnow"},
    ),
    # a spreadsheet saved in a European locale: ";" between fields, decimal commas, dots
    # between thousands
    "decimal-comma": (
        "umsatz.csv",
        "Kunde;Beleg;Datum;Betrag\n"
        "A1;1;2024-02-03 10:15:00;1.234,5\n"
        "A1;2;2024-02-17 09:00:00;20,25\n"
        "B2;3;2024-03-01 12:30:00;-4,5\n"
        "B2;4;2024-03-02 12:30:00;7\n",
        {"mapping": ["Kunde=customer_id", "Beleg=order_id", "Datum=ts", "Betrag=amount"]},
    ),
}


@pytest.mark.parametrize("layout_name", list(_TEXT_LAYOUTS))
def test_text_files_as_users_have_them_read_as_on_duckdb(spark, tmp_path, layout_name):
    name, text, options = _TEXT_LAYOUTS[layout_name]
    path = tmp_path / name
    path.write_bytes(text.encode())
    workspace = Workspace(tmp_path / "ws")
    pipeline.ingest(workspace, path, **options)
    columns = "customer_id, ts, quantity, amount, is_return"
    with workspace.connect(read_only=True) as con:
        duck = con.execute(f"SELECT {columns} FROM transactions ORDER BY ALL").fetchall()
    layout, delimiter = resolve_layout(
        preset=options.get("preset", "generic"), mapping=options.get("mapping", ())
    )
    engine = read_tables(spark, path, layout=layout, delimiter=delimiter)
    lines = engine.to_arrow(engine.table("transactions")).to_pylist()
    on_spark = sorted(tuple(line[c] for c in columns.split(", ")) for line in lines)
    assert on_spark == duck and len(duck) >= 3
