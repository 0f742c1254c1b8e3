"""Consent enforced on every customer-level output, against the real server and the real CLI.

For each purpose one customer withdrew it; a control customer withdrew nothing. Every output
(table-driven: :data:`OUTPUTS`) is read under each purpose it can declare, and must hold the
control customer and never the one who withdrew that purpose. A last test walks the OpenAPI
schema and the exports: an output that carries customer ids and is not in the table (so
declares no purpose) fails it.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from segmint import pipeline
from segmint.consent.policy import DEFAULT_PURPOSES, ConsentPolicy, save_policy
from segmint.store.workspace import Workspace

from .conftest import LiveServer, make_workspace
from .test_webhooks import Receiver

PURPOSES = DEFAULT_PURPOSES
NOW = datetime.now(UTC).replace(tzinfo=None)


def _segmint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segmint", *args], capture_output=True, text=True, timeout=120
    )


@dataclass
class World:
    """The server, its keys, the customers of the run who withdrew each purpose (by file) and
    new customers who withdrew each purpose (by the API), and what the outputs sent."""

    server: LiveServer
    stored: dict[str, str]  # purpose -> a run customer who withdrew it
    stored_control: str
    fresh: dict[str, str]  # purpose -> a new customer who withdrew it before their events
    fresh_control: str
    exports: dict[str, Path]  # purpose -> the CLI export written under it (raw ids)
    webhooks: dict[str, str]  # purpose -> path its notifications arrive on
    receiver: Receiver
    streams: dict[str, list[dict]]  # purpose -> messages the stream sent under it
    ingest_answer: dict


def _purchase(customer_id: str, amount: float = 80.0) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "customer_id": customer_id,
        "ts": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "type": "purchase",
        "properties": {"amount": amount, "category": "garden"},
    }


def _listen(url: str, key: str, purpose: str, into: list[dict], ready: threading.Event) -> None:
    with httpx.stream(
        "GET",
        url + "/v1/stream",
        params={"max_seconds": 12, "purpose": purpose},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    ) as r:
        ready.set()
        for line in r.iter_lines():
            if line.startswith("data:"):
                into.append(json.loads(line[5:]))


@pytest.fixture(scope="module")
def world(template_workspace: Path, tmp_path_factory: pytest.TempPathFactory):
    ws_path, keys = make_workspace(template_workspace, tmp_path_factory.mktemp("consent") / "ws")
    ws = Workspace(ws_path)
    with ws.transaction() as con:
        save_policy(con, ConsentPolicy(min_audience=5))
        ranked = con.execute(
            """SELECT customer_id FROM assignments WHERE run_id = (SELECT max(run_id) FROM runs)
               ORDER BY customer_id"""
        ).fetchall()
    run_ids = [r[0] for r in ranked]
    stored = {p: run_ids[i] for i, p in enumerate(PURPOSES)}
    stored_control = run_ids[len(PURPOSES)]
    # the run's customers withdrew by file, as a business has it (mixed case, extra columns)
    consent_file = ws_path.parent / "consent.csv"
    with open(consent_file, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "purpose", "status", "ts", "source", "evidence", "note"])
        for p, c in stored.items():
            w.writerow([c, p.upper(), "Withdrawn", "2024-01-02 10:00:00", "crm", f"form-{c}", ""])
        w.writerow([stored_control, "email", "granted", "2024-01-02 10:00:00", "crm", "f", "x"])
    done = _segmint("ingest", "consent", str(consent_file), "--workspace", str(ws_path))
    assert done.returncode == 0, done.stderr
    pipeline.recommend(ws, top=3)
    exports = {}
    for p in PURPOSES:
        exports[p] = ws_path.parent / f"export-{p}.csv"
        done = _segmint(
            "export", "assignments", "--purpose", p, "--raw-ids",
            "--workspace", str(ws_path), "-o", str(exports[p]),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "withheld" in done.stderr
        exports[f"recommendations {p}"] = ws_path.parent / f"recommendations-{p}.csv"
        pipeline.export(ws, "recommendations", exports[f"recommendations {p}"], purpose=p,
                        raw_ids=True)  # fmt: skip
    server = LiveServer(ws_path, "--allow-loopback-webhooks").start()
    server.keys = keys  # type: ignore[attr-defined]
    receiver = Receiver()
    try:
        client = httpx.Client(base_url=server.url, timeout=30)
        webhooks = {}
        for p in PURPOSES:
            r = client.post(
                "/v1/webhooks",
                json={"url": receiver.url(f"/{p}"), "purpose": p, "raw_ids": True},
                headers=keys.h("admin"),
            )
            assert r.status_code == 201, r.text
            webhooks[p] = f"/{p}"
        r = client.post(
            "/v1/webhooks", json={"url": receiver.url("/pseudo")}, headers=keys.h("admin")
        )
        assert r.status_code == 201 and r.json()["purpose"] == "personalisation"
        fresh = {p: f"fresh-{p}-{uuid.uuid4().hex[:6]}" for p in PURPOSES}
        fresh_control = f"fresh-ok-{uuid.uuid4().hex[:6]}"
        r = client.post(
            "/v1/consent",
            json={
                "changes": [
                    {"customer_id": c, "purpose": p, "status": "withdrawn", "evidence": "api"}
                    for p, c in fresh.items()
                ]
            },
            headers=keys.h("ingest"),
        )
        assert r.status_code == 201, r.text
        streams: dict[str, list[dict]] = {p: [] for p in PURPOSES}
        threads = []
        for p in PURPOSES:
            ready = threading.Event()
            t = threading.Thread(
                target=_listen, args=(server.url, keys.read, p, streams[p], ready), daemon=True
            )
            t.start()
            ready.wait(10)
            threads.append(t)
        events = [_purchase(c) for c in [*fresh.values(), fresh_control]]
        events += [_purchase(c, 5000.0) for c in [*stored.values(), stored_control]]
        r = client.post("/v1/events", json={"events": events}, headers=keys.h("ingest"))
        assert r.status_code == 200, r.text
        answer = r.json()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(_sent(receiver, path, fresh_control) for path in webhooks.values()):
                break
            time.sleep(0.2)
        for t in threads:
            t.join(15)
        yield World(
            server, stored, stored_control, fresh, fresh_control, exports, webhooks, receiver,
            streams, answer,
        )  # fmt: skip
    finally:
        receiver.close()
        server.stop()


def _sent(receiver: Receiver, path: str, customer: str) -> bool:
    return any(
        p == path and json.loads(body).get("data", {}).get("customer_id") == customer
        for p, _, body, _ in list(receiver.got)
    )


def _get(world: World, path: str, **params) -> httpx.Response:
    return httpx.get(
        world.server.url + path, params=params, headers=world.server.keys.h("read"), timeout=30
    )


def _members(world: World, purpose: str) -> set[str]:
    out: set[str] = set()
    segments = _get(world, "/v1/segments").json()["segments"]
    for seg in segments:
        cursor = None
        while True:
            params = {"purpose": purpose, "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            r = _get(world, f"/v1/segments/{seg['segment_id']}/members", **params)
            if r.status_code == 403:  # under the minimum audience: nobody listed
                break
            body = r.json()
            assert body["consent"]["purpose"] == purpose
            out.update(body["customer_ids"])
            cursor = body["next_cursor"]
            if not cursor:
                break
    return out


def _export_ids(world: World, purpose: str) -> set[str]:
    with open(world.exports[purpose], newline="") as f:
        return {row["customer_id"] for row in csv.DictReader(f)}


def _recommendation_export_ids(world: World, purpose: str) -> set[str]:
    with open(world.exports[f"recommendations {purpose}"], newline="") as f:
        return {row["customer_id"] for row in csv.DictReader(f)}


def _recommended(world: World, purpose: str) -> set[str]:
    found = set()
    for c in [*world.stored.values(), world.stored_control]:
        r = _get(world, f"/v1/customers/{c}/recommendations", purpose=purpose)
        assert r.status_code in (200, 404, 451), r.text
        if r.status_code == 200:
            assert r.json()["items"], c
            found.add(c)
    return found


def _readable(world: World, purpose: str, customers: list[str]) -> set[str]:
    found = set()
    for c in customers:
        r = _get(world, f"/v1/customers/{c}", purpose=purpose)
        assert r.status_code in (200, 404, 451), r.text
        if r.status_code == 200:
            found.add(c)
    return found


def _actionable(world: World, purpose: str) -> set[str]:
    """Customers the next best action answers for (its purpose is personalisation)."""
    found = set()
    for c in [*world.stored.values(), world.stored_control]:
        r = _get(world, f"/v1/customers/{c}/next-best-action")
        assert r.status_code in (200, 451), r.text
        if r.status_code == 200:
            assert r.json()["customer_id"] == c
            found.add(c)
    return found


def _webhook_ids(world: World, purpose: str) -> set[str]:
    path = world.webhooks[purpose]
    return {
        json.loads(body)["data"]["customer_id"]
        for p, _, body, _ in list(world.receiver.got)
        if p == path and json.loads(body)["type"].startswith("segment.")
    }


def _stream_ids(world: World, purpose: str) -> set[str]:
    return {m["data"]["customer_id"] for m in world.streams[purpose] if "customer_id" in m["data"]}


def _ingest_ids(world: World, purpose: str) -> set[str]:
    return {c["customer_id"] for c in world.ingest_answer["customers"]}


@dataclass(frozen=True)
class Output:
    """A customer-level output: how to read the customers it carries under a purpose, the
    purposes it can declare, and which customers it can carry at all."""

    name: str
    read: Callable[[World, str], set[str]]
    purposes: tuple[str, ...]
    customers: str  # "stored": the run's customers; "fresh": customers new to the service
    route: tuple[str, str] | None = None  # (method, OpenAPI path) for the completeness check


OUTPUTS = [
    Output("export assignments (CLI)", _export_ids, PURPOSES, "stored"),
    Output(
        "segment members",
        _members,
        PURPOSES,
        "stored",
        ("get", "/v1/segments/{segment_id}/members"),
    ),  # fmt: skip
    Output(
        "customer read",
        lambda w, p: _readable(w, p, [*w.stored.values(), w.stored_control]),
        PURPOSES,
        "stored",
        ("get", "/v1/customers/{customer_id}"),
    ),
    Output("export recommendations", _recommendation_export_ids, PURPOSES, "stored"),
    Output(
        "customer recommendations",
        _recommended,
        PURPOSES,
        "stored",
        ("get", "/v1/customers/{customer_id}/recommendations"),
    ),
    Output("webhooks", _webhook_ids, PURPOSES, "fresh"),
    Output("event stream", _stream_ids, PURPOSES, "fresh", ("get", "/v1/stream")),
    Output("events answer", _ingest_ids, ("personalisation",), "fresh", ("post", "/v1/events")),
    Output(
        "next best action",
        _actionable,
        ("personalisation",),
        "stored",
        ("get", "/v1/customers/{customer_id}/next-best-action"),
    ),
]
#: outputs whose purpose is fixed (personalisation), so they take no purpose parameter
FIXED_PURPOSE = {("post", "/v1/events"), ("get", "/v1/customers/{customer_id}/next-best-action")}


@pytest.mark.parametrize(
    ("output", "purpose"),
    [(o, p) for o in OUTPUTS for p in o.purposes],
    ids=lambda x: x.name if isinstance(x, Output) else x,
)
def test_no_output_carries_a_customer_who_withdrew_its_purpose(world, output, purpose):
    withdrew = (world.stored if output.customers == "stored" else world.fresh)[purpose]
    control = world.stored_control if output.customers == "stored" else world.fresh_control
    carried = output.read(world, purpose)
    assert control in carried, f"{output.name} under {purpose} lost the control customer"
    assert withdrew not in carried, f"{output.name} under {purpose} carried {withdrew}"
    # the others withdrew other purposes only: they stay
    others = (world.stored if output.customers == "stored" else world.fresh).items()
    assert {c for p, c in others if p != purpose} <= carried


def test_webhooks_get_pseudonyms_by_default(world):
    got = [
        json.loads(body)["data"]
        for p, _, body, _ in list(world.receiver.got)
        if p == "/pseudo" and json.loads(body)["type"].startswith("segment.")
    ]
    assert len({d["customer_id"] for d in got}) >= len(world.fresh)  # all but one, and others
    raw = {*world.fresh.values(), world.fresh_control, *world.stored.values()}
    for d in got:
        assert d["customer_id_kind"] == "pseudonym"
        assert len(d["customer_id"]) == 32 and d["customer_id"] not in raw
    # a pseudonym is stable: the control entered once and is named the same in each message
    bodies = b"".join(body for p, _, body, _ in world.receiver.got if p == "/pseudo")
    assert world.fresh_control.encode() not in bodies


def test_counts_of_withheld_customers_are_reported(world):
    assert world.ingest_answer["withheld"] >= 1
    hooks = httpx.get(
        world.server.url + "/v1/webhooks", headers=world.server.keys.h("admin"), timeout=10
    ).json()["webhooks"]
    assert all(h["withheld"] >= 1 for h in hooks), hooks


def test_every_customer_output_declares_a_purpose(world):
    """A route whose answer carries customer ids must be in OUTPUTS and take a purpose (the
    events answer's is fixed: personalisation); a per-customer export likewise."""
    spec = httpx.get(world.server.url + "/openapi.json", timeout=10).json()
    covered = {o.route for o in OUTPUTS if o.route}
    carrying = set()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            schema = json.dumps(op.get("responses", {}))
            refs = _resolve(spec, schema)
            if '"customer_id' in refs or path == "/v1/stream":
                carrying.add((method, path))
    admin_only = {
        ("delete", "/v1/customers/{customer_id}"),
        ("get", "/v1/consent/proof/{customer_id}"),
    }
    missing = carrying - covered - admin_only
    assert not missing, f"customer-level outputs without a declared purpose: {missing}"
    for method, path in covered - FIXED_PURPOSE:
        names = {p["name"] for p in spec["paths"][path][method].get("parameters", [])}
        assert "purpose" in names, (method, path)
    per_customer = {k for k, q in pipeline.EXPORTS.items() if "customer_id" in q}
    assert per_customer <= {"assignments", "recommendations"}, (
        "a new per-customer export needs a row in OUTPUTS"
    )


def _resolve(spec: dict, text: str, depth: int = 0) -> str:
    """The schema text with every $ref expanded (a few levels)."""
    if depth > 6:
        return text
    out = text
    for name, schema in spec["components"]["schemas"].items():
        ref = f'"#/components/schemas/{name}"'
        if ref in out:
            out += _resolve(spec, json.dumps(schema), depth + 1)
    return out


def test_consent_events_reach_the_ledger_and_every_output(world):
    server, keys = world.server, world.server.keys
    customer = f"evt-{uuid.uuid4().hex[:6]}"
    consent = {
        "event_id": uuid.uuid4().hex,
        "customer_id": customer,
        "ts": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "type": "consent",
        "properties": {"purpose": "ads", "status": "withdrawn"},
    }
    r = httpx.post(
        server.url + "/v1/events",
        json={"events": [_purchase(customer), consent]},
        headers=keys.h("ingest"),
    )
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # applied with the next flush
        if _get(world, f"/v1/customers/{customer}", purpose="ads").status_code == 451:
            break
        time.sleep(0.2)
    assert _get(world, f"/v1/customers/{customer}", purpose="ads").status_code == 451
    assert _get(world, f"/v1/customers/{customer}", purpose="email").status_code == 200
    proof = httpx.get(
        f"{server.url}/v1/consent/proof/{customer}", headers=keys.h("admin"), timeout=10
    ).json()
    assert [e["evidence"] for e in proof["entries"]] == ["event:" + consent["event_id"]]
    bad = dict(
        consent, event_id=uuid.uuid4().hex, properties={"purpose": "fax", "status": "granted"}
    )
    r = httpx.post(server.url + "/v1/events", json=bad, headers=keys.h("ingest"))
    assert r.status_code == 422 and "unknown consent purpose" in r.text
