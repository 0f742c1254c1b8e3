"""Move staged rows (see ``segmint.io.validate``) into the workspace's canonical tables.

Callers run these inside :meth:`Workspace.transaction`, so a failure stores nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

from segmint.io.validate import STAGE_CUSTOMERS, STAGE_TRANSACTIONS, StageReport, stage_table
from segmint.schema import SourceTable
from segmint.store.customers import upsert_customers

#: staged lines sorted and stored per statement. Sorting a whole file by customer spilled beyond
#: memory and doubled the store step at 5M customers (108M lines: 173.8 s against 81.6 s in
#: a one-off copy), while the 1M customers' 21.7M lines sorted in memory for about nothing
#: (19.3 s against 18.9 s). Chunks sorted on their own cluster as well for a range of ids: in
#: each chunk it spans about its share of the row groups.
STORE_CHUNK_LINES = 16_000_000


def load_transactions(
    con: duckdb.DuckDBPyConnection, report: StageReport, *, fingerprint: str
) -> int:
    """Append the staged usable transaction rows not already stored; return rows added.

    Also creates or updates the customers seen in these rows (first_seen, country) and records
    the ingest with its reject counts.
    """
    (before,) = con.execute("SELECT count(*) FROM transactions").fetchall()[0]
    content = "hash(customer_id, order_id, ts, product_id, quantity, unit_price, amount, is_return)"

    def usable(where: str = "") -> str:
        return f"(SELECT *, {content} AS h FROM {STAGE_TRANSACTIONS} WHERE _reason IS NULL{where})"

    # only lines repeated inside the file need the (costly) occurrence window; finding them is
    # one hash aggregate, and the inserts below scan the staging table without copying it
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _repeated AS
            SELECT h FROM {usable()} GROUP BY h HAVING count(*) > 1"""
    )
    (repeated,) = con.execute("SELECT count(*) FROM _repeated").fetchall()[0]
    # row ids of a table created in this transaction start far above 0
    (first, last) = con.execute(
        f"SELECT min(rowid), max(rowid) FROM {STAGE_TRANSACTIONS}"
    ).fetchall()[0]
    columns = (
        "customer_id, order_id, ts, product_id, description, category, quantity, unit_price, "
        "amount, channel, is_return"
    )
    once = f"SELECT {columns}, hash(h, 1) AS line_key FROM {usable(' AND rowid BETWEEN ? AND ?')}"
    if repeated:  # else a second full scan of the staged lines for nothing
        once += " ANTI JOIN _repeated USING (h)"
    keyed = [
        (once, [start, start + STORE_CHUNK_LINES - 1])
        for start in (range(first, last + 1, STORE_CHUNK_LINES) if first is not None else ())
    ]
    if repeated:
        keyed.append(
            (
                f"""SELECT {columns}, hash(h, row_number() OVER (PARTITION BY h)) AS line_key
                    FROM {usable()} SEMI JOIN _repeated USING (h)""",
                [],
            )
        )
    already, span = "", []
    if before:
        # a stored line can only match a line of this file if it has its time (the key hashes
        # it), so the join builds on the stored keys of the file's time range, not on them all
        already = "ANTI JOIN (SELECT line_key FROM transactions WHERE ts BETWEEN ? AND ?) "
        already += "USING (line_key)"
        span = list(
            con.execute(
                f"SELECT min(ts), max(ts) FROM {STAGE_TRANSACTIONS} WHERE _reason IS NULL"
            ).fetchall()[0]
        )
    for query, params in keyed:
        # stored in customer order a chunk at a time (each chunk's sort fits in memory), a
        # file's lines fill row groups of few customers each, and the features of a range of
        # customers skip the other row groups by their statistics
        con.execute(
            f"INSERT INTO transactions SELECT * FROM ({query}) {already} ORDER BY customer_id",
            params + span,
        )
    con.execute("DROP TABLE _repeated")
    (after,) = con.execute("SELECT count(*) FROM transactions").fetchall()[0]
    added = after - before
    upsert_customers(
        con,
        f"""SELECT customer_id, min(ts), arg_max(country, ts), NULL
            FROM {STAGE_TRANSACTIONS} WHERE _reason IS NULL GROUP BY customer_id""",
    )
    record_ingest(con, "transactions", report, fingerprint, added)
    return added


def load_customers(con: duckdb.DuckDBPyConnection, report: StageReport, *, fingerprint: str) -> int:
    """Insert or update the staged customers; return the number of distinct customers given."""
    upsert_customers(
        con,
        f"""SELECT customer_id, min(first_seen), last(country), last(attributes)
            FROM {STAGE_CUSTOMERS} WHERE _reason IS NULL GROUP BY customer_id""",
        authoritative=True,
    )
    given = con.execute(
        f"SELECT count(DISTINCT customer_id) FROM {STAGE_CUSTOMERS} WHERE _reason IS NULL"
    ).fetchall()[0][0]
    record_ingest(con, "customers", report, fingerprint, given)
    return given


def load_source(
    con: duckdb.DuckDBPyConnection, table: SourceTable, report: StageReport, *, fingerprint: str
) -> int:
    """Append the staged usable rows of ``table`` whose key is not stored yet (nor repeated
    earlier in the file); return the rows added."""
    key = ", ".join(table.key)
    columns = ", ".join(table.columns)
    (before,) = con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0]
    con.execute(
        # an id given twice in the file is stored once, as its first row in time; rows are
        # stored in customer order, so a range of customers skips other row groups (features)
        f"""INSERT INTO {table.name}
            SELECT {columns} FROM (
                SELECT {columns} FROM {stage_table(table)} WHERE _reason IS NULL
                QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY ts) = 1
            ) ANTI JOIN {table.name} USING ({key})
            ORDER BY customer_id"""
        if "ts" in table.columns
        else f"""INSERT INTO {table.name}
            SELECT DISTINCT {columns} FROM {stage_table(table)} WHERE _reason IS NULL
            EXCEPT SELECT {columns} FROM {table.name}"""
    )
    (after,) = con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0]
    record_ingest(con, table.name, report, fingerprint, after - before)
    return after - before


def record_ingest(
    con: duckdb.DuckDBPyConnection, kind: str, report: StageReport, fingerprint: str, loaded: int
) -> None:
    """Add a row to ``ingests``: what one file of ``kind`` gave and how much of it was new."""
    con.execute(
        """
        INSERT INTO ingests
        SELECT coalesce(max(ingest_id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ? FROM ingests
        """,
        [
            kind,
            report.source,
            fingerprint,
            datetime.now(UTC).replace(tzinfo=None),
            report.rows_read,
            loaded,
            report.rows_usable - loaded if kind != "customers" else 0,
            json.dumps(report.rejected),
        ],
    )


def ingest_history(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every ingest so far, oldest first, as dicts for reports and ``--json``."""
    rows = con.execute(
        """SELECT ingest_id, kind, source, fingerprint, created_at, rows_read, rows_loaded,
                  rows_duplicate, rejected FROM ingests ORDER BY ingest_id"""
    ).fetchall()
    keys = [
        "ingest_id",
        "kind",
        "source",
        "fingerprint",
        "created_at",
        "rows_read",
        "rows_loaded",
        "rows_duplicate",
        "rejected",
    ]
    out = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        item["created_at"] = item["created_at"].isoformat()
        item["rejected"] = json.loads(item["rejected"])
        out.append(item)
    return out
