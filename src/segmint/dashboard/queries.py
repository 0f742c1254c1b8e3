"""What the dashboard's pages read from the workspace, in DuckDB SQL.

Member lists are read from the service's live membership (every customer's segment now, as an
Arrow table registered on the reading connection) joined with the run's features and the latest
predictions, so that a customer who moved a minute ago is listed where they are now; filtering,
sorting and paging are one query, whatever the number of customers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from segmint.store.runs import features_table

__all__ = [
    "SORTS",
    "MemberPage",
    "consent_history",
    "customer_timeline",
    "erasures",
    "ledger_checkpoints",
    "live_table",
    "member_page",
    "member_rows",
    "segment_history",
]

LIVE_VIEW = "_dashboard_live"

#: sortable member columns: key -> (SQL expression, heading, default descending)
SORTS: dict[str, tuple[str, str, bool]] = {
    "clv": ("p.clv", "Expected value", True),
    "churn": ("p.churn_risk", "Risk of leaving", True),
    "spend": ("f.monetary", "Spend so far", True),
    "orders": ("f.frequency", "Orders", True),
    "recency": ("f.recency_days", "Days since last order", False),
    "fit": ("l.confidence", "How well they fit", True),
    "id": ("l.customer_id", "Customer", False),
}


@dataclass
class MemberPage:
    rows: list[dict]
    total: int
    withheld: int
    page: int
    pages: int
    size: int
    sort: str
    descending: bool


def live_table(
    ids: list[str], seg: np.ndarray, micro: list[str | None], conf: np.ndarray, allowed: np.ndarray
) -> pa.Table:
    """Every live customer's segment now, and whether the page's purpose permits them."""
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.string()),
            "segment_id": pa.array(seg, pa.int32()),
            "micro_segment_id": pa.array(micro, pa.string()),
            "confidence": pa.array(conf, pa.float32()),
            "allowed": pa.array(allowed, pa.bool_()),
        }
    )


def _prediction_run(con: duckdb.DuckDBPyConnection, run_id: int) -> int | None:
    rows = con.execute(
        "SELECT max(run_id) FILTER (WHERE run_id = ?), max(run_id) FROM predictions", [run_id]
    ).fetchall()
    same, latest = rows[0]
    return same if same is not None else latest


def _member_sql(
    con: duckdb.DuckDBPyConnection, run_id: int, where: str, columns: str
) -> tuple[str, dict]:
    predicted = _prediction_run(con, run_id)
    sql = f"""
        WITH p AS (SELECT customer_id, clv, churn_risk FROM predictions WHERE run_id = $pr)
        SELECT {columns}
        FROM {LIVE_VIEW} l
        LEFT JOIN {features_table(run_id)} f USING (customer_id)
        LEFT JOIN p USING (customer_id)
        LEFT JOIN micro_segments m ON m.run_id = $run AND m.micro_segment_id = l.micro_segment_id
        WHERE {where}"""
    return sql, {"pr": predicted if predicted is not None else -1, "run": run_id}


def _where(segment_id: int | None, micro_id: str | None, search: str | None) -> tuple[str, dict]:
    clauses, params = ["TRUE"], {}
    if segment_id is not None:
        clauses.append("l.segment_id = $seg")
        params["seg"] = segment_id
    if micro_id is not None:
        clauses.append("l.micro_segment_id = $micro")
        params["micro"] = micro_id
    if search:
        clauses.append("contains(lower(l.customer_id), lower($q))")
        params["q"] = search
    return " AND ".join(clauses), params


_MEMBER_COLUMNS = """l.customer_id, l.segment_id, l.micro_segment_id, m.name AS micro_segment,
    f.monetary AS spend, f.frequency AS orders, f.recency_days, p.clv, p.churn_risk,
    l.confidence"""


def member_page(
    con: duckdb.DuckDBPyConnection,
    live: pa.Table,
    run_id: int,
    *,
    segment_id: int | None = None,
    micro_id: str | None = None,
    search: str | None = None,
    sort: str = "clv",
    descending: bool | None = None,
    page: int = 1,
    size: int = 50,
) -> MemberPage:
    """One page of a segment's (or micro-segment's) members the page's purpose permits."""
    expr, _, default_desc = SORTS.get(sort, SORTS["clv"])
    sort = sort if sort in SORTS else "clv"
    descending = default_desc if descending is None else descending
    where, params = _where(segment_id, micro_id, search)
    con.register(LIVE_VIEW, live)
    try:
        (withheld,) = con.execute(
            f"SELECT count(*) FILTER (WHERE NOT l.allowed) FROM {LIVE_VIEW} l WHERE {where}",
            params,
        ).fetchall()[0]
        sql, more = _member_sql(
            con, run_id, where + " AND l.allowed", _MEMBER_COLUMNS + ", count(*) OVER () AS n"
        )
        page = max(page, 1)
        order = f"{expr} {'DESC' if descending else 'ASC'} NULLS LAST, l.customer_id"
        rel = con.execute(
            f"{sql} ORDER BY {order} LIMIT {int(size)} OFFSET {int((page - 1) * size)}",
            {**params, **more},
        )
        names = [d[0] for d in rel.description]
        rows = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
    finally:
        con.unregister(LIVE_VIEW)
    total = rows[0].pop("n") if rows else _count(con, live, where, params)
    for r in rows:
        r.pop("n", None)
    pages = max(1, -(-total // size))
    return MemberPage(rows, total, withheld, page, pages, size, sort, descending)


def _count(con: duckdb.DuckDBPyConnection, live: pa.Table, where: str, params: dict) -> int:
    con.register(LIVE_VIEW, live)
    try:
        return con.execute(
            f"SELECT count(*) FROM {LIVE_VIEW} l WHERE {where} AND l.allowed", params
        ).fetchall()[0][0]
    finally:
        con.unregister(LIVE_VIEW)


def member_rows(
    con: duckdb.DuckDBPyConnection,
    live: pa.Table,
    run_id: int,
    *,
    segment_id: int | None,
    micro_id: str | None,
    search: str | None,
) -> pa.Table:
    """Every member of a view the purpose permits, by id, for an export."""
    where, params = _where(segment_id, micro_id, search)
    sql, more = _member_sql(
        con,
        run_id,
        where + " AND l.allowed",
        """l.customer_id, l.segment_id, l.micro_segment_id, m.name AS micro_segment,
           f.monetary AS spend, f.frequency AS orders, f.recency_days, p.clv, p.churn_risk""",
    )
    con.register(LIVE_VIEW, live)
    try:
        return con.execute(sql + " ORDER BY l.customer_id", {**params, **more}).to_arrow_table()
    finally:
        con.unregister(LIVE_VIEW)


def _rows(rel: duckdb.DuckDBPyConnection) -> list[dict]:
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def segment_history(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[dict]:
    """The customer's segment in every stored run, newest first."""
    return _rows(
        con.execute(
            """SELECT r.run_id, r.created_at, r.as_of, s.name AS segment, a.segment_id,
                      m.name AS micro_segment, a.confidence
               FROM assignments a JOIN runs r USING (run_id)
               LEFT JOIN segments s USING (run_id, segment_id)
               LEFT JOIN micro_segments m
                 ON m.run_id = a.run_id AND m.micro_segment_id = a.micro_segment_id
               WHERE a.customer_id = ? ORDER BY r.run_id DESC""",
            [customer_id],
        )
    )


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
        ).fetchall()[0][0]
    )


def customer_timeline(
    con: duckdb.DuckDBPyConnection, customer_id: str, *, limit: int = 200
) -> list[dict]:
    """Orders (one entry per order), web/app, social and device events and conversation
    messages, newest first: ``ts``, ``kind``, ``title``, ``detail``, ``amount``."""
    parts = [
        """SELECT max(ts) AS ts, 'order' AS kind,
                  CASE WHEN bool_and(is_return) THEN 'Return' ELSE 'Order' END
                    || ' ' || order_id AS title,
                  string_agg(DISTINCT coalesce(category, description, product_id), ', ')
                    AS detail,
                  sum(amount) AS amount
           FROM transactions WHERE customer_id = $c GROUP BY order_id"""
    ]
    if _exists(con, "events"):
        parts.append(
            """SELECT ts, coalesce(source, 'event') AS kind, replace(type, '_', ' ') AS title,
                      left(CAST(properties AS VARCHAR), 160) AS detail, NULL AS amount
               FROM events WHERE customer_id = $c AND type <> 'purchase'"""
        )
    if _exists(con, "messages"):
        parts.append(
            """SELECT ts, 'conversation' AS kind,
                      coalesce(role, 'message') || ' via ' || coalesce(channel, 'chat') AS title,
                      left(text, 240) AS detail, NULL AS amount
               FROM messages WHERE customer_id = $c"""
        )
    sql = " UNION ALL ".join(f"({p})" for p in parts)
    return _rows(con.execute(f"{sql} ORDER BY ts DESC LIMIT {int(limit)}", {"c": customer_id}))


def consent_history(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[dict]:
    """The customer's consent ledger entries, newest first."""
    if not _exists(con, "consent_ledger"):
        return []
    return _rows(
        con.execute(
            """SELECT l.seq, l.ts, l.purpose, l.status
               FROM consent_ledger l JOIN consent_subjects s USING (customer_ref)
               WHERE s.customer_id = ? ORDER BY l.seq DESC LIMIT 200""",
            [customer_id],
        )
    )


def ledger_checkpoints(con: duckdb.DuckDBPyConnection, *, limit: int = 20) -> list[dict]:
    """The consent ledger's latest signed checkpoints, newest first."""
    if not _exists(con, "consent_checkpoints"):
        return []
    rows = _rows(
        con.execute(f"SELECT * FROM consent_checkpoints ORDER BY 1 DESC LIMIT {int(limit)}")
    )
    return [{k: v for k, v in r.items() if k not in ("signature",)} for r in rows]


def erasures(con: duckdb.DuckDBPyConnection, *, limit: int = 50) -> dict[str, Any]:
    """How many customers were erased, and the latest erasure requests from the audit log
    (customers named only by keyed hash)."""
    total = 0
    if _exists(con, "erased_customers"):
        total = con.execute("SELECT count(*) FROM erased_customers").fetchall()[0][0]
    recent: list[dict] = []
    if _exists(con, "audit_log"):
        recent = _rows(
            con.execute(
                f"""SELECT ts, actor, target, detail FROM audit_log
                    WHERE action = 'erase'
                    ORDER BY seq DESC LIMIT {int(limit)}"""
            )
        )
        for r in recent:
            if isinstance(r.get("detail"), str):
                try:
                    r["detail"] = json.loads(r["detail"])
                except ValueError:
                    pass
    return {"total": int(total), "recent": recent}
