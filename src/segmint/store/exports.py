"""Atomic file writes: a reader never sees a half-written export or report."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from segmint.errors import SegmintError

EXPORT_FORMATS = ("csv", "parquet")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


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
