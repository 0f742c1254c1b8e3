"""Where features run, behind one small interface (DuckDB, the default, for now).

A feature query is written once in Ibis; where Ibis does not compile an operation the same
way on every engine (hashes, list functions, JSON), it calls the :class:`Engine`'s own
version. :func:`engine_for` turns what a caller holds (a DuckDB connection or an engine)
into an engine.
"""

from __future__ import annotations

from segmint.engine._base import Engine
from segmint.engine._duckdb import DuckDBEngine

__all__ = [
    "DuckDBEngine",
    "Engine",
    "engine_for",
]


def engine_for(con) -> Engine:
    """The engine over ``con``: an :class:`Engine` itself, or a DuckDB connection."""
    if isinstance(con, Engine):
        return con
    return DuckDBEngine(con)
