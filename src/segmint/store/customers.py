"""The one customers upsert, shared by file ingest and event ingest."""

from __future__ import annotations

import hashlib

import duckdb

__all__ = ["customers_fingerprint", "upsert_customers"]

_GIVEN = "_upsert_customers"


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
    # One UPDATE joined on the key and one INSERT of the new keys, instead of INSERT ... ON
    # CONFLICT DO UPDATE: that probes and updates row by row, and took 10x the time for 2x the
    # customers (2.4 s at 1M, 24.6 s at 2M). Only rows whose values change are rewritten, so
    # loading the same customers again writes nothing.
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_GIVEN} AS SELECT * FROM customers LIMIT 0")
    con.execute(f"INSERT INTO {_GIVEN} {rows}")
    first, then = ("g", "c") if authoritative else ("c", "g")
    merged = {
        "first_seen": "least(c.first_seen, g.first_seen)",
        "country": f"coalesce({first}.country, {then}.country)",
        "attributes": f"coalesce({first}.attributes, {then}.attributes)",
    }
    changed = " OR ".join(f"{expr} IS DISTINCT FROM c.{name}" for name, expr in merged.items())
    con.execute(
        f"""UPDATE customers AS c SET {", ".join(f"{k} = {v}" for k, v in merged.items())}
            FROM {_GIVEN} AS g WHERE c.customer_id = g.customer_id AND ({changed})"""
    )
    con.execute(
        f"INSERT INTO customers SELECT * FROM {_GIVEN} ANTI JOIN customers USING (customer_id)"
    )
    con.execute(f"DROP TABLE {_GIVEN}")


def customers_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """A short hash of the stored customers and their attributes (for runs on customers alone)."""
    row = con.execute(
        """SELECT count(*), coalesce(sum(hash(customer_id, attributes::VARCHAR)::HUGEINT), 0)
           FROM customers"""
    ).fetchall()[0]
    return hashlib.sha256(repr(row).encode()).hexdigest()[:16]
