"""Exports of query results to CSV or Parquet, written atomically."""

from __future__ import annotations

from pathlib import Path

import duckdb

from segmint.errors import SegmintError
from segmint.files import atomic_path

EXPORT_FORMATS = ("csv", "parquet")


def export_query(
    con: duckdb.DuckDBPyConnection, query: str, params: list, path: str | Path, fmt: str
) -> Path:
    """Write the result of ``query`` to ``path`` as CSV or Parquet, atomically."""
    if fmt not in EXPORT_FORMATS:
        raise SegmintError(f"unknown export format {fmt!r}; expected one of {EXPORT_FORMATS}")
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    with atomic_path(path) as tmp:
        con.execute(f"COPY ({query}) TO '{_sql_path(tmp)}' ({options})", params)
    return Path(path)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
