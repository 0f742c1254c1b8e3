"""Recommendations through the real server: a customer's own, the segment fallback, the
segment's featured items, consent (451) and the minimum audience (403)."""

from __future__ import annotations

import httpx
import pytest

from segmint import pipeline
from segmint.store.workspace import Workspace

from .conftest import LiveServer, make_workspace


@pytest.fixture(scope="module")
def served(template_workspace, tmp_path_factory):
    path, keys = make_workspace(template_workspace, tmp_path_factory.mktemp("recs") / "ws")
    ws = Workspace(path)
    summary = pipeline.recommend(ws, top=5)
    with ws.connect(read_only=True) as con:
        customer, segment = con.execute(
            """SELECT customer_id, segment_id FROM assignments
               WHERE run_id = ? ORDER BY customer_id LIMIT 1""",
            [summary["run_id"]],
        ).fetchall()[0]
        sizes = dict(
            con.execute(
                "SELECT segment_id, size FROM segments WHERE run_id = ?", [summary["run_id"]]
            ).fetchall()
        )
    server = LiveServer(path).start()
    client = httpx.Client(base_url=server.url, timeout=30)
    try:
        yield client, keys, customer, segment, sizes, summary
    finally:
        client.close()
        server.stop()


def test_a_customer_gets_their_own_items(served):
    client, keys, customer, segment, _, summary = served
    r = client.get(f"/v1/customers/{customer}/recommendations", params={"n": 3},
                   headers=keys.h("read"))  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "customer" and body["run_id"] == summary["run_id"]
    assert body["segment_id"] == segment
    assert len(body["items"]) == 3
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(i["product_id"] and i["description"] for i in body["items"])


def test_a_customer_without_rows_gets_their_segments_items(served):
    client, keys, *_ = served
    # a new customer: their first purchase assigns them a segment live
    r = client.post(
        "/v1/events",
        json={"events": [{
            "event_id": "rec-new-1", "customer_id": "rec-newcomer", "ts": "2024-01-01T10:00:00",
            "type": "purchase", "properties": {"amount": 50.0, "category": "garden"},
        }]},
        headers=keys.h("ingest"),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    r = client.get("/v1/customers/rec-newcomer/recommendations", headers=keys.h("read"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "segment" and body["items"]
    featured = client.get(f"/v1/segments/{body['segment_id']}/recommendations",
                          headers=keys.h("read")).json()  # fmt: skip
    assert body["items"] == featured["items"][: len(body["items"])]
    r = client.get("/v1/customers/nobody-at-all/recommendations", headers=keys.h("read"))
    assert r.status_code == 404


def test_withdrawn_consent_gets_451(served):
    client, keys, customer, *_ = served
    r = client.post(
        "/v1/consent",
        json={"changes": [{"customer_id": customer, "purpose": "personalisation",
                           "status": "withdrawn", "evidence": "test"}]},
        headers=keys.h("ingest"),
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    r = client.get(f"/v1/customers/{customer}/recommendations", headers=keys.h("read"))
    assert r.status_code == 451, r.text
    assert "personalisation" in r.text
    # another purpose they did not withdraw still reads
    r = client.get(f"/v1/customers/{customer}/recommendations",
                   params={"purpose": "analytics"}, headers=keys.h("read"))  # fmt: skip
    assert r.status_code == 200, r.text


def test_segment_featured_items_and_unknown_segment(served):
    client, keys, _, segment, sizes, _ = served
    r = client.get(f"/v1/segments/{segment}/recommendations", params={"n": 4},
                   headers=keys.h("read"))  # fmt: skip
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 4 and all(0 < i["score"] <= 1 for i in items)
    assert client.get("/v1/segments/999/recommendations", headers=keys.h("read")).status_code == 404
    r = client.get(f"/v1/segments/{segment}/recommendations")
    assert r.status_code == 401
    assert min(sizes.values()) >= 5  # the template's minimum audience: none refused here
