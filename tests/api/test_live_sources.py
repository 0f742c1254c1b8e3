"""Live source features against the real server: web, chat, device and social events sent to
``segmint serve`` give each customer the batch's feature values, and the batch model's segment,
also across a kill -9 between acknowledging events and recomputing their features."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest

from segmint import pipeline
from segmint.datasets import generate_sources, write_sources
from segmint.engine import engine_for
from segmint.features.identity import purchases_by_person, resolve_identities
from segmint.features.labels import SOURCE_PREFIXES
from segmint.pipeline._features import feature_frame
from segmint.segment import segmenter_from_dict
from segmint.store.runs import get_run, load_model
from segmint.store.workspace import Workspace

from .conftest import LiveServer

START = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(days=6)


@pytest.fixture(scope="module")
def sources_workspace(tmp_path_factory):
    """Every source ingested for 500 generated customers, and a run that used them all."""
    from segmint.service.auth import create_key

    root = tmp_path_factory.mktemp("sources")
    data = generate_sources(500, seed=11)
    files = write_sources(data, root / "data")
    ws = Workspace(root / "ws")
    pipeline.ingest_sources(ws, files)
    run = pipeline.segment(ws, write_html=False)
    assert set(run.metrics["sources"]["used"]) == {"web", "chats", "devices", "social"}
    with ws.transaction() as con:
        admin = create_key(con, scope="admin")[1]
        mapping, _ = resolve_identities(engine_for(con))
    customers = sorted(data.transactions.column("customer_id").unique().to_pylist())
    # an anonymous id (cookie, device, email) of each customer that has one
    anonymous = mapping[~mapping["raw_id"].isin(customers)].groupby("customer_id")["raw_id"].min()
    return ws, {"Authorization": f"Bearer {admin}"}, customers, anonymous.to_dict()


def _event(customer: str, kind: str, at: datetime, **properties) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "customer_id": customer,
        "ts": at.isoformat() + "Z",
        "type": kind,
        "properties": properties,
    }


def _visit(customer: str, at: datetime, device: str, channel: str) -> list[dict]:
    """A session: a page, two product views, a cart add and, for some, a checkout."""
    steps = [
        ("page_view", {"url": "/", "channel": channel}),
        ("search", {"query": "lamp"}),
        ("product_view", {"category": "Home", "product_id": "p1"}),
        ("product_view", {"category": "Garden", "product_id": "p2"}),
        ("add_to_cart", {"product_id": "p2"}),
    ]
    if device == "desktop":
        steps.append(("checkout", {}))
    return [
        _event(customer, kind, at + timedelta(minutes=3 * i), device=device, **props)
        for i, (kind, props) in enumerate(steps)
    ]


def _source_events(customers: list[str], offset_hours: float) -> list[dict]:
    events: list[dict] = []
    for i, c in enumerate(customers):
        at = START + timedelta(hours=offset_hours + i)
        events += _visit(c, at, "mobile" if i % 2 else "desktop", "email" if i % 3 else "paid")
        # a second visit two hours later: a new session
        events += _visit(c, at + timedelta(hours=2), "mobile", "social")
        talk = f"t-{c}-{offset_hours}"
        events += [
            _event(
                c,
                "chat_message",
                at + timedelta(minutes=1),
                text="My parcel never arrived and nobody answers, this is terrible",
                conversation_id=talk,
            ),
            _event(
                c,
                "chat_message",
                at + timedelta(minutes=9),
                text="Sorry to hear that, I have sent a replacement",
                conversation_id=talk,
                role="agent",
            ),
            _event(c, "chat_message", at + timedelta(minutes=30), text="Where is my refund?"),
            _event(c, "device", at, device_id=f"d-{c}", feature="lights", minutes=42.0),
            _event(c, "device", at + timedelta(days=1), device_id=f"d-{c}", fault=True),
            _event(c, "like", at + timedelta(minutes=5)),
            _event(c, "review", at + timedelta(minutes=6), rating=2.0, text="Disappointing"),
        ]
    return events


def _wait_until_reflected(client: httpx.Client, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = client.get("/health").json()
        if health["events_pending"] == 0 and health["sources_pending"] == 0:
            return health
        time.sleep(0.2)
    raise AssertionError(f"source features not refreshed in {timeout} s: {health}")


def _live_rows(client, headers, customers) -> tuple[pd.DataFrame, dict[str, int | None]]:
    rows, segments = {}, {}
    for c in customers:
        got = client.get(f"/v1/customers/{c}", headers=headers)
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["profile"]["sources_pending"] is False
        rows[c] = {
            **body["profile"]["features"],
            "as_of": datetime.fromisoformat(body["profile"]["sources_as_of"]),
        }
        segments[c] = body["segment_id"]
    return pd.DataFrame.from_dict(rows, orient="index"), segments


def _assert_batch_equal(ws: Workspace, live: pd.DataFrame, segments: dict) -> None:
    """The batch features at the live rows' ``as_of``, and the run's model on them."""
    (as_of,) = live["as_of"].unique()
    with ws.connect(read_only=True) as con:
        run = get_run(con)
        model = segmenter_from_dict(load_model(con, run["run_id"], "segmenter"))
        with purchases_by_person(con):
            batch, _, _ = feature_frame(
                con,
                as_of.to_pydatetime(),
                sources=run["metrics"]["sources"]["used"],
                topics=load_model(con, run["run_id"], "topics"),
            )
    source_columns = [c for c in model.feature_names if c.startswith(SOURCE_PREFIXES)]
    assert len(source_columns) > 40
    expected = batch.loc[live.index, source_columns].astype(float)
    got = live[source_columns].astype(float)
    pd.testing.assert_frame_equal(got, expected, check_names=False, atol=1e-9, rtol=1e-9)
    # the segment is the run's model on the batch features (purchases at the same clock)
    assigned = model.assign_values(batch.loc[live.index, model.feature_names].to_numpy(float))
    assert [segments[c] for c in live.index] == list(assigned["segment_id"])


def test_live_source_features_equal_the_batch_and_survive_a_kill(sources_workspace, tmp_path):
    import shutil

    template, headers, customers, anonymous = sources_workspace
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(template.path, ws.path)
    picked = customers[:3] + customers[-3:]
    # one customer also visits under an anonymous id linked to them: their visit all the same
    linked = next(c for c in customers[3:] if c in anonymous)
    picked.append(linked)
    server = LiveServer(ws.path).start(timeout=120)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            before = {c: client.get(f"/v1/customers/{c}", headers=headers).json() for c in picked}
            # a run's customers start with the run's own values
            assert all(not b["profile"]["sources_pending"] for b in before.values())
            incognito = _visit(anonymous[linked], START + timedelta(days=2), "tablet", "paid")
            r = client.post(
                "/v1/events",
                json={"events": [*_source_events(picked, 0), *incognito]},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            health = _wait_until_reflected(client)
            assert health["sources_refreshed"] >= len(picked)
            live, segments = _live_rows(client, headers, picked)
            # the events moved the features: two more sessions each (three for the customer
            # who also came anonymously), devices for all
            for c in picked:
                old = before[c]["profile"]["features"]
                added = 3 if c == linked else 2
                assert live.loc[c, "web_sessions"] == (old["web_sessions"] or 0) + added, c
                assert live.loc[c, "has_devices"] == 1.0
            # acknowledged, then killed before their features were recomputed; a purchase
            # in a viewed category changes what was viewed and never bought
            bought = _event(
                picked[0],
                "purchase",
                datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1),
                amount=30.0,
                category="Garden",
            )
            r = client.post(
                "/v1/events",
                json={"events": [*_source_events(picked[:2], 48), bought]},
                headers=headers,
            )
            assert r.status_code == 200, r.text
        server.kill()
        server = LiveServer(ws.path).start(timeout=120)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            _wait_until_reflected(client)
            live, segments = _live_rows(client, headers, picked)
    finally:
        server.stop()
    _assert_batch_equal(ws, live, segments)
