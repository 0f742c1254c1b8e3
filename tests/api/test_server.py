"""The real server on 127.0.0.1: ingestion, idempotency, auth and scopes, limits, webhooks, SSE."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from segmint.realtime import verify

NOW = datetime.now(UTC)


def ts(days_ago: float = 1.0) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def purchase(customer: str, amount: float = 40.0, category: str = "garden", **kw) -> dict:
    return {
        "event_id": kw.pop("event_id", uuid.uuid4().hex),
        "customer_id": customer,
        "ts": kw.pop("ts", ts()),
        "type": "purchase",
        "properties": {"amount": amount, "category": category, **kw},
    }


@pytest.fixture(scope="module")
def client(live):
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


def test_health_needs_no_key(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["run_id"] == 1


def test_single_event_then_duplicate_counted_once(client, live):
    ev = purchase("new-cust-1", amount=120.0, order_id="o-1")
    r = client.post("/v1/events", json=ev, headers=live.keys.h("ingest"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    (cust,) = body["customers"]
    assert cust["customer_id"] == "new-cust-1" and cust["segment_id"] is not None
    again = client.post("/v1/events", json=ev, headers=live.keys.h("ingest")).json()
    assert (again["accepted"], again["duplicates"], again["duplicate_ids"]) == (
        0,
        1,
        [ev["event_id"]],
    )
    prof = client.get("/v1/customers/new-cust-1", headers=live.keys.h("read")).json()
    assert prof["profile"]["features"]["frequency"] == 1
    assert prof["profile"]["features"]["monetary"] == pytest.approx(120.0)
    assert prof["segment"] == cust["segment"] and prof["rule"]


def test_batch_with_every_type_and_inner_duplicates(client, live):
    cid = "batch-cust"
    events = [
        purchase(cid, 30.0, "bath", event_id="b-1"),
        purchase(cid, 20.0, "bath", event_id="b-1"),  # same id twice in one batch
        {
            "event_id": "b-2",
            "customer_id": cid,
            "ts": ts(),
            "type": "page_view",
            "properties": {"url": "https://shop.example/garden", "category": "garden"},
        },
        {
            "event_id": "b-3",
            "customer_id": cid,
            "ts": ts(),
            "type": "app_view",
            "properties": {"screen": "home"},
        },
        {
            "event_id": "b-4",
            "customer_id": cid,
            "ts": ts(),
            "type": "device",
            "properties": {"device_id": "d1", "platform": "ios", "metrics": {"battery": 0.5}},
        },
        {
            "event_id": "b-5",
            "customer_id": cid,
            "ts": ts(),
            "type": "chat_message",
            "properties": {"text": "Où est ma commande ? 📦 \u200b"},
        },
        {
            "event_id": "b-6",
            "customer_id": cid,
            "ts": ts(),
            "type": "consent",
            "properties": {"purpose": "email", "status": "granted"},
        },
    ]
    r = client.post("/v1/events", json={"events": events}, headers=live.keys.h("ingest"))
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["duplicates"]) == (6, 1)
    prof = client.get(f"/v1/customers/{cid}", headers=live.keys.h("admin")).json()["profile"]
    assert prof["features"]["monetary"] == pytest.approx(30.0)
    assert prof["events"]["page_view"] == 1 and prof["events"]["chat_message"] == 1


def test_auth_and_scopes(client, live):
    ev = purchase("scope-cust")
    assert client.post("/v1/events", json=ev).status_code == 401
    bad = {"Authorization": "Bearer sgm_nope_nope"}
    r = client.post("/v1/events", json=ev, headers=bad)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert client.post("/v1/events", json=ev, headers=live.keys.h("read")).status_code == 403
    assert client.get("/v1/segments", headers=live.keys.h("ingest")).status_code == 403
    assert client.get("/v1/segments", headers=live.keys.h("read")).status_code == 200
    assert client.get("/v1/webhooks", headers=live.keys.h("read")).status_code == 403
    assert client.post("/v1/runs", headers=live.keys.h("read")).status_code == 403
    assert client.post("/v1/events", json=ev, headers=live.keys.h("admin")).status_code == 200
    # a key made and revoked through the API stops working at once
    made = client.post("/v1/keys", json={"scope": "read"}, headers=live.keys.h("admin")).json()
    h = {"Authorization": f"Bearer {made['key']}"}
    assert client.get("/v1/segments", headers=h).status_code == 200
    assert (
        client.delete(f"/v1/keys/{made['key_id']}", headers=live.keys.h("admin")).status_code == 204
    )
    assert client.get("/v1/segments", headers=h).status_code == 401


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            {
                "event_id": "x",
                "customer_id": "c",
                "ts": "2099-01-01T00:00:00Z",
                "type": "page_view",
            },
            "in the future",
        ),
        (
            {
                "event_id": "x",
                "customer_id": "c",
                "ts": "1999-12-31T00:00:00Z",
                "type": "page_view",
            },
            "before 2000-01-01",
        ),
        (
            {
                "event_id": "x",
                "customer_id": "c",
                "ts": "2024-01-01T00:00:00Z",
                "type": "page_view",
                "colour": "red",
            },
            "Extra inputs",
        ),
        (
            {
                "event_id": "x",
                "customer_id": "c",
                "ts": "2024-01-01T00:00:00Z",
                "type": "purchase",
                "properties": {"amount": "lots"},
            },
            "properties.amount",
        ),
        (
            {"event_id": "x", "customer_id": "c", "ts": "2024-01-01T00:00:00Z", "type": "teleport"},
            "type",
        ),
        (
            {
                "event_id": "\ud800",
                "customer_id": "c",
                "ts": "2024-01-01T00:00:00Z",
                "type": "page_view",
            },
            "unicode",
        ),
        (
            {
                "event_id": "x\u0000",
                "customer_id": "c",
                "ts": "2024-01-01T00:00:00Z",
                "type": "page_view",
            },
            "NUL",
        ),
        (
            {
                "event_id": "x",
                "customer_id": "c",
                "ts": "2024-01-01T00:00:00Z",
                "type": "review",
                "properties": {"rating": 6},
            },
            "properties.rating",
        ),
        (
            {
                "event_id": "x",
                "customer_id": "c",
                "ts": "2024-01-01T00:00:00Z",
                "type": "device",
                "properties": {"minutes": -3},
            },
            "properties.minutes",
        ),
        (
            {
                "event_id": "x",
                "customer_id": "c",
                "ts": "2024-01-01T00:00:00Z",
                "type": "add_to_cart",
                "properties": {"basket": "full"},
            },
            "Extra inputs",
        ),
        ({"events": []}, "events"),
        ([1, 2], "body"),
    ],
)
def test_invalid_events_are_clear_422(client, live, body, where):
    raw = json.dumps(body).encode()  # json.dumps keeps the lone surrogate as \ud800
    r = client.post(
        "/v1/events",
        content=raw,
        headers={**live.keys.h("ingest"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert problem["status"] == 422 and where in json.dumps(problem, ensure_ascii=False)
    assert "Traceback" not in r.text


def test_malformed_and_huge_bodies(client, live):
    h = {**live.keys.h("ingest"), "Content-Type": "application/json"}
    r = client.post("/v1/events", content=b'{"event_id": ', headers=h)
    assert r.status_code == 400 and r.json()["detail"] == "the request body is not valid JSON"
    r = client.post("/v1/events", content=b"\xff\xfe not utf8", headers=h)
    assert r.status_code == 400
    r = client.post("/v1/events", content=b"x" * (11 * 1024 * 1024), headers=h)
    assert r.status_code == 413 and r.json()["status"] == 413
    too_many = {"events": [purchase("c") for _ in range(10_001)]}
    r = client.post("/v1/events", json=too_many, headers=h)
    assert r.status_code == 422 and "10000" in r.text


def test_segments_and_paged_members(client, live):
    segs = client.get("/v1/segments", headers=live.keys.h("read")).json()
    assert segs["run_id"] == 1 and len(segs["segments"]) >= 3
    first = segs["segments"][0]
    seen, cursor = [], None
    while True:
        params = {"limit": 50} | ({"cursor": cursor} if cursor else {})
        page = client.get(
            f"/v1/segments/{first['segment_id']}/members",
            params=params,
            headers=live.keys.h("read"),
        ).json()
        seen += page["customer_ids"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == first["live_size"]
    assert seen == sorted(seen)
    assert client.get("/v1/segments/999", headers=live.keys.h("read")).status_code == 404
    assert client.get("/v1/customers/nobody", headers=live.keys.h("read")).status_code == 404


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    fail_first: set = set()

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        delivery = self.headers["X-Segmint-Delivery"]
        if delivery not in _Receiver.fail_first:
            _Receiver.fail_first.add(delivery)
            self.send_response(503)  # every delivery fails once: retries are exercised
            self.end_headers()
            return
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_signed_retried_and_logged(client, live):
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        r = client.post(
            "/v1/webhooks",
            json={"url": url, "event_types": ["segment.entered"], "raw_ids": True},
            headers=live.keys.h("admin"),
        )
        assert r.status_code == 201, r.text
        hook = r.json()
        assert hook["secret"]
        listed = client.get("/v1/webhooks", headers=live.keys.h("admin")).json()["webhooks"]
        assert hook["webhook_id"] in [w["webhook_id"] for w in listed]
        assert "secret" not in listed[0]
        # a customer never seen before enters a segment with their first purchase
        r = client.post(
            "/v1/events", json=purchase("hook-cust", 80.0), headers=live.keys.h("ingest")
        )
        assert r.json()["customers"][0]["segment_id"] is not None
        deadline = time.monotonic() + 15
        while not _Receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _Receiver.received, "no webhook arrived"
        headers, body = _Receiver.received[0]
        assert verify(hook["secret"], body, headers["X-Segmint-Signature"])
        assert not verify("wrong-secret", body, headers["X-Segmint-Signature"])
        payload = json.loads(body)
        assert payload["type"] == "segment.entered"
        assert payload["data"]["customer_id"] == "hook-cust"
        # the micro-segment the customer entered with the segment
        data = payload["data"]
        assert re.fullmatch(r"m\d+", data["micro_segment_id"])
        assert data["micro_segment"]
        time.sleep(0.3)
        log = client.get(
            f"/v1/webhooks/{hook['webhook_id']}/deliveries", headers=live.keys.h("admin")
        ).json()["deliveries"]
        assert log[0]["status"] == "delivered" and log[0]["attempts"] == 2
        assert (
            client.delete(
                f"/v1/webhooks/{hook['webhook_id']}", headers=live.keys.h("admin")
            ).status_code
            == 204
        )
        assert (
            client.delete(
                f"/v1/webhooks/{hook['webhook_id']}", headers=live.keys.h("admin")
            ).status_code
            == 404
        )
    finally:
        receiver.shutdown()


def test_server_sent_events(live):
    got: list[str] = []

    def listen():
        with httpx.stream(
            "GET",
            live.url + "/v1/stream",
            params={"max_seconds": 10},
            headers=live.keys.h("read"),
            timeout=15,
        ) as r:
            for line in r.iter_lines():
                got.append(line)
                if line.startswith("data:") and "sse-cust" in line:
                    return

    t = threading.Thread(target=listen)
    t.start()
    time.sleep(0.5)
    httpx.post(
        live.url + "/v1/events", json=purchase("sse-cust", 55.0), headers=live.keys.h("ingest")
    )
    t.join(15)
    assert "event: segment.entered" in got


def test_refit_reloads_and_live_matches_batch(client, live):
    r = client.post("/v1/runs", json={"random_state": 0}, headers=live.keys.h("admin"))
    assert r.status_code == 202, r.text
    assert client.post("/v1/runs", headers=live.keys.h("admin")).status_code == 409
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = client.get("/v1/runs", headers=live.keys.h("read")).json()
        if runs["refit"]["state"] != "running":
            break
        time.sleep(0.2)
    assert runs["refit"]["state"] == "done", runs["refit"]
    new_run = runs["refit"]["run_id"]
    assert [x["run_id"] for x in runs["runs"]][-1] == new_run
    assert client.get("/health").json()["run_id"] == new_run
    # same data, same assignment: the live segment of every batch customer is the run's
    import duckdb

    ws = live.workspace
    # the server holds the database: read the run's assignments through a copy
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        client.get("/health")
        shutil.copy(ws / "segmint.duckdb", f"{tmp}/copy.duckdb")
        if (ws / "segmint.duckdb.wal").exists():
            shutil.copy(ws / "segmint.duckdb.wal", f"{tmp}/copy.duckdb.wal")
        con = duckdb.connect(f"{tmp}/copy.duckdb", read_only=True)
        batch = con.execute(
            "SELECT customer_id, segment_id FROM assignments WHERE run_id = ? "
            "ORDER BY customer_id LIMIT 40",
            [new_run],
        ).fetchall()
        con.close()
    assert batch
    for cid, seg in batch:
        got = client.get(f"/v1/customers/{cid}", headers=live.keys.h("read")).json()
        assert got["segment_id"] == seg, cid
