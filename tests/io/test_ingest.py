"""Ingest: every format, presets, rejected rows counted per reason, idempotence, atomicity."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from segmint import pipeline
from segmint.errors import DataValidationError
from segmint.store.workspace import Workspace


def table_snapshot(ws: Workspace) -> dict:
    """Every canonical table's rows, to compare a workspace before and after a failed command."""
    if not ws.exists:
        return {}
    with ws.connect(read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: sorted(map(repr, con.execute(f'SELECT * FROM "{n}"').fetchall())) for n in names}


def stored(ws: Workspace) -> pd.DataFrame:
    with ws.connect(read_only=True) as con:
        return con.execute(
            "SELECT * EXCLUDE (line_key) FROM transactions ORDER BY order_id, product_id"
        ).df()


def test_online_retail_preset_counts_rejects_and_flags_cancellations(retail_csv, workspace):
    (result,) = pipeline.ingest(workspace, retail_csv, preset="online-retail")
    assert result.rows_read == 12
    assert result.rejected == {"missing_customer_id": 1, "bad_date": 1, "bad_quantity": 1}
    assert result.examples["missing_customer_id"].startswith("row 8:")
    assert "InvoiceDate=not a date" in result.examples["bad_date"]
    assert result.rows_loaded == 9  # the repeated line inside the file is kept twice
    tx = stored(workspace)
    assert set(tx.customer_id) == {"17850", "13047", "14527", "15311"}  # "17850.0" -> "17850"
    cancel = tx[tx.order_id == "C536379"].iloc[0]
    assert cancel.is_return and cancel.amount == pytest.approx(-27.5)
    assert tx[tx.order_id == "536365"].amount.sum() == pytest.approx(6 * 2.55 + 6 * 3.39)
    with workspace.connect(read_only=True) as con:
        customers = dict(con.execute("SELECT customer_id, country FROM customers").fetchall())
    assert customers["17850"] == "United Kingdom"


def test_reingesting_the_same_file_adds_nothing(retail_csv, workspace):
    pipeline.ingest(workspace, retail_csv, preset="online-retail")
    (again,) = pipeline.ingest(workspace, retail_csv, preset="online-retail")
    assert again.rows_loaded == 0 and again.rows_duplicate == 9
    assert len(stored(workspace)) == 9


def test_a_file_stored_a_few_lines_at_a_time_keeps_its_rows(retail_csv, tmp_path, monkeypatch):
    # big files are sorted and stored a chunk of staged lines at a time; chunks of 2 put the
    # rejected rows, the repeated line and a cancellation on chunk edges, and must store the
    # very rows of one pass, each line once, and add nothing when the file comes again
    # (and usable lines last, after the file's rejected rows)
    source = tmp_path / "retail.csv"
    source.write_text(
        retail_csv.read_text()
        + "536990,22139,RETROSPOT TEA SET CERAMIC,2,2010-12-02 10:00:00,4.95,12346.0,France\n"
        + "536991,22960,JAM MAKING SET WITH JARS,1,2010-12-02 11:00:00,4.25,12347.0,France\n"
    )
    whole = Workspace(tmp_path / "whole")
    pipeline.ingest(whole, source, preset="online-retail")
    monkeypatch.setattr("segmint.store.ingest.STORE_CHUNK_LINES", 2)
    chunked = Workspace(tmp_path / "chunked")
    (result,) = pipeline.ingest(chunked, source, preset="online-retail")
    assert result.rows_loaded == 11
    pd.testing.assert_frame_equal(stored(chunked), stored(whole))
    (again,) = pipeline.ingest(chunked, source, preset="online-retail")
    assert again.rows_loaded == 0 and again.rows_duplicate == 11


def test_overlapping_file_adds_only_new_lines(retail_csv, tmp_path, workspace):
    pipeline.ingest(workspace, retail_csv, preset="online-retail")
    extra = (
        "536999,22139,RETROSPOT TEA SET CERAMIC,3,2010-12-02 10:00:00,4.95,15311.0,United Kingdom\n"
    )
    bigger = tmp_path / "bigger.csv"
    bigger.write_text(retail_csv.read_text() + extra)
    (result,) = pipeline.ingest(workspace, bigger, preset="online-retail")
    assert result.rows_loaded == 1
    assert len(stored(workspace)) == 10


def test_lines_of_other_periods_neither_hide_nor_add_duplicates(retail_csv, tmp_path, workspace):
    # an earlier load's lines are only looked up within the new file's time range: a file of a
    # later period is all new, and the first file loaded again still adds nothing
    header = retail_csv.read_text().splitlines()[0]
    later = tmp_path / "later.csv"
    later.write_text(
        f"{header}\n"
        "537001,22139,RETROSPOT TEA SET CERAMIC,3,2011-06-01 10:00:00,4.95,15311.0,France\n"
        "537002,22139,RETROSPOT TEA SET CERAMIC,1,2011-07-01 10:00:00,4.95,15312.0,France\n"
    )
    pipeline.ingest(workspace, retail_csv, preset="online-retail")
    (first,) = pipeline.ingest(workspace, later, preset="online-retail")
    assert first.rows_loaded == 2 and first.rows_duplicate == 0
    (again,) = pipeline.ingest(workspace, retail_csv, preset="online-retail")
    assert again.rows_loaded == 0 and again.rows_duplicate == 9
    (again,) = pipeline.ingest(workspace, later, preset="online-retail")
    assert again.rows_loaded == 0 and again.rows_duplicate == 2
    assert len(stored(workspace)) == 11


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet", "jsonl", "xlsx"])
def test_every_format_stores_the_same_rows(fmt, retail_csv, tmp_path):
    reference = Workspace(tmp_path / "ref")
    pipeline.ingest(reference, retail_csv, preset="online-retail")
    frame = pd.read_csv(retail_csv, dtype=str, keep_default_na=False)
    path = tmp_path / f"retail.{fmt}"
    if fmt == "csv.gz":
        path.write_bytes(gzip.compress(retail_csv.read_bytes()))
    elif fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in frame.to_dict(orient="records")))
    else:
        frame.to_excel(path, index=False)
    other = Workspace(tmp_path / fmt.replace(".", "_"))
    pipeline.ingest(other, path, preset="online-retail")
    pd.testing.assert_frame_equal(stored(other), stored(reference))


def test_generic_layout_with_amount_and_map(tmp_path, workspace):
    path = tmp_path / "orders.csv"
    path.write_text(
        "client,when,total,returned\n"
        "a,2024-01-05T10:00:00+02:00,10.5,false\n"
        "a,2024-02-05,4,true\n"
        "b,05/03/2024 12:00,7,false\n"
    )
    mapping = {"customer_id": "client", "ts": "when", "amount": "total", "is_return": "returned"}
    (result,) = pipeline.ingest(workspace, path, mapping=mapping)
    assert result.rows_loaded == 3 and not result.rejected
    tx = stored(workspace).sort_values("ts")
    assert str(tx.ts.iloc[0]) == "2024-01-05 08:00:00"  # converted to UTC
    assert str(tx.ts.iloc[2]) == "2024-05-03 12:00:00"  # month-first fallback
    assert tx.amount.tolist() == [10.5, -4.0, 7.0]  # a return is negative whatever its sign


def test_customers_file_attributes(tmp_path, retail_csv, workspace):
    customers = tmp_path / "customers.csv"
    customers.write_text("CustomerID,Country,age,tier\n17850,France,41,gold\n99999,Spain,,\n")
    pipeline.ingest(workspace, retail_csv, customers=customers, preset="online-retail")
    with workspace.connect(read_only=True) as con:
        rows = dict(
            (r[0], r[1:])
            for r in con.execute(
                "SELECT customer_id, country, attributes FROM customers"
            ).fetchall()
        )
    assert rows["17850"][0] == "France"
    assert json.loads(rows["17850"][1]) == {"age": "41", "tier": "gold"}
    assert "99999" in rows


BAD_FILES = {
    "missing column": (
        "retail.csv",
        b"InvoiceNo,StockCode,Quantity,UnitPrice,CustomerID\n1,A,1,2.0,5\n",
        "missing required column(s) 'InvoiceDate' (for ts)",
    ),
    "empty": ("retail.csv", b"", "file is empty"),
    "header only": (
        "retail.csv",
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n",
        "no data rows",
    ),
    "not a table": ("retail.parquet", b"\x00\x01garbage" * 50, "not a readable parquet file"),
    "wrong encoding": (
        "retail.csv",
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "1,A,CAF\xc9 CR\xc8ME,1,2010-12-01 08:26:00,2.5,1,France\n".encode("latin-1"),
        "not valid utf-8 text",
    ),
    "wrong types": (
        "retail.csv",
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        b"1,A,x,1,yesterday,2.5,1,UK\n2,B,y,2,tomorrow,2.5,2,UK\n",
        "no usable rows",
    ),
    "unsupported type": ("retail.pdf", b"%PDF-1.4", "unsupported file type"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_a_clear_error_and_changes_nothing(case, tmp_path, retail_csv, workspace):
    name, content, message = BAD_FILES[case]
    pipeline.ingest(workspace, retail_csv, preset="online-retail")
    before = table_snapshot(workspace)
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(DataValidationError) as info:
        pipeline.ingest(workspace, bad, preset="online-retail")
    assert str(bad) in str(info.value)
    assert message in str(info.value)
    assert table_snapshot(workspace) == before


def test_failed_first_ingest_leaves_no_workspace(tmp_path):
    ws = Workspace(tmp_path / "new-ws")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataValidationError, match="missing required column"):
        pipeline.ingest(ws, bad)
    assert not ws.path.exists()


def test_wrong_encoding_can_be_named(tmp_path, workspace):
    path = tmp_path / "latin.csv"
    path.write_bytes(
        "customer_id,ts,amount,description\nx,2024-01-01,3.5,CAF\xc9\n".encode("latin-1")
    )
    (result,) = pipeline.ingest(workspace, path, encoding="latin-1")
    assert result.rows_loaded == 1
    assert stored(workspace).description.iloc[0] == "CAF\xc9"


def test_missing_file(tmp_path, workspace):
    with pytest.raises(DataValidationError, match="file not found"):
        pipeline.ingest(workspace, tmp_path / "nope.csv")
