"""`segmint serve --refit-every`: a refit runs on schedule once events arrived, not before."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from segmint.cli.main import app
from segmint.cli.serve import parse_duration

from .conftest import LiveServer, make_workspace


def _runs(server) -> dict:
    return httpx.get(server.url + "/v1/runs", headers=server.keys.h("read"), timeout=10).json()


def test_scheduled_refit_waits_for_new_events(template_workspace, tmp_path):
    ws, keys = make_workspace(template_workspace, tmp_path / "ws")
    server = LiveServer(ws, "--refit-every", "2s").start()
    server.keys = keys
    try:
        first = _runs(server)
        assert first["refit"]["state"] == "idle"
        assert first["refit"]["next_scheduled_at"] is not None
        time.sleep(3)  # one period without events: nothing to refit
        assert _runs(server)["refit"]["state"] == "idle"
        event = {
            "event_id": uuid.uuid4().hex,
            "customer_id": "scheduled-1",
            "ts": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "type": "purchase",
            "properties": {"amount": 75.0, "category": "garden"},
        }
        r = httpx.post(server.url + "/v1/events", json=event, headers=keys.h("ingest"))
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            refit = _runs(server)["refit"]
            if refit["state"] in ("done", "failed"):
                break
            time.sleep(0.3)
        assert refit["state"] == "done", refit
        assert refit["trigger"] == "schedule"
        assert httpx.get(server.url + "/health").json()["run_id"] == refit["run_id"]
        customer = httpx.get(server.url + "/v1/customers/scheduled-1", headers=keys.h("read"))
        assert customer.json()["segment_id"] is not None
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("24h", 86400), ("1.5d", 129600)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_bad_duration_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["serve", "-w", str(tmp_path / "ws"), "--refit-every", "soon"])
    assert result.exit_code == 2
    assert "--refit-every" in result.output and "not a duration" in result.output
