"""Shared fixtures: canonical tables in an in-memory DuckDB database."""

from __future__ import annotations

import duckdb
import pytest

from segmint.schema import CUSTOMER_COLUMNS, TRANSACTION_COLUMNS


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create empty ``transactions`` and ``customers`` tables with the canonical types."""
    for name, columns in (("transactions", TRANSACTION_COLUMNS), ("customers", CUSTOMER_COLUMNS)):
        cols = ", ".join(f"{col} {typ}" for col, typ in columns.items())
        con.execute(f"CREATE TABLE {name} ({cols})")


def _insert_transactions(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """Insert rows (customer, order, ts, product, description, category, qty, price, is_return).

    ``amount`` is ``qty * price`` (negative for returns, whose qty is negative).
    """
    con.executemany(
        "INSERT INTO transactions VALUES (?, ?, CAST(? AS TIMESTAMP), ?, ?, ?, ?, ?, ?, 'web', ?)",
        [(c, o, ts, p, d, cat, q, u, q * u, r) for c, o, ts, p, d, cat, q, u, r in rows],
    )


@pytest.fixture
def con():
    connection = duckdb.connect()
    create_tables(connection)
    yield connection
    connection.close()


@pytest.fixture
def insert_transactions():
    """The row-inserting helper (a fixture, so test modules need not import this file)."""
    return _insert_transactions
