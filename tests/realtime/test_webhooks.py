"""The webhook sender against real HTTP receivers on 127.0.0.1 and a real workspace outbox:
signatures, order, retries (what is retried and what is not), giving up, a dead receiver next
to a healthy one, deletion, and the destination check at delivery time."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from segmint.realtime.urlguard import REFUSED, DestinationPolicy
from segmint.realtime.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    RetryPolicy,
    WebhookSender,
    retryable,
    sign,
    verify,
)
from segmint.store import outbox
from segmint.store import webhooks as hooks
from segmint.store.sealing import SecretBox
from segmint.store.workspace import Workspace, utcnow

SECRET = "whsec-test"
LOOPBACK = DestinationPolicy(allow_loopback=True)
FAST = RetryPolicy(max_attempts=5, base_delay=0.1, jitter=0.0)


class Receiver:
    """A real HTTP server in a thread; answers with ``statuses`` in turn, then 200."""

    def __init__(self, statuses=(), port: int = 0):
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
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Hanging:
    """Accepts connections and never answers (a receiver that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Db:
    """What the service's ``Engine.db`` does: one connection, one call at a time, off-loop."""

    def __init__(self, con):
        self.con = con
        self.lock = threading.Lock()

    async def __call__(self, fn, *args, **kwargs):
        def call():
            with self.lock:
                return fn(self.con, *args, **kwargs)

        return await asyncio.to_thread(call)


@pytest.fixture
def ws(tmp_path):
    """A workspace connection, its secret box, and the async runner the sender uses."""
    with Workspace(tmp_path / "ws").connect(create=True) as con:
        yield con, SecretBox.for_workspace(tmp_path / "ws"), Db(con)


def register(con, box, url, types=("alert",)):
    return hooks.create_webhook(con, url=url, event_types=list(types), box=box, secret=SECRET)[
        "webhook_id"
    ]


def alert(i):
    """A notification created now (after the webhooks of the test: they hear of it)."""
    return {"id": f"alr_{i}", "type": "alert", "created_at": str(utcnow()), "data": {"n": i}}


async def until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def run_sender(db, box, body, **kw):
    async def main():
        sender = WebhookSender(db, box, **{"policy": LOOPBACK, "retry": FAST, **kw})
        await sender.start()
        sender.wake()
        try:
            return await body(sender)
        finally:
            await sender.stop()

    return asyncio.run(main())


def queued(db, webhook_id=None):
    """Webhook ids of the queued rows (under the runner's lock: the sender shares the
    connection)."""
    with db.lock:
        rows = db.con.execute("SELECT webhook_id FROM webhook_outbox").fetchall()
    return [r for (r,) in rows if webhook_id in (None, r)]


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


def test_retryable_outcomes():
    assert retryable(None) and retryable(429) and retryable(500) and retryable(503)
    assert not any(retryable(c) for c in (400, 401, 403, 404, 408, 410, 422))


def test_signed_deliveries_in_order_and_logged(ws):
    con, box, db = ws
    with Receiver() as rx:
        wid = register(con, box, rx.url, types=("alert", "segment.entered"))
        other = register(con, box, rx.url, types=("segment.left",))  # not subscribed
        outbox.enqueue(con, [alert(i) for i in range(5)])
        run_sender(db, box, lambda s: until(lambda: len(rx.requests) == 5 and not queued(db)))
    assert [json.loads(b)["data"]["n"] for _, _, b in rx.requests] == [0, 1, 2, 3, 4]
    log = outbox.list_deliveries(con, wid)
    assert {d["status"] for d in log} == {"delivered"} and len(log) == 5
    ids = {d["delivery_id"] for d in log}
    for _, headers, body in rx.requests:
        assert verify(SECRET, body, headers[SIGNATURE_HEADER])
        assert headers[EVENT_HEADER] == "alert" and headers[DELIVERY_HEADER] in ids
    assert outbox.list_deliveries(con, other) == [] and queued(db) == []


def test_5xx_and_429_retried_with_growing_delays_other_4xx_final(ws):
    con, box, db = ws
    with Receiver([500, 429, 503]) as flaky, Receiver([404]) as gone, Receiver([400]) as bad:
        ids = [register(con, box, r.url) for r in (flaky, gone, bad)]
        outbox.enqueue(con, [alert(1)])

        async def body(sender):
            await until(lambda: len(flaky.requests) == 4 and not queued(db))
            await asyncio.sleep(0.3)  # nothing more comes for the final failures

        run_sender(db, box, body)
    times = [t for t, _, _ in flaky.requests]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # 0.1, 0.2, 0.4 s
    assert len({b for _, _, b in flaky.requests}) == 1  # the same body on every try
    assert len({h[DELIVERY_HEADER] for _, h, _ in flaky.requests}) == 1  # and the same id
    [ok] = outbox.list_deliveries(con, ids[0])
    assert (ok["status"], ok["attempts"], ok["response_code"]) == ("delivered", 4, 200)
    for receiver, wid, code in ((gone, ids[1], 404), (bad, ids[2], 400)):
        assert len(receiver.requests) == 1
        [d] = outbox.list_deliveries(con, wid)
        assert (d["status"], d["attempts"], d["response_code"]) == ("failed", 1, code)


def test_gives_up_after_max_attempts_and_logs(ws, caplog):
    con, box, db = ws
    with caplog.at_level(logging.WARNING, logger="segmint.realtime.webhooks"):
        with Receiver([500] * 10) as rx:
            wid = register(con, box, rx.url)
            outbox.enqueue(con, [alert(1)])
            policy = RetryPolicy(max_attempts=3, base_delay=0.02, jitter=0.0)
            run_sender(db, box, lambda s: until(lambda: not queued(db)), retry=policy)
    assert len(rx.requests) == 3
    [d] = outbox.list_deliveries(con, wid)
    assert d["status"] == "failed" and d["attempts"] == 3
    assert d["error"] == "HTTP 500; gave up after 3 attempts"
    assert any("failed after 3 attempt(s)" in r.getMessage() for r in caplog.records)


def test_dead_receivers_do_not_slow_a_healthy_one(ws):
    """A hanging receiver and a refusing one, each with a backlog, next to a healthy one: the
    healthy one's notifications arrive in well under one request timeout (measured: 0.45 s
    for 20, sender start included), and the dead ones hold one slot each, not the sender."""
    con, box, db = ws
    timeout = 3.0
    with Hanging() as hanging, Receiver() as healthy:
        dead = [
            register(con, box, hanging.url),
            register(con, box, f"http://127.0.0.1:{closed_port()}/"),
        ]
        good = register(con, box, healthy.url)
        outbox.enqueue(con, [alert(i) for i in range(20)])
        started = time.monotonic()

        async def body(sender):
            await until(lambda: len(healthy.requests) == 20, timeout=timeout)
            elapsed = time.monotonic() - started
            await until(lambda: not queued(db, good))  # the batch's outcomes are stored
            return elapsed

        elapsed = run_sender(db, box, body, timeout=timeout, concurrency=4)
    assert elapsed < timeout / 2, elapsed
    for wid in dead:  # still queued (retried later on their own schedule), none given up
        assert len(queued(db, wid)) == 20


def test_deleted_webhook_gets_no_further_deliveries(ws):
    con, box, db = ws
    with Receiver([503] * 100) as rx:
        wid = register(con, box, rx.url)
        outbox.enqueue(con, [alert(1), alert(2)])

        async def body(sender):
            await until(lambda: len(rx.requests) == 1)
            assert await db(hooks.delete_webhook, wid)
            sender.forget(wid)  # what the service does after deleting
            await asyncio.sleep(FAST.base_delay * 4)  # past the retry it would have made

        run_sender(db, box, body)
    assert len(rx.requests) == 1
    assert queued(db) == []
    assert {d["status"] for d in outbox.list_deliveries(con, wid)} == {"cancelled"}


def test_destination_checked_again_at_delivery(ws):
    """Rows that name a private address (or a name resolving to one) are refused before any
    connection; a name resolving to loopback is sent to a checked address with its own Host
    header."""
    con, box, db = ws
    # the receiver listens on 127.0.0.1 only: ::1 refuses, and the next address is tried
    names = {"hooks.example": ["::1", "127.0.0.1"], "rebound.example": ["10.0.0.7"]}

    async def resolver(host, port):
        return names[host]

    with Receiver() as rx:
        private = register(con, box, "http://10.1.2.3/hook")  # bypassing registration
        rebound = register(con, box, "http://rebound.example/hook")
        named = register(con, box, f"http://hooks.example:{rx.port}/hook")
        outbox.enqueue(con, [alert(1)])
        run_sender(db, box, lambda s: until(lambda: not queued(db)), resolver=resolver)
    for wid in (private, rebound):
        [d] = outbox.list_deliveries(con, wid)
        assert (d["status"], d["attempts"], d["error"]) == ("failed", 1, REFUSED)
    [(_, headers, _)] = rx.requests
    assert headers["Host"] == f"hooks.example:{rx.port}"
    assert outbox.list_deliveries(con, named)[0]["status"] == "delivered"


def test_loopback_refused_at_delivery_without_the_flag(ws):
    con, box, db = ws
    with Receiver() as rx:
        wid = register(con, box, rx.url)
        outbox.enqueue(con, [alert(1)])
        policy = DestinationPolicy()
        run_sender(db, box, lambda s: until(lambda: not queued(db)), policy=policy)
    assert rx.requests == []
    assert outbox.list_deliveries(con, wid)[0]["error"] == REFUSED


def test_a_webhook_hears_only_of_what_happens_after_its_registration(ws):
    con, box, db = ws
    before = {**alert(1), "created_at": "2020-01-01T00:00:00+00:00"}
    wid = register(con, box, "http://127.0.0.1:9/")
    assert outbox.enqueue(con, [before, alert(2)]) == 1
    assert queued(db) == [wid]
