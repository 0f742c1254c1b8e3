"""Change detection on the real server: quiet on stationary weeks, an alert on a planted shift."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import httpx
import pytest

from .conftest import LiveServer, make_workspace


def _baseline_weeks(ws) -> tuple[list[list[dict]], datetime]:
    con = duckdb.connect(str(ws / "segmint.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """SELECT customer_id, category, amount, ts,
                      CAST(date_trunc('week', ts) AS TIMESTAMP) AS week
               FROM transactions WHERE NOT is_return
                 AND ts >= (SELECT date_trunc('week', max(ts)) - INTERVAL 12 WEEK FROM transactions)
                 AND ts < (SELECT date_trunc('week', max(ts)) FROM transactions)
               ORDER BY ts"""
        ).fetchall()
        (last_week,) = con.execute(
            "SELECT CAST(date_trunc('week', max(ts)) AS TIMESTAMP) FROM transactions"
        ).fetchone()
    finally:
        con.close()
    weeks: dict = {}
    for cid, cat, amount, ts, week in rows:
        weeks.setdefault(week, []).append(
            {"customer_id": cid, "category": cat, "amount": amount, "offset": ts - week}
        )
    return [weeks[w] for w in sorted(weeks)], last_week


def _events(lines, week_start, tag, category=None):
    return [
        {
            "event_id": f"{tag}-{i}",
            "customer_id": x["customer_id"],
            "ts": (week_start + x["offset"]).isoformat() + "Z",
            "type": "purchase",
            "properties": {"amount": x["amount"], "category": category or x["category"]},
        }
        for i, x in enumerate(lines)
    ]


@pytest.fixture(scope="module")
def drift_server(template_workspace, tmp_path_factory):
    ws, keys = make_workspace(template_workspace, tmp_path_factory.mktemp("drift") / "ws")
    weeks, last_week = _baseline_weeks(ws)
    server = LiveServer(ws).start()
    try:
        yield server, keys, weeks, last_week
    finally:
        server.stop()


def test_quiet_on_stationary_weeks_then_alert_on_planted_shift(drift_server):
    server, keys, weeks, last_week = drift_server
    c = httpx.Client(base_url=server.url, timeout=60)
    week = last_week + timedelta(days=7)
    # six weeks that replay the baseline's own weeks: nothing has changed
    for k in range(6):
        body = {"events": _events(weeks[k % len(weeks)], week, f"st{k}")}
        assert c.post("/v1/events", json=body, headers=keys.h("ingest")).status_code == 200
        week += timedelta(days=7)
    c.post(
        "/v1/events",
        json={"events": _events(weeks[0][:1], week, "close0")},
        headers=keys.h("ingest"),
    )
    alerts = c.get("/v1/alerts", headers=keys.h("read")).json()["alerts"]
    assert alerts == []
    # then everyone buys only christmas items for three weeks: the shares jump
    for k in range(3):
        body = {"events": _events(weeks[k], week, f"shift{k}", category="christmas")}
        assert c.post("/v1/events", json=body, headers=keys.h("ingest")).status_code == 200
        week += timedelta(days=7)
    c.post(
        "/v1/events",
        json={"events": _events(weeks[0][:1], week, "close1")},
        headers=keys.h("ingest"),
    )
    alerts = []
    for _ in range(50):
        alerts = c.get("/v1/alerts", headers=keys.h("read")).json()["alerts"]
        if alerts:
            break
        import time

        time.sleep(0.1)
    assert alerts, "no alert after a planted shift"
    shares = [a for a in alerts if a["metric"] == "category_share:christmas"]
    assert shares and all(a["evidence"]["direction"] == "up" for a in shares)
    assert "christmas" in shares[0]["message"]
