"""The webhook outbox and delivery log (tables ``webhook_outbox`` and ``webhook_deliveries``).

:func:`enqueue` runs inside the caller's transaction, the one that stores the notification's
cause, and fans each notification out to the webhooks subscribed to its type in SQL. The sender
(:class:`segmint.realtime.webhooks.WebhookSender`) then works only from these tables: it takes
each webhook's oldest row when that row is due (:func:`heads`), sends it and the rows behind it
(:func:`batch`), and records the outcomes in one transaction (:func:`settle`): moved to the log,
or rescheduled. Nothing waits in memory, so a restart, graceful or not, loses nothing: a row is
removed only after its final outcome is stored (at least once; receivers deduplicate on the
delivery id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from segmint.store.workspace import utcnow

__all__ = [
    "Due",
    "Outcome",
    "batch",
    "cancel",
    "enqueue",
    "heads",
    "list_deliveries",
    "settle",
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


def _created(message: dict, default: datetime) -> datetime:
    """A notification's creation time, naive UTC (``default`` if it has none)."""
    try:
        t = datetime.fromisoformat(str(message["created_at"]))
    except (KeyError, ValueError):
        return default
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def enqueue(con: duckdb.DuckDBPyConnection, messages: list[dict]) -> int:
    """Queue notifications (``{"type", "created_at", ...}``) for every live webhook that is
    subscribed to their type and was registered before they were created; a notification with
    a ``webhook_id`` (one made for that webhook: its consent purpose and pseudonyms) goes to
    that webhook only, without the key in its body.

    Call it inside the transaction that stores what the notifications announce (a webhook
    registered between a change and that transaction does not hear of the change). Returns
    the number of rows queued (notifications times subscribed webhooks).
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
                  m.body, m.created_at, ?, ?
           FROM (SELECT unnest(?) AS type, unnest(?) AS body, unnest(?) AS i,
                        unnest(CAST(? AS TIMESTAMP[])) AS created_at,
                        unnest(CAST(? AS VARCHAR[])) AS target) AS m
           JOIN webhooks AS w ON w.deleted_at IS NULL AND w.created_at <= m.created_at
                AND list_contains(CAST(w.event_types AS VARCHAR[]), m.type)
                AND coalesce(m.target = w.webhook_id, true)
           RETURNING seq""",
        [
            t,
            t,
            [m["type"] for m in messages],
            [encode({k: v for k, v in m.items() if k != "webhook_id"}) for m in messages],
            list(range(len(messages))),
            [_created(m, t) for m in messages],
            [m.get("webhook_id") for m in messages],
        ],
    ).fetchall()
    return len(rows)


_DUE = """SELECT o.seq, o.delivery_id, o.webhook_id, o.event_type, o.body, o.created_at,
                 o.attempts, o.next_attempt_at, w.url, w.secret
          FROM webhook_outbox AS o JOIN webhooks AS w USING (webhook_id)"""


def heads(con: duckdb.DuckDBPyConnection, *, busy: list[str], limit: int = 1000) -> list[Due]:
    """Each live webhook's oldest queued row, soonest due first; webhooks in ``busy`` (being
    delivered to) are left out, so each webhook's notifications go out in order."""
    # a hash aggregate, not a window: the sender asks after every batch, and a dead
    # receiver's backlog can be large (100,000 rows: 3 ms)
    rows = con.execute(
        f"""WITH h AS (SELECT webhook_id, min(seq) AS seq FROM webhook_outbox
                       WHERE NOT list_contains(CAST(? AS VARCHAR[]), webhook_id)
                       GROUP BY webhook_id)
            {_DUE} JOIN h USING (webhook_id, seq)
            WHERE w.deleted_at IS NULL
            ORDER BY o.next_attempt_at, o.seq LIMIT ?""",
        [busy, limit],
    ).fetchall()
    return [Due(*row) for row in rows]


def batch(con: duckdb.DuckDBPyConnection, webhook_id: str, *, limit: int) -> list[Due]:
    """A live webhook's oldest ``limit`` queued rows, in order."""
    rows = con.execute(
        f"""{_DUE} WHERE o.webhook_id = ? AND w.deleted_at IS NULL ORDER BY o.seq LIMIT ?""",
        [webhook_id, limit],
    ).fetchall()
    return [Due(*row) for row in rows]


@dataclass(frozen=True)
class Outcome:
    """What became of one queued row: ``delivered`` or ``failed`` (moved to the log), or
    ``retry`` (stays queued until ``next_attempt_at``)."""

    seq: int
    delivery_id: str
    status: str
    attempts: int
    response_code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


def settle(con: duckdb.DuckDBPyConnection, outcomes: list[Outcome]) -> None:
    """Record outcomes in one transaction (one commit for a batch of deliveries). Rows no
    longer queued (their webhook was deleted meanwhile) are skipped. A row is matched on
    ``seq`` too, so that DuckDB skips row groups (rows are appended in ``seq`` order)."""
    final = [o for o in outcomes if o.status != "retry"]
    retry = [o for o in outcomes if o.status == "retry"]
    t = utcnow()
    con.execute("BEGIN TRANSACTION")
    try:
        if final:
            seqs = [o.seq for o in final]
            ids = [o.delivery_id for o in final]
            con.execute(
                """INSERT INTO webhook_deliveries
                   SELECT o.delivery_id, o.webhook_id, o.event_type, CAST(o.body AS JSON),
                          r.status, r.attempts, r.code, r.error, o.created_at, ?
                   FROM webhook_outbox AS o JOIN (
                       SELECT unnest(CAST(? AS BIGINT[])) AS seq,
                              unnest(CAST(? AS VARCHAR[])) AS delivery_id,
                              unnest(CAST(? AS VARCHAR[])) AS status,
                              unnest(CAST(? AS INTEGER[])) AS attempts,
                              unnest(CAST(? AS INTEGER[])) AS code,
                              unnest(CAST(? AS VARCHAR[])) AS error) AS r
                   USING (seq, delivery_id)""",
                [
                    t,
                    seqs,
                    ids,
                    [o.status for o in final],
                    [o.attempts for o in final],
                    [o.response_code for o in final],
                    [o.error for o in final],
                ],
            )
            con.execute(
                """DELETE FROM webhook_outbox WHERE seq BETWEEN ? AND ?
                   AND list_contains(CAST(? AS VARCHAR[]), delivery_id)""",
                [min(seqs), max(seqs), ids],
            )
        for o in retry:
            con.execute(
                """UPDATE webhook_outbox SET attempts = ?, next_attempt_at = ?,
                       response_code = ?, error = ?, updated_at = ?
                   WHERE seq = ? AND delivery_id = ?""",
                [o.attempts, o.next_attempt_at, o.response_code, o.error, t, o.seq, o.delivery_id],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def cancel(con: duckdb.DuckDBPyConnection, webhook_id: str) -> int:
    """Drop a deleted webhook's queued notifications (logged as ``cancelled``); call it in
    the transaction that deletes the webhook."""
    moved = con.execute(
        """INSERT INTO webhook_deliveries
           SELECT delivery_id, webhook_id, event_type, CAST(body AS JSON), 'cancelled',
                  attempts, response_code, 'webhook deleted', created_at, ?
           FROM webhook_outbox WHERE webhook_id = ? RETURNING delivery_id""",
        [utcnow(), webhook_id],
    ).fetchall()
    con.execute("DELETE FROM webhook_outbox WHERE webhook_id = ?", [webhook_id])
    return len(moved)


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
    return [
        {**dict(zip(_LOG_COLUMNS, row, strict=True)), "payload": json.loads(row[3])} for row in rows
    ]
