"""The one customers upsert, shared by file ingest and event ingest."""

from __future__ import annotations

import hashlib

import duckdb

__all__ = ["customers_fingerprint", "upsert_customers"]


def upsert_customers(
    con: duckdb.DuckDBPyConnection, rows: str, *, authoritative: bool = False
) -> None:
    """Create the customers in ``rows`` or update the stored ones.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The workspace connection (callers hold the transaction).
    rows : str
        A query giving one row per customer: ``customer_id, first_seen, country, attributes``.
    authoritative : bool, default=False
        Whether ``rows`` describe the customers (a customers file): then their country and
        attributes replace the stored ones where given. Otherwise (transactions, events) they
        only fill what is missing.

    ``first_seen`` only ever moves earlier.
    """
    first, then = ("excluded", "customers") if authoritative else ("customers", "excluded")
    con.execute(
        f"""INSERT INTO customers {rows}
            ON CONFLICT (customer_id) DO UPDATE SET
                first_seen = least(customers.first_seen, excluded.first_seen),
                country = coalesce({first}.country, {then}.country),
                attributes = coalesce({first}.attributes, {then}.attributes)"""
    )


def customers_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """A short hash of the stored customers and their attributes (for runs on customers alone)."""
    row = con.execute(
        """SELECT count(*), coalesce(sum(hash(customer_id, attributes::VARCHAR)::HUGEINT), 0)
           FROM customers"""
    ).fetchall()[0]
    return hashlib.sha256(repr(row).encode()).hexdigest()[:16]
