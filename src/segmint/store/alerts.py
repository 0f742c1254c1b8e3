"""Alerts raised by change detection."""

from __future__ import annotations

import json

import duckdb

from segmint.store import outbox
from segmint.store.workspace import utcnow

__all__ = ["list_alerts", "record_alert"]


def record_alert(
    con: duckdb.DuckDBPyConnection, alert: dict, *, notification: dict | None = None
) -> None:
    """Store an alert and, in the same transaction, queue its webhook notification."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                alert["alert_id"],
                alert.get("created_at") or utcnow(),
                alert.get("run_id"),
                alert.get("segment_id"),
                alert["metric"],
                alert["message"],
                json.dumps(alert.get("evidence", {}), default=str),
            ],
        )
        if notification is not None:
            outbox.enqueue(con, [notification])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def list_alerts(con: duckdb.DuckDBPyConnection, *, limit: int = 100) -> list[dict]:
    """Alerts, newest first."""
    rows = con.execute(
        """SELECT alert_id, created_at, run_id, segment_id, metric, message, evidence
           FROM alerts ORDER BY created_at DESC, alert_id LIMIT ?""",
        [limit],
    ).fetchall()
    keys = ["alert_id", "created_at", "run_id", "segment_id", "metric", "message", "evidence"]
    out = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        item["evidence"] = json.loads(item["evidence"])
        out.append(item)
    return out
