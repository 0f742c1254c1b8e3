"""Registered webhooks and the log of their deliveries."""

from __future__ import annotations

import json
import secrets

import duckdb

from segmint.store.workspace import utcnow

__all__ = [
    "create_webhook",
    "delete_webhook",
    "get_webhook",
    "list_deliveries",
    "list_webhooks",
    "pending_deliveries",
    "record_delivery",
]


def create_webhook(
    con: duckdb.DuckDBPyConnection,
    *,
    url: str,
    event_types: list[str],
    description: str | None = None,
    secret: str | None = None,
) -> dict:
    """Register a webhook; its signing secret is generated unless given."""
    webhook = {
        "webhook_id": "wh_" + secrets.token_hex(8),
        "url": url,
        "secret": secret or "whsec_" + secrets.token_urlsafe(32),
        "event_types": list(event_types),
        "description": description,
        "created_at": utcnow(),
    }
    con.execute(
        "INSERT INTO webhooks VALUES (?, ?, ?, ?, ?, ?, NULL)",
        [
            webhook["webhook_id"],
            url,
            webhook["secret"],
            json.dumps(webhook["event_types"]),
            description,
            webhook["created_at"],
        ],
    )
    return webhook


def list_webhooks(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Active webhooks, oldest first (with their secrets: callers decide what to show)."""
    rows = con.execute(
        """SELECT webhook_id, url, secret, event_types, description, created_at FROM webhooks
           WHERE deleted_at IS NULL ORDER BY created_at, webhook_id"""
    ).fetchall()
    return [_webhook(row) for row in rows]


def get_webhook(con: duckdb.DuckDBPyConnection, webhook_id: str) -> dict | None:
    rows = con.execute(
        """SELECT webhook_id, url, secret, event_types, description, created_at FROM webhooks
           WHERE webhook_id = ? AND deleted_at IS NULL""",
        [webhook_id],
    ).fetchall()
    return _webhook(rows[0]) if rows else None


def delete_webhook(con: duckdb.DuckDBPyConnection, webhook_id: str) -> bool:
    """Mark a webhook deleted; return whether it existed."""
    rows = con.execute(
        """UPDATE webhooks SET deleted_at = ? WHERE webhook_id = ? AND deleted_at IS NULL
           RETURNING webhook_id""",
        [utcnow(), webhook_id],
    ).fetchall()
    return bool(rows)


def _webhook(row: tuple) -> dict:
    webhook_id, url, secret, event_types, description, created_at = row
    return {
        "webhook_id": webhook_id,
        "url": url,
        "secret": secret,
        "event_types": json.loads(event_types),
        "description": description,
        "created_at": created_at,
    }


def record_delivery(con: duckdb.DuckDBPyConnection, delivery: dict) -> None:
    """Insert or update one delivery (keyed by ``delivery_id``)."""
    now = utcnow()
    con.execute(
        """INSERT INTO webhook_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (delivery_id) DO UPDATE SET status = excluded.status,
               attempts = excluded.attempts, response_code = excluded.response_code,
               error = excluded.error, updated_at = excluded.updated_at""",
        [
            delivery["delivery_id"],
            delivery["webhook_id"],
            delivery["event_type"],
            json.dumps(delivery["payload"], default=str),
            delivery["status"],
            int(delivery.get("attempts", 0)),
            delivery.get("response_code"),
            delivery.get("error"),
            delivery.get("created_at") or now,
            now,
        ],
    )


def list_deliveries(
    con: duckdb.DuckDBPyConnection, webhook_id: str, *, limit: int = 100
) -> list[dict]:
    """A webhook's deliveries, newest first."""
    rows = con.execute(
        """SELECT delivery_id, webhook_id, event_type, payload, status, attempts, response_code,
                  error, created_at, updated_at
           FROM webhook_deliveries WHERE webhook_id = ?
           ORDER BY created_at DESC, delivery_id LIMIT ?""",
        [webhook_id, limit],
    ).fetchall()
    keys = [
        "delivery_id",
        "webhook_id",
        "event_type",
        "payload",
        "status",
        "attempts",
        "response_code",
        "error",
        "created_at",
        "updated_at",
    ]
    out = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        item["payload"] = json.loads(item["payload"])
        out.append(item)
    return out


def pending_deliveries(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Deliveries not yet delivered or given up (to resume after a restart)."""
    rows = con.execute(
        """SELECT delivery_id, webhook_id, event_type, payload, attempts, created_at
           FROM webhook_deliveries WHERE status IN ('pending', 'retrying')
           ORDER BY created_at"""
    ).fetchall()
    return [
        {
            "delivery_id": r[0],
            "webhook_id": r[1],
            "event_type": r[2],
            "payload": json.loads(r[3]),
            "attempts": r[4],
            "created_at": r[5],
        }
        for r in rows
    ]
