"""Open a user's file as a DuckDB TEMP table or view, whatever its format, with clear errors.

Text formats are read with every column as text so that validation (``io.validate``) decides
what is a bad value and counts it, instead of the reader guessing types or failing on row 40,000.
Everything is created in the connection's temporary schema: the workspace file never holds a
view of the user's file (nor its absolute path).

Text files are split as :mod:`segmint.io.sniff` decides from their first lines, and read into a
TEMP table. A line that does not split into the header's columns (the last one, when a download
was interrupted) is kept there as a row with a reason in :data:`PROBLEM` and its text in
:data:`LINE`, so validation counts it like any other unusable row. A ``.gz`` file that ends
early is decompressed as far as it goes (a pass over a gzip file costs about 3 ms per MB of
text here), so its complete rows load too.
"""

from __future__ import annotations

import tempfile
import zlib
from pathlib import Path

import duckdb
import pyarrow as pa

from segmint.errors import DataValidationError
from segmint.io.sniff import WHITESPACE, Dialect, sniff

#: file name endings we read, by format
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz"),
    "xlsx": (".xlsx",),
}

#: hidden columns of a text source: why a line could not be split, and the line itself
PROBLEM = "_segmint_problem"
LINE = "_segmint_line"

#: reasons a line of a text file is unusable, as validation reports them
LINE_PROBLEMS = {
    "truncated_last_line": "last line cut short (interrupted download?)",
    "malformed_line": "line does not split into the header's columns",
}

#: encodings DuckDB reads itself; others go through pyarrow
_DUCKDB_ENCODINGS = {"utf8": "utf-8", "utf8sig": "utf-8", "utf16": "utf-16", "latin1": "latin-1"}
_SAMPLE_CHARS = 1 << 16
_GZIP = 47  # zlib wbits: gzip header, largest window


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
) -> list[str]:
    """Create the temporary table or view ``view`` over the file at ``path``; return its columns.

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
    list of str
        The file's column names (not the hidden :data:`PROBLEM` and :data:`LINE` columns).

    Raises
    ------
    DataValidationError
        The file is missing, a directory, empty, not a table, or not in the stated encoding.
    """
    path = check_file(path)
    fmt = detect_format(path)
    literal = _literal(str(path))
    try:
        if fmt == "csv" and _duckdb_encoding(encoding) is None:
            con.register(view, _read_csv_encoded(path, encoding))
        elif fmt == "csv":
            _read_text(con, path, view, encoding, delimiter, names)
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
    except (duckdb.Error, pa.ArrowException, ValueError, OSError, zlib.error) as exc:
        raise DataValidationError(
            _explain_read_error(fmt, exc, encoding), source=str(path)
        ) from None
    return [c for c in columns if c not in (PROBLEM, LINE)]


def _literal(text: str) -> str:
    # DuckDB cannot bind parameters in a view definition; a quoted literal is the safe form
    return "'" + text.replace("'", "''") + "'"


def _duckdb_encoding(encoding: str) -> str | None:
    return _DUCKDB_ENCODINGS.get(encoding.lower().replace("-", "").replace("_", ""))


def _read_text(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    encoding: str,
    delimiter: str | None,
    names: tuple[str, ...],
) -> None:
    dialect = sniff(_sample(path, encoding), delimiter=delimiter, names=names)
    if not path.name.lower().endswith(".gz") or _gunzip(path):
        _load_text(con, path, table, dialect, _duckdb_encoding(encoding))
        return
    # a gzip file that ends early (interrupted download): load what it holds; DuckDB would
    # refuse the whole file and abort the caller's transaction with it
    with tempfile.TemporaryDirectory(prefix="segmint-") as folder:
        partial = Path(folder) / path.name.removesuffix(".gz").removesuffix(".GZ")
        with open(partial, "wb") as out:
            _gunzip(path, out)
        _load_text(con, partial, table, dialect, _duckdb_encoding(encoding))


def _sample(path: Path, encoding: str) -> str:
    """The first characters of a text file, decompressed; a cut gzip file gives what it has."""
    with open(path, "rb") as handle:
        if not path.name.lower().endswith(".gz"):
            raw = handle.read(_SAMPLE_CHARS)
        else:
            inflate, raw = zlib.decompressobj(_GZIP), b""
            while len(raw) < _SAMPLE_CHARS and not inflate.eof:
                chunk = handle.read(1 << 16)
                if not chunk:
                    break
                raw += inflate.decompress(chunk, _SAMPLE_CHARS - len(raw))
    return raw.decode(encoding, errors="replace")


def _gunzip(path: Path, out=None) -> bool:
    """Whether the gzip file is complete; writes what decompresses to ``out`` if given."""
    inflate, fed = zlib.decompressobj(_GZIP), False
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            while chunk:
                data = inflate.decompress(chunk)
                fed = True
                if out is not None:
                    out.write(data)
                chunk = b""
                if inflate.eof:  # a file may hold several gzip members, one after another
                    chunk, inflate, fed = inflate.unused_data, zlib.decompressobj(_GZIP), False
    if out is not None:
        out.write(inflate.flush())
    return not fed


def _ends_with_line_break(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) in (b"\n", b"\r")


def _load_text(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    dialect: Dialect,
    encoding: str,
) -> None:
    """Read the text file into TEMP ``table``: one text column per name, plus the bad lines."""
    # A line that does not fit is the cut last line of an interrupted download when it is the
    # last one that does not fit, in a file that does not end with a line break (a .gz was
    # checked above, so a complete one ends cleanly). ``line`` is its number in the file.
    cut = not path.name.lower().endswith(".gz") and not _ends_with_line_break(path)
    reason = (
        "CASE WHEN ? AND line = max(line) OVER () "
        "THEN 'truncated_last_line' ELSE 'malformed_line' END"
    )
    if dialect.delimiter == WHITESPACE:
        _load_whitespace(con, path, table, dialect, encoding, reason, cut)
    else:
        _load_delimited(con, path, table, dialect, encoding, reason, cut)


def _load_delimited(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    dialect: Dialect,
    encoding: str,
    reason: str,
    cut: bool,
) -> None:
    # the dialect is given in full, so DuckDB does not sniff (its sniffer refuses cut files);
    # lines that do not fit go to a rejects table and are added back as rows with a reason
    columns = {name: "VARCHAR" for name in dialect.names}
    rejects, scans = f"{table}_rejects", f"{table}_scans"
    con.execute(f'DROP TABLE IF EXISTS "{rejects}"')
    con.execute(f'DROP TABLE IF EXISTS "{scans}"')
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE "{table}" AS
            SELECT *, CAST(NULL AS VARCHAR) AS {PROBLEM}, CAST(NULL AS VARCHAR) AS {LINE}
            FROM read_csv(?, delim = ?, quote = '"', escape = '"', header = ?, columns = ?,
                          auto_detect = false, encoding = ?, store_rejects = true,
                          rejects_table = '{rejects}', rejects_scan = '{scans}')""",
        [str(path), dialect.delimiter, dialect.header, columns, encoding],
    )
    if con.execute(
        f"""SELECT 1 FROM "{rejects}" WHERE error_type = 'INVALID ENCODING' LIMIT 1"""
    ).fetchall():
        raise ValueError(f"invalid {encoding} encoding")
    con.execute(
        f"""INSERT INTO "{table}" ({PROBLEM}, {LINE})
            SELECT {reason}, text FROM (
                SELECT line, rtrim(any_value(csv_line), chr(10) || chr(13)) AS text
                FROM "{rejects}" GROUP BY line)
            ORDER BY line""",
        [cut],
    )
    con.execute(f'DROP TABLE "{rejects}"')
    con.execute(f'DROP TABLE "{scans}"')


def _load_whitespace(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    dialect: Dialect,
    encoding: str,
    reason: str,
    cut: bool,
) -> None:
    # DuckDB has no "runs of spaces" delimiter: read whole lines, then split them in SQL
    fields = ", ".join(
        f'p[{i + 1}] AS "{name.replace(chr(34), chr(34) * 2)}"'
        for i, name in enumerate(dialect.names)
    )
    n = len(dialect.names)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE "{table}" AS
            WITH lines AS (
                SELECT row_number() OVER () AS line, text,
                       regexp_split_to_array(trim(text, E' \\t\\r'), '[ \\t]+') AS p
                FROM read_csv(?, columns = {{'text': 'VARCHAR'}}, delim = ?, quote = '',
                              escape = '', header = false, auto_detect = false, encoding = ?)
            ), split AS (
                SELECT *, len(p) AS fields FROM lines
                WHERE line > ? AND trim(text, E' \\t\\r') <> ''
            )
            SELECT {fields},
                   CASE WHEN fields <> {n} THEN {reason} END AS {PROBLEM},
                   CASE WHEN fields <> {n} THEN trim(text, E'\\r') END AS {LINE}
            FROM split ORDER BY line""",
        # the delimiter is a control character no text file holds: each line is one field
        [str(path), "\x1f", encoding, int(dialect.header), cut],
    )


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
