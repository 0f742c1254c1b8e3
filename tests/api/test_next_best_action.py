"""The next best action through the real server: the playbook of the customer's live segment,
finished for them under their consent; playbook edits picked up while running, a broken edit
survived; segment entry announced to webhooks that subscribe to actions."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from segmint import pipeline
from segmint.store.workspace import Workspace

from .conftest import LiveServer, make_workspace
from .test_webhooks import Receiver, purchases


@pytest.fixture(scope="module")
def server(template_workspace: Path, tmp_path_factory: pytest.TempPathFactory):
    ws, keys = make_workspace(template_workspace, tmp_path_factory.mktemp("nba") / "ws")
    files = pipeline.init_playbooks(Workspace(ws))
    pipeline.recommend(Workspace(ws))
    server = LiveServer(ws, "--allow-loopback-webhooks").start()
    server.keys = keys  # type: ignore[attr-defined]
    server.files = files  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


def _nba(server, customer: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/v1/customers/{customer}/next-best-action",
        headers=server.keys.h("read"),
        timeout=30,
    )


def _customer_in(server, segment_id: int) -> str:
    r = httpx.get(
        f"{server.url}/v1/segments/{segment_id}/members",
        params={"limit": 1},
        headers=server.keys.h("read"),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()["customer_ids"][0]


def _consent(server, customer: str, purpose: str, status: str) -> None:
    r = httpx.post(
        f"{server.url}/v1/consent",
        json={"changes": [{"customer_id": customer, "purpose": purpose, "status": status}]},
        headers=server.keys.h("admin"),
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text


def test_the_action_follows_the_playbook_of_the_customers_segment(server):
    first = server.files[0]
    customer = _customer_in(server, first.segment_id)
    r = _nba(server, customer)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["customer_id"] == customer and got["segment_id"] == first.segment_id
    action = got["action"]
    assert action["objective"] == first.objective
    assert action["playbook"].startswith(f"segment-{first.segment_id}.yaml")
    assert action["channel"] in first.channels
    assert action["offer"]["discount_pct"] <= first.discount_pct
    assert datetime.fromisoformat(action["send_at"]) > datetime.now(UTC)
    assert action["message"] and "{{" not in action["message"]
    assert any("objective" in reason for reason in got["reasons"])
    # the customer's stored recommendations, also named in the default message
    items = got["recommendations"]
    assert 0 < len(items) <= 5 and all(i["product_id"] for i in items)
    first_item = items[0]["description"] or items[0]["product_id"]
    assert first_item in action["message"]


def test_unknown_customer_is_404_and_withdrawn_channel_is_skipped(server):
    assert _nba(server, "nobody-" + uuid.uuid4().hex).status_code == 404
    first = server.files[0]
    customer = _customer_in(server, first.segment_id)
    before = _nba(server, customer).json()["action"]["channel"]
    _consent(server, customer, before if before != "web" else "personalisation", "withdrawn")
    after = _nba(server, customer)
    if before == "web":  # personalisation withdrawn: no action at all
        assert after.status_code == 451
    else:
        assert after.status_code == 200
        assert after.json()["action"]["channel"] != before


def test_edits_to_a_playbook_are_used_and_a_broken_edit_is_survived(server):
    first = server.files[0]
    customer = _customer_in(server, first.segment_id)
    path = first.path
    book = yaml.safe_load(path.read_text())
    book["objective"] = "win back"
    book["template"] = "Edited for {{ segment.name }}: {{ offer.discount_pct }}% off"
    book["micro_segments"] = {}
    path.write_text(yaml.safe_dump(book))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        action = _nba(server, customer).json()["action"]
        if action["objective"] == "win back":
            break
        time.sleep(0.3)
    assert action["objective"] == "win back"
    assert action["message"].startswith("Edited for ")
    path.write_text("objective: [unclosed\n")
    time.sleep(1.5)
    r = _nba(server, customer)
    assert r.status_code == 200 and r.json()["action"]["objective"] == "win back"


def test_segment_entry_sends_the_action_to_subscribed_webhooks(server):
    receiver = Receiver()
    try:
        r = httpx.post(
            f"{server.url}/v1/webhooks",
            json={
                "url": receiver.url("/actions"),
                "event_types": ["action.next"],
                "purpose": "personalisation",
                "raw_ids": True,
            },
            headers=server.keys.h("admin"),
            timeout=30,
        )
        assert r.status_code == 201, r.text
        prefix = "nba-" + uuid.uuid4().hex[:8]
        events = purchases(prefix, 3)
        r = httpx.post(
            f"{server.url}/v1/events",
            json={"events": events},
            headers=server.keys.h("ingest"),
            timeout=30,
        )
        assert r.status_code in (200, 202), r.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not receiver.got:
            time.sleep(0.2)
        bodies = [b for p, _, b, _ in receiver.got if p == "/actions"]
        assert bodies, "no action.next notification arrived"
        message = json.loads(bodies[0])
        assert message["type"] == "action.next"
        assert message["data"]["customer_id"].startswith(prefix)
        assert message["data"]["action"]["objective"]
    finally:
        receiver.close()
