"""Demand on the real server: an interest shift becomes a demand alert with its expected effect
on next week's orders (stored, and sent to a webhook as before), and GET /v1/demand and
GET /v1/markets answer, with hostile parameters refused."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import duckdb
import httpx
import pytest

from .conftest import LiveServer, make_workspace
from .test_drift import _baseline_weeks, _events
from .test_webhooks import LOOPBACK, Receiver


def _baseline_orders(ws, category: str) -> dict[int, float]:
    """Each segment's mean weekly orders containing ``category`` over the 26 full weeks
    before the newest one (the service's baseline), counted here from the stored lines."""
    con = duckdb.connect(str(ws / "segmint.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """WITH lines AS (
                   SELECT a.segment_id, t.category, t.order_id, date_trunc('week', t.ts) AS week
                   FROM transactions t JOIN assignments a
                     ON a.customer_id = t.customer_id
                    AND a.run_id = (SELECT max(run_id) FROM runs)
                   WHERE NOT t.is_return
                     AND t.ts >= (SELECT date_trunc('week', max(ts)) - INTERVAL 26 WEEK
                                  FROM transactions WHERE NOT is_return)
                     AND t.ts < (SELECT date_trunc('week', max(ts)) FROM transactions
                                 WHERE NOT is_return))
               SELECT segment_id, count(DISTINCT order_id) FILTER (WHERE category = ?)
                      / (SELECT count(DISTINCT week) FROM lines)
               FROM lines GROUP BY segment_id""",
            [category],
        ).fetchall()
    finally:
        con.close()
    return {int(s): float(v) for s, v in rows}


@pytest.fixture(scope="module")
def demand_server(template_workspace, tmp_path_factory):
    ws, keys = make_workspace(template_workspace, tmp_path_factory.mktemp("demand") / "ws")
    weeks, last_week = _baseline_weeks(ws)
    baseline = _baseline_orders(ws, "christmas")  # before the server holds the database
    receiver = Receiver()
    server = LiveServer(ws, LOOPBACK).start()
    try:
        yield server, keys, weeks, last_week, receiver, baseline
    finally:
        server.stop()
        receiver.close()


def test_interest_shift_alert_carries_the_expected_demand_effect(demand_server):
    server, keys, weeks, last_week, receiver, baseline = demand_server
    c = httpx.Client(base_url=server.url, timeout=60)
    hook = c.post(
        "/v1/webhooks",
        json={"url": receiver.url("/alerts"), "event_types": ["alert"], "raw_ids": True},
        headers=keys.h("admin"),
    )
    assert hook.status_code == 201, hook.text
    week = last_week + timedelta(days=7)
    for k in range(6):  # stationary weeks, then everyone buys only christmas items
        body = {"events": _events(weeks[k % len(weeks)], week, f"st{k}")}
        assert c.post("/v1/events", json=body, headers=keys.h("ingest")).status_code == 200
        week += timedelta(days=7)
    for k in range(3):
        body = {"events": _events(weeks[k], week, f"shift{k}", category="christmas")}
        assert c.post("/v1/events", json=body, headers=keys.h("ingest")).status_code == 200
        week += timedelta(days=7)
    c.post(
        "/v1/events",
        json={"events": _events(weeks[0][:1], week, "close")},
        headers=keys.h("ingest"),
    )
    shares = []
    for _ in range(100):
        alerts = c.get("/v1/alerts", headers=keys.h("read")).json()["alerts"]
        shares = [a for a in alerts if a["metric"] == "category_share:christmas"]
        if shares:
            break
        time.sleep(0.1)
    assert shares, "no interest-shift alert after a planted shift"
    for alert in shares:
        ev = alert["evidence"]
        # the old fields are still there (backward compatible), the demand fields are added
        assert ev["direction"] == "up" and "interest in category christmas" in alert["message"]
        assert ev["baseline_weekly_orders"] == pytest.approx(
            baseline[alert["segment_id"]], abs=0.01
        )
        assert ev["relative_change"] > 0
        assert ev["expected_change_orders"] == pytest.approx(
            baseline[alert["segment_id"]] * ev["relative_change"], abs=0.06
        )
        pct = f"{ev['relative_change']:.0%}"
        assert "demand for christmas among " in alert["message"]
        assert (
            f"up {pct}: about {ev['expected_change_orders']:+,.0f} orders next week"
            in (alert["message"])
        )
    # the webhook got the same alert with the fields at the top of its data
    deadline = time.monotonic() + 30
    sent = []
    while time.monotonic() < deadline and not sent:
        sent = [
            json.loads(body)["data"]
            for path, _, body, _ in list(receiver.got)
            if path == "/alerts"
            and json.loads(body)["data"]["metric"] == "category_share:christmas"
        ]
        time.sleep(0.1)
    assert sent, "no alert sent to the webhook"
    assert {"expected_change_orders", "baseline_weekly_orders", "relative_change"} <= set(sent[0])


def test_demand_and_markets_routes(demand_server):
    server, keys, *_ = demand_server
    c = httpx.Client(base_url=server.url, timeout=60)
    r = c.get("/v1/demand", params={"weeks": 2, "by": "segment"}, headers=keys.h("read"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["weeks"] == 2 and body["by"] == "segment" and body["rows"]
    assert body["method"] == "run rate" and "no predictions" in body["note"]
    for bad in ({"weeks": 0}, {"weeks": 53}, {"by": "region"}, {"weeks": "x"}):
        assert c.get("/v1/demand", params=bad, headers=keys.h("read")).status_code == 422
    assert c.get("/v1/demand").status_code == 401
    r = c.get("/v1/markets", params={"by": "country"}, headers=keys.h("read"))
    assert r.status_code == 200, r.text
    markets = r.json()["markets"]
    assert markets and sum(m["customers"] for m in markets) == 300
    assert all(m["customers"] >= 5 or m["market"] == "other" for m in markets)
    r = c.get("/v1/markets", params={"by": "planet"}, headers=keys.h("read"))
    assert r.status_code == 400 and "unknown market attribute" in r.text
