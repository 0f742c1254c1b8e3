"""Small helpers around the Ibis DuckDB backend shared by the feature modules."""

from __future__ import annotations

import ibis
import ibis.backends.duckdb  # noqa: F401  (ibis imports its backends lazily, on first use)
import ibis.common.exceptions as ibis_exc
import ibis.expr.types as ir


def backend_for(con):
    """Wrap the caller's raw DuckDB connection in an Ibis backend (no copy, same session)."""
    return ibis.duckdb.from_connection(con)


def table_or_none(backend, name: str) -> ir.Table | None:
    """Return the named table, or None when it does not exist.

    ``backend.list_tables()`` is avoided on purpose: with ibis 12.0.0 on duckdb 2.0 it calls
    ``DuckDBPyConnection.fetch_arrow_table``, which duckdb 2.0 removed.
    """
    try:
        return backend.table(name)
    except ibis_exc.TableNotFound:
        return None
