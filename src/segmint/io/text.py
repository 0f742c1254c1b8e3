"""Read a delimited or whitespace-separated text file into a DuckDB TEMP table of text columns.

The file is split as :mod:`segmint.io.sniff` decides from their first lines, and read into a
TEMP table. A line that does not split into the header's columns is kept there as a row with a
reason in :data:`PROBLEM` and its text in :data:`LINE`, so validation counts it like any other
unusable row: ``truncated_last_line`` when it is the last line of a file that does not end with
a line break (an interrupted download), ``malformed_line`` otherwise. When the cut is certain
(a ``.gz`` stream that ends early, or a file that ends inside a multi-byte character), DuckDB
would refuse the whole file, so it reads a UTF-8 copy of the complete records instead and the
cut record is counted even if it kept all its fields. A plain file cut inside its last field
cannot be told from a complete file without a final line break; that row loads as it is.
Checking a ``.gz`` file for completeness costs one decompression pass (about 3 ms per MB of
text here).
"""

from __future__ import annotations

import codecs
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

import duckdb

from segmint.io.sniff import WHITESPACE, Dialect, sniff

#: hidden columns of a text source: why a line could not be split, and the line itself
PROBLEM = "_segmint_problem"
LINE = "_segmint_line"

#: reasons a line of a text file is unusable, as validation reports them
LINE_PROBLEMS = {
    "truncated_last_line": "last line cut short (interrupted download?)",
    "malformed_line": "line does not split into the header's columns",
}

#: encodings DuckDB reads itself; others are re-encoded into a UTF-8 copy first
_DUCKDB_ENCODINGS = {"utf8": "utf-8", "utf8sig": "utf-8", "utf16": "utf-16", "latin1": "latin-1"}
_SAMPLE_CHARS = 1 << 16
_TAIL_BYTES = 1 << 22  # a cut record longer than this is left to DuckDB to find
_GZIP = 47  # zlib wbits: gzip header, largest window


def _duckdb_encoding(encoding: str) -> str | None:
    return _DUCKDB_ENCODINGS.get(encoding.lower().replace("-", "").replace("_", ""))


def read_text(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    encoding: str,
    delimiter: str | None,
    names: tuple[str, ...],
) -> Dialect:
    """Read the text file at ``path`` into the TEMP table ``table``; return how it was split.

    ``encoding`` is a Python codec name; ``delimiter`` a value from
    :func:`segmint.io.sniff.normalize_delimiter` (None: sniff it); ``names`` the column names
    for a file without a header line.
    """
    dialect = sniff(sample_text(path, encoding), delimiter=delimiter, names=names)
    native = _duckdb_encoding(encoding)
    gzipped = path.name.lower().endswith(".gz")
    cut = not _gunzip(path) if gzipped else _ends_mid_character(path, native)
    if native and not cut:
        _load_text(con, path, table, dialect, native)
        return dialect
    # DuckDB cannot read this file as it is: a download cut it short (DuckDB refuses a gzip
    # stream that ends early, or a character cut in half, and aborts the caller's transaction
    # with it), or it is in an encoding DuckDB lacks. It reads a UTF-8 copy instead,
    # decompressed as far as it goes, without the half character.
    with tempfile.TemporaryDirectory(prefix="segmint-") as folder:
        copy = Path(folder) / "text"
        with open(copy, "wb") as out:
            sink = _Utf8Writer(out, encoding)
            if gzipped:
                _gunzip(path, sink)
            else:
                with open(path, "rb") as handle:
                    shutil.copyfileobj(handle, sink)
            cut = sink.finish() or cut
        # a copy of a file known to be cut loses its cut record here, to be counted as such
        # (even when the cut left it all its fields, its last one is not what was written)
        cut_record = _split_cut_record(copy, dialect) if cut else ""
        _load_text(con, copy, table, dialect, "utf-8")
        if cut_record:
            con.execute(
                f"INSERT INTO \"{table}\" ({PROBLEM}, {LINE}) VALUES ('truncated_last_line', ?)",
                [cut_record],
            )
    return dialect


def _split_cut_record(copy: Path, dialect: Dialect) -> str:
    """Truncate ``copy`` after its last complete record; return the text of the cut one.

    A line break ends a record unless it is inside quotes, i.e. unless an odd number of quote
    characters comes before it (RFC 4180; whitespace-separated text has no quotes).
    """
    quoted = dialect.delimiter != WHITESPACE
    with open(copy, "rb+") as handle:
        quotes = sum(chunk.count(b'"') for chunk in iter(lambda: handle.read(1 << 22), b""))
        size = handle.tell()
        start = max(0, size - _TAIL_BYTES)
        handle.seek(start)
        tail = handle.read()
        if tail.endswith((b"\n", b"\r")):
            return ""
        end = len(tail)
        while (end := tail.rfind(b"\n", 0, end)) >= 0:
            if not quoted or (quotes - tail.count(b'"', end)) % 2 == 0:
                handle.truncate(start + end + 1)
                return tail[end + 1 :].decode("utf-8").rstrip("\r")
    return ""


def _ends_mid_character(path: Path, encoding: str | None) -> bool:
    """Whether the file ends inside a multi-byte character (a download cut it there)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 4))
        tail = handle.read()
    if encoding == "utf-16":
        return size % 2 == 1
    if encoding != "utf-8":
        return False
    for back, byte in enumerate(reversed(tail), start=1):
        if byte & 0xC0 != 0x80:  # the first byte of the last character says how long it is
            length = 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2 if byte >= 0xC0 else 1
            return back < length
    return False


class _Utf8Writer:
    """A binary sink that re-encodes text written in ``encoding`` as UTF-8 into ``out``."""

    def __init__(self, out: BinaryIO, encoding: str) -> None:
        self.out = out
        # incremental: a character may be split between two chunks
        self.decoder = codecs.getincrementaldecoder(encoding)()

    def write(self, data: bytes) -> None:
        self.out.write(self.decoder.decode(data).encode("utf-8"))

    def finish(self) -> bool:
        """Whether the text ended inside a character (then written as U+FFFD)."""
        if not self.decoder.getstate()[0]:
            return False
        self.out.write("\ufffd".encode())
        return True


def sample_text(path: Path, encoding: str) -> str:
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


def _gunzip(path: Path, out: BinaryIO | _Utf8Writer | None = None) -> bool:
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
