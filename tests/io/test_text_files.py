"""Text files as people have them: cut short, semicolons, runs of spaces, no header, cut gzip.

Also: the file is read into the connection's temporary schema (the workspace never holds a view
of it), and the layout options are checked before anything is read.
"""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from segmint import pipeline
from segmint.errors import DataValidationError
from segmint.io.layout import parse_map, resolve_layout
from segmint.schema import TRANSACTION_FIELDS, get_preset
from segmint.store.workspace import Workspace

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = "".join(
    f"{536000 + i},A{i},ITEM {i},{i % 5 + 1},2010-12-{i % 28 + 1:02d} 08:26:00,2.50,"
    f"{17000 + i % 7},UK\n"
    for i in range(40)
)


def stored(ws: Workspace) -> pd.DataFrame:
    with ws.connect(read_only=True) as con:
        return con.execute("SELECT * EXCLUDE (line_key) FROM transactions ORDER BY order_id").df()


def test_a_cut_last_line_is_counted_and_the_rest_loads(tmp_path, workspace):
    path = tmp_path / "retail.csv"
    path.write_text(HEADER + ROWS[:-25])  # an interrupted download stops mid-row
    (result,) = pipeline.ingest(workspace, path, preset="online-retail")
    assert result.rows_read == 40 and result.rows_loaded == 39
    assert result.rejected == {"truncated_last_line": 1}
    assert result.examples["truncated_last_line"].startswith("row 40: 536039,A39,ITEM 39")
    assert len(stored(workspace)) == 39


def test_a_cut_inside_a_quoted_field_is_the_same(tmp_path, workspace):
    path = tmp_path / "retail.csv"
    path.write_text(HEADER + ROWS + '536999,B,"HALF A DESCRIP')
    (result,) = pipeline.ingest(workspace, path, preset="online-retail")
    assert result.rows_loaded == 40 and result.rejected == {"truncated_last_line": 1}


def test_a_malformed_line_inside_the_file_is_counted(tmp_path, workspace):
    lines = ROWS.splitlines(keepends=True)
    path = tmp_path / "retail.csv"
    path.write_text(HEADER + "".join(lines[:10]) + "1,2,3\n" + "".join(lines[10:]))
    (result,) = pipeline.ingest(workspace, path, preset="online-retail")
    assert result.rows_loaded == 40 and result.rejected == {"malformed_line": 1}
    assert result.examples["malformed_line"].endswith(": 1,2,3")


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_sniffed(delimiter, tmp_path, workspace):
    path = tmp_path / "retail.txt"
    path.write_text((HEADER + ROWS).replace(",", delimiter))
    (result,) = pipeline.ingest(workspace, path, preset="online-retail")
    assert result.rows_loaded == 40 and not result.rejected


def test_semicolons_with_decimal_commas(tmp_path, workspace):
    # as a spreadsheet in a European locale saves it
    path = tmp_path / "orders.csv"
    path.write_text("client;when;total\na;2024-01-05;10,5\nb;2024-01-06;1.234,25\nc;2024-01-07;3\n")
    mapping = ["client=customer_id", "when=ts", "total=amount"]
    (result,) = pipeline.ingest(workspace, path, mapping=mapping)
    assert result.rows_loaded == 3 and not result.rejected
    assert stored(workspace).amount.tolist() == [10.5, 1234.25, 3.0]


def test_a_quoted_decimal_comma_in_a_comma_file_is_not_a_number(tmp_path, workspace):
    path = tmp_path / "orders.csv"
    path.write_text('customer_id,ts,amount\na,2024-01-05,"10,5"\nb,2024-01-06,3\n')
    (result,) = pipeline.ingest(workspace, path)
    assert result.rows_loaded == 1 and result.rejected == {"bad_amount": 1}


def test_whitespace_runs_with_leading_spaces_and_a_cut_line(tmp_path, workspace):
    path = tmp_path / "log.txt"
    path.write_bytes(
        b" customer_id  date   amount\r\n"
        b" 00001 2024-01-05    11.77\r\n"
        b"\r\n"
        b" 00002\t2024-01-12  5.00\r\n"
        b"   00002 2024-02-12   7.25\r\n"
        b" 00003 2024-0"
    )
    (result,) = pipeline.ingest(workspace, path, mapping=["date=ts"])
    assert result.rows_read == 4 and result.rows_loaded == 3
    assert result.rejected == {"truncated_last_line": 1}
    assert result.examples["truncated_last_line"] == "row 4:  00003 2024-0"
    tx = stored(workspace)
    assert tx.customer_id.tolist() == ["00001", "00002", "00002"]  # leading zeros kept
    assert tx.amount.tolist() == [11.77, 5.0, 7.25]


def test_a_forced_delimiter(tmp_path, workspace):
    path = tmp_path / "log.txt"
    path.write_text("customer_id ts amount\nx 2024-01-05 1\ny 2024-01-06 2\n")
    (result,) = pipeline.ingest(workspace, path, delimiter="whitespace")
    assert result.rows_loaded == 2
    with pytest.raises(DataValidationError, match="check --delimiter"):
        pipeline.ingest(workspace, path, delimiter=",")


def test_a_headerless_file_takes_the_presets_names(tmp_path, workspace):
    path = tmp_path / "cdnow.txt"
    path.write_text(
        " 00001 19970101  1   11.77\n 00002 19970112  1   12.00\n 00002 19970112  5   77.00\n"
    )
    (result,) = pipeline.ingest(workspace, path, preset="cdnow")
    assert result.rows_loaded == 3 and not result.rejected
    tx = stored(workspace)
    assert str(tx.ts.min()) == "1997-01-01 00:00:00"
    assert tx.quantity.sum() == 7 and tx.amount.sum() == pytest.approx(100.77)


def test_a_cut_gzip_file_loads_its_complete_rows(tmp_path, workspace):
    body = (HEADER + ROWS * 50).encode()
    whole = gzip.compress(body)
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    (result,) = pipeline.ingest(workspace, path, preset="online-retail")
    assert result.rejected == {"truncated_last_line": 1}
    assert 0 < result.rows_read < 2000
    assert result.rows_loaded + result.rows_duplicate == result.rows_read - 1


def test_a_gzip_file_of_several_members_loads_whole(tmp_path, workspace):
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(
        gzip.compress((HEADER + ROWS[:600]).encode()) + gzip.compress(ROWS[600:].encode())
    )
    (result,) = pipeline.ingest(workspace, path, preset="online-retail")
    assert result.rows_loaded == 40 and not result.rejected


def test_a_gzip_file_of_garbage_is_a_clear_error(tmp_path, workspace):
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 20)
    with pytest.raises(DataValidationError, match="retail.csv.gz") as info:
        pipeline.ingest(workspace, path, preset="online-retail")
    assert "Traceback" not in str(info.value)
    assert not workspace.path.exists()


def test_a_directory_is_not_a_missing_file(tmp_path, workspace):
    folder = tmp_path / "exports.csv"
    folder.mkdir()
    with pytest.raises(DataValidationError, match="is a directory, not a file"):
        pipeline.ingest(workspace, folder)
    assert not workspace.path.exists()


def test_the_workspace_never_holds_a_view_of_the_users_file(tmp_path, retail_csv, workspace):
    customers = tmp_path / "customers.csv"
    customers.write_text("CustomerID,tier\n17850,gold\n")
    pipeline.ingest(workspace, retail_csv, customers=customers, preset="online-retail")
    with workspace.connect(read_only=True) as con:
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    # the file's path is kept only as the ingest history's record of where the rows came from
    assert views == [] and not any(t.startswith("_") for t in tables)


def test_customers_map(tmp_path, retail_csv, workspace):
    customers = tmp_path / "customers.csv"
    customers.write_text("Client;Land;tier\n17850;France;gold\n")
    pipeline.ingest(
        workspace,
        retail_csv,
        customers=customers,
        preset="online-retail",
        customers_mapping=["Client=customer_id", "Land=country"],
    )
    with workspace.connect(read_only=True) as con:
        row = con.execute(
            "SELECT country, attributes FROM customers WHERE customer_id = '17850'"
        ).fetchall()
    assert row == [("France", '{"tier":"gold"}')]


def test_a_customers_file_without_the_id_names_the_option(tmp_path, retail_csv, workspace):
    customers = tmp_path / "customers.csv"
    customers.write_text("Client,tier\n17850,gold\n")
    with pytest.raises(DataValidationError, match="--customers-map COLUMN=customer_id"):
        pipeline.ingest(workspace, retail_csv, customers=customers, preset="online-retail")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "online_retail"}, "unknown preset 'online_retail'"),
        ({"mapping": ["nonsense"]}, "--map 'nonsense': expected COLUMN=FIELD"),
        ({"mapping": ["Invoice=order_number"]}, "'order_number' is not a field"),
        ({"mapping": ["a=ts", "b=ts"]}, "field 'ts' is given twice"),
        ({"customers_mapping": ["Client=client_id"]}, "--customers-map 'Client=client_id'"),
        ({"customers_mapping": ["=customer_id"]}, "expected COLUMN=FIELD"),
        ({"delimiter": "#"}, "--delimiter '#'"),
    ],
)
def test_layout_errors_come_before_any_file_is_read(kwargs, message, tmp_path):
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(")):
        # the file does not even exist: the options are refused first
        pipeline.ingest(ws, tmp_path / "nowhere.csv", **kwargs)
    assert not ws.path.exists()


def test_parse_map_both_orders():
    assert parse_map(
        ["Invoice=order_id", "ts=InvoiceDate"], option="--map", fields=TRANSACTION_FIELDS
    ) == {
        "order_id": "Invoice",
        "ts": "InvoiceDate",
    }


def test_resolve_layout_keeps_the_preset_and_applies_maps():
    layout, delimiter = resolve_layout(
        "online-retail", mapping=["Kunde=customer_id"], customers_mapping={"country": "Land"}
    )
    assert layout.transactions["customer_id"] == "Kunde"
    assert layout.transactions["order_id"] == "InvoiceNo"
    assert layout.customers == {"customer_id": "CustomerID", "country": "Land"}
    assert delimiter is None
    assert get_preset("online-retail").transactions["customer_id"] == "CustomerID"


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "latin-1"])
def test_other_encodings_read_the_same_way(encoding, tmp_path, workspace):
    # cp1252 is re-encoded (DuckDB lacks it), the others DuckDB reads itself; all are sniffed
    text = "customer_id;ts;amount;description\na;2024-01-05;2,5;CAFÉ\nb;2024-01-06;3;x\nc;2024-0"
    path = tmp_path / "orders.csv"
    path.write_bytes(text.encode(encoding))
    (result,) = pipeline.ingest(workspace, path, encoding=encoding)
    assert result.rows_loaded == 2 and result.rejected == {"truncated_last_line": 1}
    tx = stored(workspace)
    assert tx.description.tolist() == ["CAFÉ", "x"] and tx.amount.tolist() == [2.5, 3.0]


def test_an_unknown_encoding_is_named(tmp_path, retail_csv, workspace):
    with pytest.raises(DataValidationError, match="unknown encoding 'klingon'"):
        pipeline.ingest(workspace, retail_csv, preset="online-retail", encoding="klingon")
    assert not workspace.path.exists()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_cut_inside_a_character(encoding, tmp_path, workspace):
    text = "customer_id,ts,amount,description\na,2024-01-05,2,x\nb,2024-01-06,3,CAFÉ"
    path = tmp_path / "orders.csv"
    path.write_bytes(text.encode(encoding)[:-1])  # the download stopped inside the "É"
    (result,) = pipeline.ingest(workspace, path, encoding=encoding)
    assert result.rows_loaded == 1 and result.rejected == {"truncated_last_line": 1}
