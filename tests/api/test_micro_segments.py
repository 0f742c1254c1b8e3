"""Micro-segments over HTTP, on the real server: listed under the segment they centre in, with
names and rules, and named in a customer's read and in the live assignment that an event
returns."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from segmint.store.runs import load_micro_segments
from segmint.store.workspace import Workspace


@pytest.fixture(scope="module")
def client(live):
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def stored(template_workspace):
    """The served run's micro-segments and its first customer, read from the template (the
    server holds its own copy's lock)."""
    with Workspace(template_workspace).connect(read_only=True) as con:
        micro = load_micro_segments(con, 1)
        (cid,) = con.execute(
            "SELECT customer_id FROM assignments WHERE run_id = 1 ORDER BY customer_id LIMIT 1"
        ).fetchall()[0]
    return micro, cid


def test_segment_micro_segments_match_the_stored_run(client, live, stored):
    stored, _ = stored
    segments = client.get("/v1/segments", headers=live.keys.h("read")).json()["segments"]
    seen = customers = 0
    for seg in segments:
        r = client.get(
            f"/v1/segments/{seg['segment_id']}/micro-segments", headers=live.keys.h("read")
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["run_id"] == 1 and body["segment_id"] == seg["segment_id"]
        micro = body["micro_segments"]
        assert [m["size"] for m in micro] == sorted((m["size"] for m in micro), reverse=True)
        for m in micro:
            # centred here: the segment holds the largest share of its customers
            assert m["segment_id"] == seg["segment_id"] and m["rule"]
            assert 1 / len(segments) <= m["profile"]["segment_share"] <= 1
            assert m["live_size"] >= 0 and "top_features" in m["profile"]
        seen += len(micro)
        customers += seg["size"]
    assert sum(stored["size"]) == customers
    assert seen == len(stored) and set(stored["name"]) == {
        m["name"]
        for s in segments
        for m in client.get(
            f"/v1/segments/{s['segment_id']}/micro-segments", headers=live.keys.h("read")
        ).json()["micro_segments"]
    }


def test_unknown_segment_is_404_and_a_key_is_needed(client, live):
    r = client.get("/v1/segments/999/micro-segments", headers=live.keys.h("read"))
    assert r.status_code == 404 and "no segment 999" in r.json()["detail"]
    assert client.get("/v1/segments/0/micro-segments").status_code == 401


def test_customer_read_and_live_assignment_name_the_micro_segment(client, live, stored):
    micro, cid = stored
    names = dict(zip(micro["micro_segment_id"], micro["name"], strict=True))
    got = client.get(f"/v1/customers/{cid}", headers=live.keys.h("read")).json()
    assert re.fullmatch(r"m\d+", got["micro_segment_id"])
    assert got["micro_segment"] == names[got["micro_segment_id"]]

    event = {
        "event_id": uuid.uuid4().hex,
        "customer_id": "micro-new-1",
        "ts": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "type": "purchase",
        "properties": {"amount": 80.0, "category": "garden"},
    }
    r = client.post("/v1/events", json=event, headers=live.keys.h("ingest"))
    assert r.status_code == 200, r.text
    (cust,) = r.json()["customers"]
    assert re.fullmatch(r"m\d+", cust["micro_segment_id"])
    assert cust["micro_segment"] == names[cust["micro_segment_id"]]
    read = client.get("/v1/customers/micro-new-1", headers=live.keys.h("read")).json()
    assert (read["micro_segment_id"], read["micro_segment"]) == (
        cust["micro_segment_id"],
        cust["micro_segment"],
    )


def test_live_state_assigns_the_batch_micro_segments(template_workspace):
    """Loaded with no events since the run, the live model puts every customer in the
    micro-segment the batch run stored (same model, same features, one assignment kernel)."""
    from segmint.realtime.live import LiveState

    with Workspace(template_workspace).connect(read_only=True) as con:
        batch = con.execute(
            "SELECT customer_id, micro_segment_id FROM assignments WHERE run_id = 1"
        ).df()
    with Workspace(template_workspace).connect() as con:
        state = LiveState.load(con)
    live = {c: state.membership(c)["micro_segment_id"] for c in batch["customer_id"]}
    assert live == dict(zip(batch["customer_id"], batch["micro_segment_id"], strict=True))
    assert set(state.live_micro_sizes()) == set(state.micro_segments)
