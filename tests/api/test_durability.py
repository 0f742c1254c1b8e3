"""An acknowledged event is never lost: SIGKILL the real server under load, restart, count."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

from .conftest import LiveServer, make_workspace

SENDER = Path(__file__).with_name("_sender.py")


def test_kill_under_load_and_restart_loses_nothing(template_workspace, tmp_path):
    ws, keys = make_workspace(template_workspace, tmp_path / "ws")
    server = LiveServer(ws).start()
    acked_file = tmp_path / "acked.jsonl"
    sender = subprocess.Popen(
        [sys.executable, str(SENDER), server.url, keys.ingest, str(acked_file), "6"]
    )
    try:
        # wait until the load is well under way, then kill -9 the server mid-load
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if acked_file.exists() and sum(1 for _ in open(acked_file)) > 800:
                break
            time.sleep(0.05)
        server.kill()
        killed_at = sum(1 for _ in open(acked_file))
        sender.wait(30)
    finally:
        server.kill()
        if sender.poll() is None:
            sender.kill()
    acked = [json.loads(line) for line in open(acked_file)]
    assert len(acked) >= killed_at > 800
    ids = [e["event_id"] for e in acked]
    assert len(set(ids)) == len(ids)

    # restart: the log is replayed; every acknowledged event is known (a resend is a duplicate)
    server = LiveServer(ws).start()
    try:
        with httpx.Client(base_url=server.url, headers=keys.h("admin"), timeout=60) as c:
            for i in range(0, len(acked), 5000):
                chunk = acked[i : i + 5000]
                r = c.post("/v1/events", json={"events": chunk})
                assert r.status_code == 200, r.text
                assert (r.json()["accepted"], r.json()["duplicates"]) == (0, len(chunk))
            # and the live profiles count each purchase once
            cid = acked[0]["customer_id"]
            r = c.get(f"/v1/customers/{cid}")
            assert r.status_code == 200, r.text
            prof = r.json()["profile"]["features"]
    finally:
        server.stop()  # graceful: flushes whatever is still queued

    con = duckdb.connect(str(ws / "segmint.duckdb"), read_only=True)
    try:
        con.execute("CREATE TEMP TABLE acked(event_id VARCHAR)")
        con.executemany("INSERT INTO acked VALUES (?)", [[i] for i in ids])
        (missing,) = con.execute(
            "SELECT count(*) FROM acked ANTI JOIN events USING (event_id)"
        ).fetchone()
        total, distinct = con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events"
        ).fetchone()
        n_purchases = sum(1 for e in acked if e["type"] == "purchase")
        (stored_purchases,) = con.execute(
            """SELECT count(*) FROM transactions t JOIN acked a ON t.order_id = a.event_id"""
        ).fetchone()
        (cust_orders,) = con.execute(
            "SELECT count(DISTINCT order_id) FILTER (WHERE NOT is_return) FROM transactions"
            " WHERE customer_id = ?",
            [cid],
        ).fetchone()
    finally:
        con.close()
    assert missing == 0
    assert total == distinct  # exactly once
    assert stored_purchases == n_purchases
    assert prof["frequency"] == cust_orders
