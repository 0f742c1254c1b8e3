"""Events the service received: stored in batches from the write-ahead log, with the log's
applied sequence number in the same transaction."""

from __future__ import annotations

import duckdb
import numpy as np

from segmint.store import outbox
from segmint.store.customers import upsert_customers

__all__ = ["applied_seq", "count_events", "load_event_id_digests", "store_event_json"]


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


def store_event_json(
    con: duckdb.DuckDBPyConnection,
    *,
    seq: int,
    payload: bytes,
    notifications: list[dict] | None = None,
) -> int:
    """Store events given as one JSON array (DuckDB parses it), up to log record ``seq``.

    Every event goes to ``events``; purchases also to ``transactions`` (``line_key`` a hash
    of the event id), and customers are created or their ``first_seen`` moved earlier. The
    applied sequence number moves, and the webhook ``notifications`` these events caused are
    queued (:func:`segmint.store.outbox.enqueue`), in the same transaction. Returns the
    number of events.
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
        upsert_customers(
            con, "SELECT customer_id, min(ts), NULL, NULL FROM _svc_batch GROUP BY customer_id"
        )
        (n,) = con.execute("SELECT count(*) FROM _svc_batch").fetchone()
        con.execute("DROP TABLE _svc_batch")
        con.execute(
            "UPDATE service_wal_state SET applied_seq = greatest(applied_seq, ?) WHERE id = 1",
            [seq],
        )
        outbox.enqueue(con, notifications or [])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(n)


def count_events(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])
