"""Registered webhooks; their signing secrets are sealed at rest (:mod:`segmint.store.sealing`).

What is waiting to be delivered and what was delivered are in :mod:`segmint.store.outbox`.
"""

from __future__ import annotations

import json
import secrets

import duckdb

from segmint.store import outbox
from segmint.store.sealing import SecretBox
from segmint.store.workspace import utcnow

__all__ = [
    "create_webhook",
    "delete_webhook",
    "count_withheld",
    "get_webhook",
    "list_webhooks",
    "seal_plaintext_secrets",
]


def create_webhook(
    con: duckdb.DuckDBPyConnection,
    *,
    url: str,
    event_types: list[str],
    box: SecretBox,
    description: str | None = None,
    secret: str | None = None,
    purpose: str = "personalisation",
    raw_ids: bool = False,
) -> dict:
    """Register a webhook; its signing secret is generated unless given, and returned here
    only (the row holds it sealed). Its notifications serve ``purpose`` (customers who have
    not consented to it are left out) and name customers by pseudonym unless ``raw_ids``."""
    webhook = {
        "webhook_id": "wh_" + secrets.token_hex(8),
        "url": url,
        "secret": secret or "whsec_" + secrets.token_urlsafe(32),
        "event_types": list(event_types),
        "description": description,
        "created_at": utcnow(),
        "purpose": purpose,
        "raw_ids": raw_ids,
        "withheld": 0,
    }
    con.execute(
        "INSERT INTO webhooks VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, 0)",
        [
            webhook["webhook_id"],
            url,
            box.seal(webhook["secret"], webhook["webhook_id"]),
            json.dumps(webhook["event_types"]),
            description,
            webhook["created_at"],
            purpose,
            raw_ids,
        ],
    )
    return webhook


def list_webhooks(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Active webhooks, oldest first (without their secrets)."""
    rows = con.execute(
        f"""SELECT {_COLUMNS} FROM webhooks
           WHERE deleted_at IS NULL ORDER BY created_at, webhook_id"""
    ).fetchall()
    return [_webhook(row) for row in rows]


def get_webhook(con: duckdb.DuckDBPyConnection, webhook_id: str) -> dict | None:
    rows = con.execute(
        f"""SELECT {_COLUMNS} FROM webhooks
           WHERE webhook_id = ? AND deleted_at IS NULL""",
        [webhook_id],
    ).fetchall()
    return _webhook(rows[0]) if rows else None


def delete_webhook(con: duckdb.DuckDBPyConnection, webhook_id: str) -> bool:
    """Mark a webhook deleted and cancel its queued notifications, in one transaction; return
    whether it existed."""
    con.execute("BEGIN TRANSACTION")
    try:
        rows = con.execute(
            """UPDATE webhooks SET deleted_at = ? WHERE webhook_id = ? AND deleted_at IS NULL
               RETURNING webhook_id""",
            [utcnow(), webhook_id],
        ).fetchall()
        outbox.cancel(con, webhook_id)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return bool(rows)


def seal_plaintext_secrets(con: duckdb.DuckDBPyConnection, box: SecretBox) -> int:
    """Seal the secrets that older workspaces stored in plaintext; return how many."""
    rows = con.execute("SELECT webhook_id, secret FROM webhooks").fetchall()
    plain = [(box.seal(s, w), w) for w, s in rows if not box.is_sealed(s)]
    if plain:
        con.executemany("UPDATE webhooks SET secret = ? WHERE webhook_id = ?", plain)
    return len(plain)


_COLUMNS = "webhook_id, url, event_types, description, created_at, purpose, raw_ids, withheld"


def count_withheld(con: duckdb.DuckDBPyConnection, counts: dict[str, int]) -> None:
    """Add to each webhook's count of notifications consent kept from it."""
    for webhook_id, n in counts.items():
        con.execute(
            "UPDATE webhooks SET withheld = withheld + ? WHERE webhook_id = ?", [n, webhook_id]
        )


def _webhook(row: tuple) -> dict:
    webhook_id, url, event_types, description, created_at, purpose, raw_ids, withheld = row
    return {
        "webhook_id": webhook_id,
        "url": url,
        "event_types": json.loads(event_types),
        "description": description,
        "created_at": created_at,
        "purpose": purpose,
        "raw_ids": bool(raw_ids),
        "withheld": int(withheld or 0),
    }
