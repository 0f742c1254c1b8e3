"""The webhook outbox on a real workspace: fan-out, order, settling, cancelling, and the
pending deliveries of older workspaces."""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import pytest

from segmint.store import outbox
from segmint.store import webhooks as hooks
from segmint.store.sealing import SecretBox
from segmint.store.workspace import Workspace, _migrations, utcnow

BOX = SecretBox(bytes(32))


@pytest.fixture
def con(tmp_path):
    with Workspace(tmp_path / "ws").connect(create=True) as con:
        yield con


def note(kind, n):
    return {"id": f"evt_{n}", "type": kind, "created_at": str(utcnow()), "data": {"n": n}}


def register(con, types):
    return hooks.create_webhook(con, url="https://hooks.example/x", event_types=types, box=BOX)


def test_fan_out_by_type_in_order(con):
    a = register(con, ["segment.left", "segment.entered"])["webhook_id"]
    b = register(con, ["segment.entered"])["webhook_id"]
    assert outbox.enqueue(con, [note("segment.left", 1), note("segment.entered", 2)]) == 3
    rows = outbox.batch(con, a, limit=10)
    assert [(r.event_type, r.attempts) for r in rows] == [
        ("segment.left", 0),
        ("segment.entered", 0),
    ]
    assert [r.event_type for r in outbox.batch(con, b, limit=10)] == ["segment.entered"]
    heads = outbox.heads(con, busy=[])
    assert sorted(h.webhook_id for h in heads) == sorted([a, b])
    assert outbox.heads(con, busy=[a])[0].webhook_id == b
    assert all(h.secret.startswith("sealed:v1:") for h in heads)


def test_settle_moves_final_rows_and_reschedules_retries(con):
    wid = register(con, ["alert"])["webhook_id"]
    outbox.enqueue(con, [note("alert", i) for i in range(3)])
    first, second, third = outbox.batch(con, wid, limit=10)
    later = utcnow() + timedelta(minutes=5)
    outbox.settle(
        con,
        [
            outbox.Outcome(first.seq, first.delivery_id, "delivered", 1, 204),
            outbox.Outcome(second.seq, second.delivery_id, "failed", 1, 404, "HTTP 404"),
            outbox.Outcome(third.seq, third.delivery_id, "retry", 1, 503, "HTTP 503", later),
        ],
    )
    [head] = outbox.heads(con, busy=[])
    assert (head.delivery_id, head.attempts, head.next_attempt_at) == (third.delivery_id, 1, later)
    log = {d["delivery_id"]: d for d in outbox.list_deliveries(con, wid)}
    assert log[first.delivery_id]["status"] == "delivered"
    assert (log[second.delivery_id]["status"], log[second.delivery_id]["error"]) == (
        "failed",
        "HTTP 404",
    )
    assert log[third.delivery_id]["status"] == "retrying"
    assert log[first.delivery_id]["payload"]["data"] == {"n": 0}


def test_deleting_a_webhook_cancels_its_rows_and_late_outcomes_are_ignored(con):
    wid = register(con, ["alert"])["webhook_id"]
    outbox.enqueue(con, [note("alert", 1), note("alert", 2)])
    in_flight = outbox.batch(con, wid, limit=1)[0]
    assert hooks.delete_webhook(con, wid)
    assert outbox.heads(con, busy=[]) == []
    outbox.settle(con, [outbox.Outcome(in_flight.seq, in_flight.delivery_id, "delivered", 1, 200)])
    assert {d["status"] for d in outbox.list_deliveries(con, wid)} == {"cancelled"}
    assert outbox.enqueue(con, [note("alert", 3)]) == 0  # nothing for a deleted webhook


def test_pending_deliveries_of_older_workspaces_move_to_the_outbox(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.path.mkdir()
    with duckdb.connect(str(ws.db_path)) as con:  # a workspace of schema version 3
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, sql in _migrations():
            if version <= 3:
                con.execute(sql)
                con.execute("INSERT INTO schema_version VALUES (?)", [version])
        con.execute(
            "INSERT INTO webhooks VALUES ('wh_old', 'https://hooks.example/x', 'whsec_plain', "
            "'[\"alert\"]', NULL, now()::TIMESTAMP, NULL)"
        )
        for i, status in enumerate(("retrying", "delivered", "pending")):
            con.execute(
                "INSERT INTO webhook_deliveries VALUES (?, 'wh_old', 'alert', '{\"n\": 1}', ?, "
                "1, 503, NULL, now()::TIMESTAMP, now()::TIMESTAMP)",
                [f"dlv_{i}", status],
            )
    with ws.connect() as con:
        rows = outbox.batch(con, "wh_old", limit=10)
        assert [r.delivery_id for r in rows] == ["dlv_0", "dlv_2"]
        assert rows[0].attempts == 1 and json.loads(rows[0].body) == {"n": 1}
        assert {d["status"] for d in outbox.list_deliveries(con, "wh_old")} == {
            "retrying",
            "delivered",
        }
        assert hooks.seal_plaintext_secrets(con, BOX) == 1
        assert hooks.seal_plaintext_secrets(con, BOX) == 0  # once
