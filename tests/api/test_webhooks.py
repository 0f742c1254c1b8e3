"""Webhooks against the real server and real receivers on 127.0.0.1: the outbox survives
SIGKILL, a dead receiver does not slow a healthy one, hostile destinations are refused, and
secrets are sealed in the workspace."""

from __future__ import annotations

import json
import socket
import stat
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import httpx
import pytest

from segmint.realtime import verify
from segmint.realtime.urlguard import REFUSED
from segmint.store.sealing import KEY_FILE

from .conftest import LiveServer, make_workspace

LOOPBACK = "--allow-loopback-webhooks"


def purchases(prefix: str, n: int) -> list[dict]:
    """One first purchase each for ``n`` new customers (each enters a segment)."""
    ts = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return [
        {
            "event_id": uuid.uuid4().hex,
            "customer_id": f"{prefix}-{i}",
            "ts": ts,
            "type": "purchase",
            "properties": {"amount": 60.0 + i, "category": "garden"},
        }
        for i in range(n)
    ]


class Receiver:
    """A real HTTP receiver in a thread, on a given (or free) port; records path, headers,
    body and arrival time."""

    def __init__(self, port: int = 0) -> None:
        self.got: list[tuple[str, dict, bytes, float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((self.path, dict(self.headers), body, time.monotonic()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def customers(self, path: str, secret: str) -> set[str]:
        """Customers announced as entering a segment on ``path``, every signature checked."""
        out = set()
        for p, headers, body, _ in list(self.got):
            if p == path:
                assert verify(secret, body, headers["X-Segmint-Signature"])
                message = json.loads(body)
                if message["type"] == "segment.entered":
                    out.add(message["data"]["customer_id"])
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def register(client: httpx.Client, admin: dict, url: str) -> httpx.Response:
    return client.post(
        "/v1/webhooks",
        # raw ids: these tests follow customers by id (pseudonyms: test_consent_enforcement)
        json={"url": url, "event_types": ["segment.entered"], "raw_ids": True},
        headers=admin,
    )


def entered(client: httpx.Client, ingest: dict, events: list[dict]) -> set[str]:
    r = client.post("/v1/events", json={"events": events}, headers=ingest)
    assert r.status_code == 200, r.text
    return {c["customer_id"] for c in r.json()["customers"] if c["segment_id"] is not None}


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_outbox_survives_sigkill_and_old_plaintext_secrets_still_sign(template_workspace, tmp_path):
    """The receiver is down while customers enter segments; the server is killed (-9) once
    right after a batch is acknowledged and once after the outbox rows are stored; after the
    restart every notification arrives, signed, for both a webhook registered through the API
    and one an older workspace stored with a plaintext secret."""
    ws, keys = make_workspace(template_workspace, tmp_path / "ws")
    port = free_port()  # the receiver's, not listening yet
    legacy_secret = "whsec_legacy_plaintext_0123456789"
    with duckdb.connect(str(ws / "segmint.duckdb")) as con:
        con.execute(
            "INSERT INTO webhooks (webhook_id, url, secret, event_types, description, created_at,"
            " deleted_at, raw_ids) VALUES ('wh_legacy', ?, ?, '[\"segment.entered\"]', NULL, "
            "now()::TIMESTAMP, NULL, true)",
            [f"http://127.0.0.1:{port}/legacy", legacy_secret],
        )
    admin, ingest = keys.h("admin"), keys.h("ingest")
    server = LiveServer(ws, LOOPBACK).start()
    expected: set[str] = set()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            hook = register(c, admin, f"http://127.0.0.1:{port}/new").json()
            expected |= entered(c, ingest, purchases("stored", 40))
            time.sleep(1.0)  # flushed: the notifications are in the outbox, failing to connect
            server.kill()
            server.start()
            expected |= entered(c, ingest, purchases("acked", 40))
            server.kill()  # at once: these exist only in the write-ahead log
        assert len(expected) == 80
        receiver = Receiver(port)
        server.start()
        try:
            # the oldest rows wait out their back-off (doubling from 0.5 s while the receiver
            # was down): typically 10-20 s
            wait_for(
                lambda: (
                    receiver.customers("/new", hook["secret"]) == expected
                    and receiver.customers("/legacy", legacy_secret) == expected
                ),
                timeout=90,
            )

            def settled() -> bool:  # the last batch's outcomes are stored too
                statuses = {
                    d["status"]
                    for w in (hook["webhook_id"], "wh_legacy")
                    for d in httpx.get(
                        f"{server.url}/v1/webhooks/{w}/deliveries",
                        params={"limit": 1000},
                        headers=admin,
                    ).json()["deliveries"]
                }
                return statuses == {"delivered"}

            wait_for(settled)
        finally:
            server.stop()
            receiver.close()
    finally:
        server.kill()
    # no secret in the database file; the key beside it is private; the old row is sealed
    data = (ws / "segmint.duckdb").read_bytes()
    assert hook["secret"].encode() not in data
    assert stat.S_IMODE((ws / KEY_FILE).stat().st_mode) == 0o600
    with duckdb.connect(str(ws / "segmint.duckdb"), read_only=True) as con:
        secrets = [s for (s,) in con.execute("SELECT secret FROM webhooks").fetchall()]
        log = con.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
        ).fetchall()[0][0]
        queued = con.execute("SELECT count(*) FROM webhook_outbox").fetchall()[0][0]
    assert all(s.startswith("sealed:v1:") for s in secrets)
    assert queued == 0 and log >= 160  # at least once: a retry after a kill may repeat one


def test_dead_receivers_do_not_slow_a_healthy_one(live):
    """A hanging receiver and a refusing one registered before a healthy one: the healthy
    one's notifications arrive within a fraction of the 5 s request timeout."""
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(64)  # accepts, never answers
    healthy = Receiver()
    admin = live.keys.h("admin")
    try:
        with httpx.Client(base_url=live.url, timeout=30) as c:
            dead = [
                register(c, admin, f"http://127.0.0.1:{hanging.getsockname()[1]}/").json(),
                register(c, admin, f"http://127.0.0.1:{free_port()}/").json(),
            ]
            hook = register(c, admin, healthy.url("/ok")).json()
            latencies = []
            for batch in range(3):
                sent = time.monotonic()
                want = entered(c, live.keys.h("ingest"), purchases(f"slow{batch}", 10))
                wait_for(lambda w=want: w <= healthy.customers("/ok", hook["secret"]), 10)
                latencies.append(time.monotonic() - sent)
            for w in (*dead, hook):
                assert c.delete(f"/v1/webhooks/{w['webhook_id']}", headers=admin).status_code == 204
    finally:
        hanging.close()
        healthy.close()
    assert max(latencies) < 2.0, latencies


HOSTILE = [
    "http://10.0.0.1/hook",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::ffff:10.0.0.1]/",
    "http://0xa9fea9fe/",  # 169.254.169.254 in hex
    "http://2852039166/",  # ... and in decimal
    "http://224.0.0.1/",
    "http://0.0.0.0:9000/",
    "ftp://example.org/",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_registrations_refused_even_with_the_loopback_flag(live, url):
    r = httpx.post(
        live.url + "/v1/webhooks", json={"url": url, "raw_ids": True}, headers=live.keys.h("admin")
    )
    assert r.status_code in (400, 422), r.text
    if r.status_code == 400:
        assert r.json()["detail"] == REFUSED


def test_own_port_refused_loopback_allowed_with_the_flag(live):
    admin = live.keys.h("admin")
    with httpx.Client(base_url=live.url, timeout=30) as c:
        r = register(c, admin, f"http://127.0.0.1:{live.port}/v1/keys")
        assert r.status_code == 400 and r.json()["detail"] == REFUSED
        r = register(c, admin, f"http://localhost:{free_port()}/hook")
        assert r.status_code == 201, r.text
        assert c.delete(f"/v1/webhooks/{r.json()['webhook_id']}", headers=admin).status_code == 204


def test_loopback_refused_without_the_flag(template_workspace, tmp_path):
    ws, keys = make_workspace(template_workspace, tmp_path / "ws")
    server = LiveServer(ws).start()
    try:
        for url in ("http://127.0.0.1:9000/", "http://localhost:9000/", "http://[::1]:9000/"):
            r = httpx.post(
                server.url + "/v1/webhooks",
                json={"url": url, "raw_ids": True},
                headers=keys.h("admin"),
            )
            assert r.status_code == 400 and r.json()["detail"] == REFUSED, (url, r.text)
    finally:
        server.stop()
