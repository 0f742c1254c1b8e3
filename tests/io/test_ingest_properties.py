"""Property-based: whatever a CSV holds, ingest either accounts for every row or refuses the
file with a DataValidationError and leaves the workspace as it was."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint import pipeline
from segmint.errors import DataValidationError
from segmint.store.workspace import Workspace

HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
good_row = st.tuples(
    st.from_regex(r"C?5[0-9]{5}", fullmatch=True),
    st.from_regex(r"[0-9]{5}[A-Z]?", fullmatch=True),
    text,
    st.integers(-50, 500).map(str),
    st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2012, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
    ),
    st.floats(0, 1000, allow_nan=False).map(lambda x: f"{x:.2f}"),
    st.integers(10000, 10100).map(str),
    st.sampled_from(["United Kingdom", "France", ""]),
)
garbage_row = st.lists(text, min_size=8, max_size=8).map(tuple)
rows = st.lists(st.one_of(good_row, good_row, garbage_row), min_size=1, max_size=25)


def snapshot(ws: Workspace) -> list:
    with ws.connect(read_only=True) as con:
        return sorted(map(repr, con.execute("SELECT * FROM transactions").fetchall()))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows)
def test_every_row_is_accounted_for_or_the_file_is_refused(rows):
    folder = Path(tempfile.mkdtemp())
    try:
        ws = Workspace(folder / "ws")
        seed = folder / "seed.csv"
        seed.write_text(
            ",".join(HEADER) + "\n536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,"
            "17850,United Kingdom\n"
        )
        pipeline.ingest(ws, seed, preset="online-retail")
        before = snapshot(ws)
        buffer = io.StringIO()
        csv.writer(buffer).writerows([HEADER, *rows])
        path = folder / "data.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        try:
            (result,) = pipeline.ingest(ws, path, preset="online-retail")
        except DataValidationError as exc:
            assert str(path) in str(exc)
            assert snapshot(ws) == before
            return
        assert result.rows_read == len(rows)
        assert result.rows_read == (
            result.rows_loaded + result.rows_duplicate + sum(result.rejected.values())
        )
        assert len(snapshot(ws)) == len(before) + result.rows_loaded
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows, where=st.floats(0, 1))
def test_a_file_cut_anywhere_loads_every_row_before_the_cut(rows, where):
    # an interrupted download: the file stops at any byte after its header line, even inside
    # a quoted field or a multi-byte character
    records = [",".join(HEADER) + "\r\n"]
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(row)
        records.append(buffer.getvalue())
    data = "".join(records).encode("utf-8")
    header_end = len(records[0].encode("utf-8"))
    cut = header_end + 1 + int(where * (len(data) - header_end - 1))
    starts, offset = [], header_end
    for record in records[1:]:
        starts.append(offset)
        offset += len(record.encode("utf-8"))
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "cut.csv"
        path.write_bytes(data[:cut])
        (result,) = pipeline.ingest(Workspace(folder / "ws"), path, preset="online-retail")
    except DataValidationError as exc:  # nothing usable before the cut: refused, nothing kept
        assert "no usable rows" in str(exc), repr(data[header_end:cut])
        assert not (folder / "ws").exists()
        return
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert result.rows_read == sum(start < cut for start in starts)
    assert result.rows_read == (
        result.rows_loaded + result.rows_duplicate + sum(result.rejected.values())
    )
