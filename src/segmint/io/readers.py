"""Open a user's file as a DuckDB view, whatever its format, with clear errors for wrong files.

Text formats are read with every column as text so that validation (``io.validate``) decides
what is a bad value and counts it, instead of the reader guessing types or failing on row 40,000.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from segmint.errors import DataValidationError

#: file name endings we read, by format
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz"),
    "xlsx": (".xlsx",),
}


def detect_format(path: Path) -> str:
    """Return the format name for ``path`` from its file name ending."""
    name = path.name.lower()
    for fmt, endings in FORMATS.items():
        if name.endswith(endings):
            return fmt
    known = ", ".join(e for endings in FORMATS.values() for e in endings)
    raise DataValidationError(f"unsupported file type; expected one of {known}", source=str(path))


def open_source(
    con: duckdb.DuckDBPyConnection, path: str | Path, view: str, *, encoding: str = "utf-8"
) -> list[str]:
    """Create the temporary view ``view`` over the file at ``path`` and return its column names.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection on which the temporary view is created.
    path : str or Path
        CSV (optionally gzipped), Parquet, JSON lines or XLSX file.
    view : str
        Name of the temporary view to create (an identifier chosen by the caller, not user input).
    encoding : str, default="utf-8"
        Text encoding of CSV files ("utf-8", "latin-1", "utf-16").

    Raises
    ------
    DataValidationError
        The file is missing, empty, not a table, or not in the stated encoding.
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError("file not found", source=str(path))
    if path.stat().st_size == 0:
        raise DataValidationError("file is empty", source=str(path))
    fmt = detect_format(path)
    try:
        if fmt == "csv" and encoding.lower().replace("-", "") not in ("utf8", "utf8sig"):
            con.register(view, _read_csv_encoded(path, encoding))
        elif fmt == "csv":
            con.read_csv(str(path), all_varchar=True, header=True, sample_size=-1).create_view(
                view, replace=True
            )
        elif fmt == "parquet":
            con.read_parquet(str(path)).create_view(view, replace=True)
        elif fmt == "jsonl":
            con.read_json(str(path), format="newline_delimited", records="true").create_view(
                view, replace=True
            )
        else:
            con.register(view, _read_xlsx(path))
        columns = [r[0] for r in con.execute(f'DESCRIBE "{view}"').fetchall()]
        if not con.execute(f'SELECT 1 FROM "{view}" LIMIT 1').fetchall():
            raise DataValidationError("file has a header but no data rows", source=str(path))
    except DataValidationError:
        raise
    except (duckdb.Error, pa.ArrowException, ValueError, OSError) as exc:
        raise DataValidationError(
            _explain_read_error(fmt, exc, encoding), source=str(path)
        ) from None
    return columns


def _explain_read_error(fmt: str, exc: Exception, encoding: str) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    lowered = str(exc).lower()
    if "unicode" in lowered or "utf-8" in lowered or "encoding" in lowered:
        return (
            f"file is not valid {encoding} text ({text}); "
            "pass the right encoding, e.g. --encoding latin-1"
        )
    if fmt == "csv":
        return f"not a readable CSV table: {text}"
    return f"not a readable {fmt} file: {text}"


def _read_csv_encoded(path: Path, encoding: str) -> pa.Table:
    """Read a CSV in a non-UTF-8 encoding as text columns (DuckDB reads only UTF-8)."""
    import codecs
    import csv
    import gzip

    from pyarrow import csv as pacsv

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding=encoding, newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise ValueError("no header row")
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=encoding),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in header}),
    )


def _read_xlsx(path: Path) -> pa.Table:
    """Read the first sheet of an XLSX workbook as text columns (header in the first row)."""
    from openpyxl import load_workbook  # imported here: only XLSX users pay for it

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a bad workbook
        raise ValueError(f"not an XLSX workbook ({type(exc).__name__}: {exc})") from None
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None or all(cell is None for cell in header):
            raise ValueError("the first sheet is empty")
        names = [
            str(cell).strip() if cell is not None else f"column_{i + 1}"
            for i, cell in enumerate(header)
        ]
        columns: list[list[str | None]] = [[] for _ in names]
        for row in rows:
            for i in range(len(names)):
                cell = row[i] if i < len(row) else None
                columns[i].append(None if cell is None else _cell_text(cell))
    finally:
        book.close()
    return pa.table(
        {name: pa.array(values, pa.string()) for name, values in zip(names, columns, strict=True)}
    )


def _cell_text(cell: object) -> str:
    # ISO text for dates so the validator's timestamp parsing treats XLSX like CSV
    if hasattr(cell, "isoformat"):
        return cell.isoformat(sep=" ") if hasattr(cell, "hour") else cell.isoformat()
    return str(cell)
