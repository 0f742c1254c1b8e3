"""Webhooks against a real HTTP receiver on 127.0.0.1: signatures, retries, giving up."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from segmint.realtime.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    DeliveryLog,
    InMemoryDeliveryLog,
    WebhookDispatcher,
    sign,
    verify,
)

SECRET = "whsec-test"


class Receiver:
    """A real HTTP server in a thread; answers with ``statuses`` in turn, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[float, dict, bytes]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.requests.append((time.monotonic(), dict(self.headers), body))
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    if self.path.endswith("/gone"):
                        status = 404
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _run(coro):
    return asyncio.run(coro)


def test_sign_and_verify():
    body = b'{"a":1}'
    header = sign(SECRET, body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, body, header, now=1_700_000_100)
    assert not verify(SECRET, body + b" ", header, now=1_700_000_100)
    assert not verify("other", body, header, now=1_700_000_100)
    assert not verify(SECRET, body, header, now=1_700_001_000)  # too old: a replay
    assert verify(SECRET, body, header, tolerance=None)
    assert verify(SECRET, body, header + ",v1=" + "0" * 64, now=1_700_000_000)
    assert not verify(SECRET, body, "garbage")
    assert isinstance(InMemoryDeliveryLog(), DeliveryLog)


def test_signed_deliveries_received():
    log = InMemoryDeliveryLog()

    async def main(url):
        d = WebhookDispatcher(log, base_delay=0.01)
        await d.start()
        sent = [
            d.submit(url, SECRET, "segment.entered", {"customer_id": f"C{i}"}) for i in range(5)
        ]
        assert all(log.deliveries[s.delivery_id].status == "pending" for s in sent)
        await asyncio.wait_for(d.join(), 10)
        await d.stop()
        return sent

    with Receiver() as rx:
        sent = _run(main(rx.url))
    assert len(rx.requests) == 5
    for _, headers, body in rx.requests:
        assert verify(SECRET, body, headers[SIGNATURE_HEADER])
        envelope = json.loads(body)
        assert envelope["type"] == "segment.entered" and envelope["id"] == headers[DELIVERY_HEADER]
    assert {json.loads(b)["data"]["customer_id"] for _, _, b in rx.requests} == {
        f"C{i}" for i in range(5)
    }
    assert all(log.deliveries[s.delivery_id].status == "delivered" for s in sent)
    # pending was recorded before the final state, for every delivery
    for s in sent:
        events = [e for e, i, *_ in log.history if i == s.delivery_id]
        assert events == ["pending", "final"]


def test_retries_with_growing_delays_then_delivered():
    log = InMemoryDeliveryLog()

    async def main(url):
        d = WebhookDispatcher(log, base_delay=0.1, max_attempts=5)
        await d.start()
        sent = d.submit(url, SECRET, "alert", {"message": "up 35%"})
        await asyncio.wait_for(d.join(), 10)
        await d.stop()
        return sent

    with Receiver([500, 503, 500]) as rx:
        sent = _run(main(rx.url))
    times = [t for t, _, _ in rx.requests]
    assert len(times) == 4
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # 0.1, 0.2, 0.4 s
    assert gaps[0] < gaps[1] < gaps[2]
    bodies = {b for _, _, b in rx.requests}
    assert len(bodies) == 1  # the same body on every try (signatures fresh)
    final = log.deliveries[sent.delivery_id]
    assert final.status == "delivered" and final.attempts == 4 and final.last_status_code == 200
    assert [h[3] for h in log.history if h[1] == sent.delivery_id] == [0, 1, 2, 3, 4]


def test_gives_up_after_max_attempts_and_logs(caplog):
    log = InMemoryDeliveryLog()

    async def main(url):
        d = WebhookDispatcher(log, base_delay=0.02, max_attempts=3)
        await d.start()
        a = d.submit(url, SECRET, "alert", {"n": 1})
        await asyncio.wait_for(d.join(), 10)
        await d.stop()
        return a

    with caplog.at_level(logging.WARNING, logger="segmint.realtime.webhooks"):
        with Receiver([500] * 10) as rx:
            a = _run(main(rx.url))
    assert len(rx.requests) == 3
    final = log.deliveries[a.delivery_id]
    assert final.status == "failed" and final.attempts == 3 and final.last_status_code == 500
    assert log.pending() == []
    assert any("failed after 3 attempt(s)" in r.getMessage() for r in caplog.records)


def test_permanent_4xx_and_unreachable_and_resume():
    log = InMemoryDeliveryLog()
    # a delivery left pending by an earlier process (crash before it was sent)
    earlier = Delivery("d-earlier", "", "alert", b'{"x":1}', secret=SECRET)

    async def main(url):
        earlier.url = url
        log.record_pending(earlier)
        d = WebhookDispatcher(log, base_delay=0.01, max_attempts=2, timeout=2)
        await d.start()  # resumes d-earlier
        bad = d.submit(url + "/gone", SECRET, "alert", {})  # answered 404: not retried
        dead = d.submit("http://127.0.0.1:9/nothing", SECRET, "alert", {})  # refused: retried
        await asyncio.wait_for(d.join(), 10)
        await d.stop()
        return bad, dead

    with Receiver() as rx:
        bad, dead = _run(main(rx.url))
    assert log.deliveries["d-earlier"].status == "delivered"
    assert log.deliveries[bad.delivery_id].status == "failed"
    assert log.deliveries[bad.delivery_id].attempts == 1
    d = log.deliveries[dead.delivery_id]
    assert d.status == "failed" and d.attempts == 2 and d.last_error


def test_submit_requires_start():
    with pytest.raises(RuntimeError):
        WebhookDispatcher().submit("http://x", "s", "t", {})
