"""DuckDB persistence of the real-time service: API keys, events, webhooks, deliveries, alerts.

Every statement binds its values as parameters. Functions take an open connection and keyword
arguments; the service calls them from one thread at a time per connection.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np

from segmint.errors import SegmintError

__all__ = [
    "KEY_SCOPES",
    "ApiKey",
    "applied_seq",
    "create_key",
    "hash_token",
    "list_keys",
    "load_event_id_digests",
    "revoke_key",
    "split_token",
    "store_event_json",
]

#: what each scope may do: ``ingest`` sends events, ``read`` reads, ``admin`` does everything
KEY_SCOPES = ("ingest", "read", "admin")
TOKEN_PREFIX = "sgm"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------- API keys


class KeyNotFoundError(SegmintError, LookupError):
    """An API key id that the workspace does not hold."""


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored (never the secret itself)."""

    key_id: str
    scope: str
    name: str | None
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict:
        return {
            "key_id": self.key_id,
            "scope": self.scope,
            "name": self.name,
            "created_at": self.created_at.isoformat(timespec="seconds") + "Z",
            "revoked_at": (
                self.revoked_at.isoformat(timespec="seconds") + "Z" if self.revoked_at else None
            ),
        }


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a whole token (tokens carry 256 random bits, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def split_token(token: str) -> str | None:
    """The key id inside a token ``sgm_<key_id>_<secret>``, or None if it is not one."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def token_matches(token: str, key: ApiKey) -> bool:
    """Constant-time comparison of a presented token with a stored key."""
    return hmac.compare_digest(hash_token(token), key.key_hash)


def create_key(
    con: duckdb.DuckDBPyConnection, *, scope: str, name: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; return it and its token (shown once, never stored)."""
    if scope not in KEY_SCOPES:
        raise SegmintError(f"unknown scope {scope!r}; expected one of {', '.join(KEY_SCOPES)}")
    key_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(key_id, scope, name, hash_token(token), _now())
    con.execute(
        "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
        [key.key_id, key.scope, key.name, key.key_hash, key.created_at],
    )
    return key, token


def list_keys(con: duckdb.DuckDBPyConnection, *, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, oldest first."""
    rows = con.execute(
        """SELECT key_id, scope, name, key_hash, created_at, revoked_at FROM api_keys
           WHERE ? OR revoked_at IS NULL ORDER BY created_at, key_id""",
        [include_revoked],
    ).fetchall()
    return [ApiKey(*row) for row in rows]


def revoke_key(con: duckdb.DuckDBPyConnection, key_id: str) -> ApiKey:
    """Revoke a key (idempotent); raise if there is no such key."""
    rows = con.execute(
        """UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE key_id = ?
           RETURNING key_id, scope, name, key_hash, created_at, revoked_at""",
        [_now(), key_id],
    ).fetchall()
    if not rows:
        raise KeyNotFoundError(f"no API key {key_id!r}; see `segmint keys list`")
    return ApiKey(*rows[0])


# --------------------------------------------------------------------------- events


def applied_seq(con: duckdb.DuckDBPyConnection) -> int:
    """Sequence number of the last write-ahead-log record stored in the database."""
    return int(
        con.execute("SELECT applied_seq FROM service_wal_state WHERE id = 1").fetchall()[0][0]
    )


def load_event_id_digests(con: duckdb.DuckDBPyConnection) -> tuple[np.ndarray, np.ndarray]:
    """The MD5 digest halves (upper, lower; UBIGINT) of every stored event id, computed in
    DuckDB, for idempotency across restarts without holding the ids as strings."""
    got = con.execute(
        "SELECT md5_number_upper(event_id) AS upper, md5_number_lower(event_id) AS lower "
        "FROM events"
    ).fetchnumpy()
    return np.asarray(got["upper"], dtype=np.uint64), np.asarray(got["lower"], dtype=np.uint64)


#: the shape of one write-ahead-log event (see ``segmint.api.schemas.normalise_events``)
_EVENT_JSON = (
    '[{"event_id": "VARCHAR", "customer_id": "VARCHAR", "ts": "VARCHAR", "source": "VARCHAR",'
    ' "type": "VARCHAR", "properties": "JSON"}]'
)


def store_event_json(con: duckdb.DuckDBPyConnection, *, seq: int, payload: bytes) -> int:
    """Store events given as one JSON array (DuckDB parses it), up to log record ``seq``.

    Every event goes to ``events``; purchases also to ``transactions`` (``line_key`` a hash
    of the event id), and customers are created or their ``first_seen`` moved earlier. The
    applied sequence number moves in the same transaction. Returns the number of events.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _svc_batch AS
               SELECT e.event_id, e.customer_id, CAST(e.ts AS TIMESTAMP) AS ts, e.source,
                      e.type, e.properties
               FROM (SELECT unnest(from_json(CAST(? AS JSON), CAST(? AS VARCHAR))) AS e)""",
            [payload.decode("utf-8"), _EVENT_JSON],
        )
        con.execute(
            "INSERT INTO events SELECT event_id, customer_id, ts, source, type, properties "
            "FROM _svc_batch"
        )
        con.execute(
            """INSERT INTO transactions
               SELECT customer_id, coalesce(properties->>'order_id', event_id), ts,
                      properties->>'product_id', properties->>'description',
                      properties->>'category', CAST(properties->>'quantity' AS DOUBLE),
                      CAST(properties->>'unit_price' AS DOUBLE),
                      CAST(properties->>'amount' AS DOUBLE), properties->>'channel',
                      coalesce(CAST(properties->>'is_return' AS BOOLEAN), false),
                      hash(event_id)
               FROM _svc_batch WHERE type = 'purchase'"""
        )
        con.execute(
            """INSERT INTO customers
               SELECT customer_id, min(ts), NULL, NULL FROM _svc_batch GROUP BY customer_id
               ON CONFLICT (customer_id) DO UPDATE SET
                   first_seen = least(customers.first_seen, excluded.first_seen)"""
        )
        (n,) = con.execute("SELECT count(*) FROM _svc_batch").fetchone()
        con.execute("DROP TABLE _svc_batch")
        con.execute(
            "UPDATE service_wal_state SET applied_seq = greatest(applied_seq, ?) WHERE id = 1",
            [seq],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(n)


def count_events(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])


# --------------------------------------------------------------------------- webhooks


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
        "created_at": _now(),
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
        [_now(), webhook_id],
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
    now = _now()
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


# --------------------------------------------------------------------------- alerts


def record_alert(con: duckdb.DuckDBPyConnection, alert: dict) -> None:
    con.execute(
        "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            alert["alert_id"],
            alert.get("created_at") or _now(),
            alert.get("run_id"),
            alert.get("segment_id"),
            alert["metric"],
            alert["message"],
            json.dumps(alert.get("evidence", {}), default=str),
        ],
    )


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
