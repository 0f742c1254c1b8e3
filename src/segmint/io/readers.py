"""Open a user's file as a DuckDB TEMP table or view, whatever its format, with clear errors.

Text formats are read with every column as text so that validation (``io.validate``) decides
what is a bad value and counts it, instead of the reader guessing types or failing on row 40,000.
Everything is created in the connection's temporary schema: the workspace file never holds a
view of the user's file (nor its absolute path). Delimited and whitespace-separated text is
read by :mod:`segmint.io.text`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from segmint.errors import DataValidationError
from segmint.io.text import LINE, PROBLEM, read_text

#: file name endings we read, by format
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz"),
    "xlsx": (".xlsx",),
}


@dataclass(frozen=True)
class Source:
    """What validation needs to know of an opened file besides its rows.

    Attributes
    ----------
    columns : list of str
        The file's column names (not the hidden :data:`PROBLEM` and :data:`LINE` columns).
    decimal_comma : bool
        Numbers in the text are written with a decimal comma (see
        :class:`segmint.io.sniff.Dialect`).
    """

    columns: list[str]
    decimal_comma: bool = False


def detect_format(path: Path) -> str:
    """Return the format name for ``path`` from its file name ending."""
    name = path.name.lower()
    for fmt, endings in FORMATS.items():
        if name.endswith(endings):
            return fmt
    known = ", ".join(e for endings in FORMATS.values() for e in endings)
    raise DataValidationError(f"unsupported file type; expected one of {known}", source=str(path))


def check_file(path: str | Path) -> Path:
    """``path`` as a Path if it is a non-empty file; a clear error naming the cause otherwise."""
    path = Path(path)
    if path.is_dir():
        raise DataValidationError("is a directory, not a file", source=str(path))
    if not path.exists():
        raise DataValidationError("file not found", source=str(path))
    if not path.is_file():
        raise DataValidationError("is not a regular file", source=str(path))
    if path.stat().st_size == 0:
        raise DataValidationError("file is empty", source=str(path))
    detect_format(path)
    return path


def open_source(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    view: str,
    *,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    names: tuple[str, ...] = (),
) -> Source:
    """Create the temporary table or view ``view`` over the file at ``path``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection on which the temporary table or view is created.
    path : str or Path
        CSV or other delimited text (optionally gzipped), Parquet, JSON lines or XLSX file.
    view : str
        Name to create (an identifier chosen by the caller, not user input).
    encoding : str, default="utf-8"
        Text encoding of text files ("utf-8", "latin-1", "utf-16", or any Python codec).
    delimiter : str, optional
        Column delimiter of text files (from :func:`segmint.io.sniff.normalize_delimiter`);
        sniffed from the first lines when not given.
    names : tuple of str, optional
        Column names for a text file without a header line (a preset's positional names).

    Returns
    -------
    Source
        The file's column names, and how its numbers are written.

    Raises
    ------
    DataValidationError
        The file is missing, a directory, empty, not a table, or not in the stated encoding.
    """
    path = check_file(path)
    fmt = detect_format(path)
    literal = _literal(str(path))
    decimal_comma = False
    try:
        if fmt == "csv":
            decimal_comma = read_text(con, path, view, encoding, delimiter, names).decimal_comma
        elif fmt == "parquet":
            con.execute(f'CREATE OR REPLACE TEMP VIEW "{view}" AS FROM read_parquet({literal})')
        elif fmt == "jsonl":
            con.execute(
                f'CREATE OR REPLACE TEMP VIEW "{view}" AS FROM read_json({literal}, '
                "format = 'newline_delimited', records = 'true')"
            )
        else:
            con.register(view, _read_xlsx(path))
        columns = [r[0] for r in con.execute(f'DESCRIBE "{view}"').fetchall()]
        if not con.execute(f'SELECT 1 FROM "{view}" LIMIT 1').fetchall():
            raise DataValidationError("file has a header but no data rows", source=str(path))
    except DataValidationError:
        raise
    except LookupError:
        raise DataValidationError(f"unknown encoding {encoding!r}", source=str(path)) from None
    except (duckdb.Error, pa.ArrowException, ValueError, OSError, zlib.error) as exc:
        raise DataValidationError(
            _explain_read_error(fmt, exc, encoding), source=str(path)
        ) from None
    return Source([c for c in columns if c not in (PROBLEM, LINE)], decimal_comma)


def close_source(con: duckdb.DuckDBPyConnection, view: str) -> None:
    """Drop what :func:`open_source` created as ``view``, to free its memory once it is staged.

    A text file's table is a whole copy of the file; dropping it before the next steps
    keeps the peak at one copy of the lines.
    """
    (tables,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [view]
    ).fetchone()
    # everything else is a view, an XLSX sheet's registered Arrow table included
    con.execute(f'{"DROP TABLE" if tables else "DROP VIEW"} "{view}"')


def _literal(text: str) -> str:
    # DuckDB cannot bind parameters in a view definition; a quoted literal is the safe form
    return "'" + text.replace("'", "''") + "'"


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
