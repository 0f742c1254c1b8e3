"""Erasure: a customer's personal data removed from every table of the workspace.

The person is the customer id and every identifier the identities table links to it (emails,
phones, cookies, devices): rows under any of them go from transactions, events, messages,
identities, customers, every run's features, assignments and predictions, and webhook
notifications that name them; an ingest's rejected-row examples have them blanked. Segment
sizes, profiles and other aggregates of earlier runs stay (reports say they predate the
erasure). Each id is remembered only as a keyed hash in ``erased_customers``, so their data
ingested again stays out of every output (:mod:`segmint.consent.permitted`).

Deleted rows still lie in the database file's free blocks until it is rewritten:
:meth:`segmint.store.workspace.Workspace.compact` does that, and ``segmint erase`` calls it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from segmint.consent.permitted import ERASED_KEY
from segmint.consent.pseudonym import destination_key, pseudonym
from segmint.store.workspace import utcnow

__all__ = ["Erasure", "erase_customer", "person_ids"]

#: tables whose rows belong to one customer id, and the column that holds it
_BY_CUSTOMER = (
    "transactions",
    "events",
    "messages",
    "customers",
    "assignments",
    "predictions",
    "campaign_members",
    "recommendations",
)
_ERASED = "[erased]"


@dataclass
class Erasure:
    """What one erasure removed: the ids of the person, rows per table, and the keyed hash
    the customer is remembered by."""

    customer_id: str
    ids: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    ref: str = ""

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def to_dict(self) -> dict:
        return {"ref": self.ref, "ids": len(self.ids), "rows": self.rows, "total": self.total}


def person_ids(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[str]:
    """The customer id and every identifier linked to it, the customer's own first."""
    rows = con.execute(
        """SELECT DISTINCT identifier FROM identities WHERE customer_id = ? AND identifier <> ?
           ORDER BY 1""",
        [customer_id, customer_id],
    ).fetchall()
    return [customer_id, *(r[0] for r in rows)]


def erase_customer(con: duckdb.DuckDBPyConnection, directory: Path, customer_id: str) -> Erasure:
    """Delete the person's rows from every table (in the caller's transaction)."""
    ids = person_ids(con, customer_id)
    done = Erasure(customer_id, ids)
    con.register("_erase_ids", pd.DataFrame({"id": ids}))
    try:
        for table in (*_BY_CUSTOMER, *_run_feature_tables(con)):
            done.rows[table] = _delete(con, table, "customer_id IN (SELECT id FROM _erase_ids)")
        done.rows["identities"] = _delete(
            con,
            "identities",
            "customer_id IN (SELECT id FROM _erase_ids) "
            "OR identifier IN (SELECT id FROM _erase_ids)",
        )
        # notifications are JSON text: a row naming any of the ids goes (as JSON strings)
        needles = [json.dumps(i) for i in ids]
        done.rows["webhook_outbox"] = _delete_naming(con, "webhook_outbox", "body", needles)
        done.rows["webhook_deliveries"] = _delete_naming(
            con, "webhook_deliveries", "CAST(payload AS VARCHAR)", needles
        )
        _blank_examples(con, ids)
    finally:
        con.unregister("_erase_ids")
    key = destination_key(con, directory, ERASED_KEY)
    done.ref = pseudonym(key, customer_id)
    con.execute(
        "INSERT OR IGNORE INTO erased_customers SELECT unnest(?), ?",
        [[pseudonym(key, i) for i in ids], utcnow()],
    )
    return done


def _run_feature_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        """SELECT table_name FROM duckdb_tables()
           WHERE database_name = current_database() AND schema_name = 'main'
             AND table_name LIKE 'run\\_features\\_%' ESCAPE '\\' ORDER BY 1"""
    ).fetchall()
    return [r[0] for r in rows]


def _delete(con: duckdb.DuckDBPyConnection, table: str, condition: str) -> int:
    rows = con.execute(f"DELETE FROM {table} WHERE {condition} RETURNING 1").fetchall()
    return len(rows)


def _delete_naming(
    con: duckdb.DuckDBPyConnection, table: str, text: str, needles: list[str]
) -> int:
    cond = " OR ".join(f"contains({text}, ?)" for _ in needles)
    rows = con.execute(f"DELETE FROM {table} WHERE {cond} RETURNING 1", needles).fetchall()
    return len(rows)


def _blank_examples(con: duckdb.DuckDBPyConnection, ids: list[str]) -> None:
    """Rejected-row examples of past ingests quote rows as they were: blank the ids there."""
    for i in {*ids, *(json.dumps(i)[1:-1] for i in ids)}:
        con.execute(
            """UPDATE ingests SET rejected = replace(CAST(rejected AS VARCHAR), ?, ?)
               WHERE contains(CAST(rejected AS VARCHAR), ?)""",
            [i, _ERASED, i],
        )
