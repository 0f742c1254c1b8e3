"""The webhook outbox and delivery log (tables ``webhook_outbox`` and ``webhook_deliveries``).

:func:`enqueue` runs inside the caller's transaction, the one that stores the notification's
cause, and fans each notification out to the webhooks subscribed to its type in SQL. The sender
(:class:`segmint.realtime.webhooks.WebhookSender`) then works only from these tables: it takes
each webhook's oldest row when that row is due (:func:`heads`), and either reschedules it
(:func:`reschedule`) or moves it to the log (:func:`finish`). Nothing waits in memory, so a
restart, graceful or not, loses nothing: a row is removed only after its final outcome is known
(at least once; receivers deduplicate on the delivery id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import duckdb

from segmint.store.workspace import utcnow

__all__ = [
    "Due",
    "cancel",
    "enqueue",
    "finish",
    "heads",
    "list_deliveries",
    "reschedule",
]


@dataclass(frozen=True)
class Due:
    """A webhook's oldest undelivered notification, with what is needed to send it."""

    seq: int
    delivery_id: str
    webhook_id: str
    event_type: str
    body: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    url: str
    secret: str  # as stored (sealed)


def encode(message: dict) -> str:
    """The JSON body of a notification (compact; sent byte for byte on every attempt)."""
    return json.dumps(message, separators=(",", ":"), default=str)


def enqueue(con: duckdb.DuckDBPyConnection, messages: list[dict]) -> int:
    """Queue notifications (``{"type", ...}``) for every live webhook subscribed to their type.

    Call it inside the transaction that stores what the notifications announce. Returns the
    number of rows queued (notifications times subscribed webhooks).
    """
    if not messages:
        return 0
    t = utcnow()
    # seq continues after the rows still queued (one process holds the workspace, so the
    # number cannot be taken twice); row_number keeps the notifications' own order
    rows = con.execute(
        """INSERT INTO webhook_outbox
               (seq, delivery_id, webhook_id, event_type, body, created_at, next_attempt_at,
                updated_at)
           SELECT (SELECT coalesce(max(seq), 0) FROM webhook_outbox)
                      + row_number() OVER (ORDER BY m.i, w.created_at, w.webhook_id),
                  'dlv_' || replace(CAST(uuid() AS VARCHAR), '-', ''), w.webhook_id, m.type,
                  m.body, ?, ?, ?
           FROM (SELECT unnest(?) AS type, unnest(?) AS body, unnest(?) AS i) AS m
           JOIN webhooks AS w ON w.deleted_at IS NULL
                AND list_contains(CAST(w.event_types AS VARCHAR[]), m.type)
           RETURNING seq""",
        [
            t,
            t,
            t,
            [m["type"] for m in messages],
            [encode(m) for m in messages],
            list(range(len(messages))),
        ],
    ).fetchall()
    return len(rows)


def heads(con: duckdb.DuckDBPyConnection, *, busy: list[str], limit: int = 1000) -> list[Due]:
    """Each live webhook's oldest queued row, soonest due first; webhooks in ``busy`` (a
    delivery in flight) are left out, so one webhook has one request in flight at a time and
    its notifications arrive in order."""
    rows = con.execute(
        """SELECT o.seq, o.delivery_id, o.webhook_id, o.event_type, o.body, o.created_at,
                  o.attempts, o.next_attempt_at, w.url, w.secret
           FROM webhook_outbox AS o JOIN webhooks AS w USING (webhook_id)
           WHERE w.deleted_at IS NULL AND NOT list_contains(CAST(? AS VARCHAR[]), o.webhook_id)
           QUALIFY row_number() OVER (PARTITION BY o.webhook_id ORDER BY o.seq) = 1
           ORDER BY o.next_attempt_at, o.seq LIMIT ?""",
        [busy, limit],
    ).fetchall()
    return [Due(*row) for row in rows]


def reschedule(
    con: duckdb.DuckDBPyConnection,
    delivery_id: str,
    *,
    attempts: int,
    next_attempt_at: datetime,
    response_code: int | None,
    error: str | None,
) -> None:
    """Record a failed attempt that will be retried at ``next_attempt_at``."""
    con.execute(
        """UPDATE webhook_outbox SET attempts = ?, next_attempt_at = ?, response_code = ?,
               error = ?, updated_at = ? WHERE delivery_id = ?""",
        [attempts, next_attempt_at, response_code, error, utcnow(), delivery_id],
    )


def _move_to_log(con: duckdb.DuckDBPyConnection, where: str, params: list, fields: list) -> int:
    """Move outbox rows to the log (inside the caller's transaction); ``fields`` are status,
    attempts, response_code, error (None keeps the row's own)."""
    moved = con.execute(
        f"""INSERT INTO webhook_deliveries
            SELECT delivery_id, webhook_id, event_type, CAST(body AS JSON), ?,
                   coalesce(?, attempts), coalesce(?, response_code), coalesce(?, error),
                   created_at, ?
            FROM webhook_outbox WHERE {where} RETURNING delivery_id""",
        [*fields, utcnow(), *params],
    ).fetchall()
    con.execute(f"DELETE FROM webhook_outbox WHERE {where}", params)
    return len(moved)


def finish(
    con: duckdb.DuckDBPyConnection,
    delivery_id: str,
    *,
    status: str,
    attempts: int,
    response_code: int | None,
    error: str | None,
) -> bool:
    """Record a final outcome (``delivered`` or ``failed``); False if the row is gone (its
    webhook was deleted meanwhile)."""
    con.execute("BEGIN TRANSACTION")
    try:
        moved = _move_to_log(
            con, "delivery_id = ?", [delivery_id], [status, attempts, response_code, error]
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return bool(moved)


def cancel(con: duckdb.DuckDBPyConnection, webhook_id: str) -> int:
    """Drop a deleted webhook's queued notifications (logged as ``cancelled``); call it in
    the transaction that deletes the webhook."""
    return _move_to_log(
        con, "webhook_id = ?", [webhook_id], ["cancelled", None, None, "webhook deleted"]
    )


_LOG_COLUMNS = [
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


def list_deliveries(
    con: duckdb.DuckDBPyConnection, webhook_id: str, *, limit: int = 100
) -> list[dict]:
    """A webhook's deliveries, newest first: finished ones from the log, and queued ones
    (``pending`` before the first attempt, ``retrying`` after)."""
    rows = con.execute(
        """SELECT * FROM (
               SELECT delivery_id, webhook_id, event_type, CAST(payload AS VARCHAR), status,
                      attempts, response_code, error, created_at, updated_at
               FROM webhook_deliveries WHERE webhook_id = ?
               UNION ALL
               SELECT delivery_id, webhook_id, event_type, body,
                      CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
                      attempts, response_code, error, created_at, updated_at
               FROM webhook_outbox WHERE webhook_id = ?)
           ORDER BY created_at DESC, delivery_id LIMIT ?""",
        [webhook_id, webhook_id, limit],
    ).fetchall()
    out = []
    for row in rows:
        item = dict(zip(_LOG_COLUMNS, row, strict=True))
        item["payload"] = json.loads(item["payload"])
        out.append(item)
    return out
