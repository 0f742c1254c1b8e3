"""The feature groups of the sources beyond purchases, computed by hand on small cases, and
their coverage in the feature table ("no chats" is not "chats, all zero")."""

from __future__ import annotations

import json
from datetime import datetime

import ibis
import numpy as np
import pyarrow as pa
import pytest

from segmint.engine import engine_for
from segmint.features.conversations import conversation_features
from segmint.features.devices import device_features
from segmint.features.social import social_features
from segmint.features.web import web_features
from segmint.pipeline._features import feature_frame
from segmint.store.workspace import Workspace

AS_OF = datetime(2024, 1, 10)


def _event(con, event_id, customer, ts, source, kind, properties=None):
    con.execute(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
        [event_id, customer, ts, source, kind, properties and json.dumps(properties)],
    )


def _purchase(con, customer, ts, category="books", key=0):
    con.execute(
        "INSERT INTO transactions (customer_id, order_id, ts, amount, is_return, line_key, "
        "category) VALUES (?, ?, ?, 10, false, ?, ?)",
        [customer, f"o{key}", ts, key, category],
    )


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.transaction(create=True) as con:
        web = [
            (
                "e1",
                "c1",
                "2024-01-01 22:00",
                "web",
                "page_view",
                {"device": "mobile", "channel": "paid"},
            ),
            (
                "e2",
                "c1",
                "2024-01-01 22:10",
                "web",
                "product_view",
                {"device": "mobile", "category": "toys"},
            ),
            (
                "e3",
                "c1",
                "2024-01-01 22:20",
                "web",
                "add_to_cart",
                {"device": "mobile", "category": "toys"},
            ),
            (
                "e4",
                "c1",
                "2024-01-03 10:00",
                "app",
                "page_view",
                {"device": "mobile", "channel": "email"},
            ),
            ("e5", "c1", "2024-01-03 10:05", "app", "checkout", {"device": "mobile"}),
            (
                "e6",
                "c2",
                "2024-01-06 12:00",
                "web",
                "search",
                {"device": "desktop", "channel": "search"},
            ),
            # 50 minutes later: a second session, its channel unknown
            (
                "e7",
                "c2",
                "2024-01-06 12:50",
                "web",
                "product_view",
                {"device": "desktop", "category": "books"},
            ),
            (
                "e8",
                "c2",
                "2024-01-20 12:00",
                "web",
                "page_view",
                {"device": "desktop"},
            ),  # after as_of
        ]
        for row in web:
            _event(con, *row)
        _purchase(con, "c2", "2023-12-01", "books", 1)
        _purchase(con, "c1", "2023-12-02", "garden", 2)
        _purchase(con, "c3", "2023-12-03", "garden", 3)
        _purchase(con, "c3", "2024-01-09", "garden", 4)  # the data runs up to as_of
        messages = [
            ("m1", None, "c1", "2024-01-01 10:00", "chat", "customer", "where is my parcel"),
            ("m2", None, "c1", "2024-01-01 10:01", "chat", "bot", "let me check"),
            ("m3", None, "c1", "2024-01-01 10:03", "chat", "customer", "this is terrible"),
            ("m4", None, "c1", "2024-01-01 10:13", "chat", "agent", "sorry, it ships today"),
            ("m5", None, "c1", "2024-01-05 09:00", "chat", "customer", "still nothing!"),
            ("m6", "k9", "c2", "2024-01-02 09:00", "email", "customer", "do you have size 9"),
            ("m7", "k9", "c2", "2024-01-02 11:00", "email", "agent", "yes"),
        ]
        for row in messages:
            con.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", list(row))
    return ws


def _rows(engine, query) -> dict[str, dict]:
    table = engine.to_arrow(query).to_pandas().set_index("customer_id")
    return table.to_dict(orient="index")


def test_web_sessions_carts_devices_and_times(workspace):
    with workspace.connect() as con:
        engine = engine_for(con)
        got = _rows(
            engine,
            web_features(engine, engine.table("events"), engine.table("transactions"), AS_OF),
        )
    c1, c2 = got["c1"], got["c2"]
    assert c1["web_sessions"] == 2 and c2["web_sessions"] == 2  # 30 minutes apart is a new one
    assert c1["web_pages_per_session"] == 2.5 and c1["web_session_minutes"] == 12.5
    assert c1["web_cart_abandonment"] == 1.0 and c1["web_conversion"] == 0.5
    assert c1["web_app_share"] == pytest.approx(0.4) and c1["web_mobile_share"] == 1.0
    assert c1["web_night_share"] == pytest.approx(0.6) and c1["web_weekend_share"] == 0.0
    assert c1["web_paid_share"] == 0.5 and c1["web_email_share"] == 0.5
    # c1 viewed toys and never bought them; c2 viewed the books it bought
    assert c1["web_unbought_view_share"] == 1.0 and c2["web_unbought_view_share"] == 0.0
    # the session whose first event has no channel counts as not from search
    assert c2["web_search_channel_share"] == 0.5 and c2["web_search_share"] == 0.5
    assert c2["web_weekend_share"] == 1.0  # 6 January 2024 was a Saturday
    assert c2["web_days_since_visit"] == pytest.approx(
        (AS_OF - datetime(2024, 1, 6, 12, 50)).total_seconds() / 86400
    )


def test_conversations_replies_escalations_and_what_the_text_says(workspace):
    annotations = ibis.memtable(
        pa.table(
            {
                "message_id": ["m1", "m3", "m5", "m6"],
                "sentiment": [-0.1, -0.8, -0.5, 0.2],
                "topic": [0, 0, 0, 1],
            }
        )
    )
    with workspace.connect() as con:
        engine = engine_for(con)
        query = conversation_features(engine, engine.table("messages"), AS_OF, annotations, [0, 1])
        got = _rows(engine, query)
    c1, c2 = got["c1"], got["c2"]
    # no conversation ids: a day without a message ends c1's first conversation
    assert c1["chat_conversations"] == 2 and c2["chat_conversations"] == 1
    assert c1["chat_response_minutes"] == 5.5 and c2["chat_response_minutes"] == 120.0
    assert c1["chat_unresolved_share"] == 0.5 and c1["chat_escalation_share"] == 0.5
    assert c1["chat_inbound_share"] == pytest.approx(0.6)
    assert c1["chat_sentiment"] == pytest.approx(-1.4 / 3)
    assert c1["chat_complaint_share"] == pytest.approx(2 / 3)
    assert (c1["chat_topic_0"], c1["chat_topic_1"], c2["chat_topic_1"]) == (1.0, 0.0, 1.0)


def test_devices_and_social(workspace):
    with workspace.transaction() as con:
        for day in range(1, 9):
            _event(
                con,
                f"t{day}",
                "c1",
                f"2024-01-0{day if day < 10 else 9} 08:00",
                "device",
                "telemetry",
                {
                    "device_id": "d1",
                    "feature": "heating" if day % 4 else "lights",
                    "minutes": 10,
                    "fault": day == 8,
                },
            )
        _event(
            con,
            "t9",
            "c1",
            "2023-12-01 08:00",
            "device",
            "telemetry",
            {"device_id": "d2", "feature": "heating", "minutes": 30, "fault": False},
        )
        _event(con, "s1", "c2", "2024-01-02", "social", "like")
        _event(con, "s2", "c2", "2024-01-03", "social", "review", {"rating": 2, "text": "awful"})
        _event(con, "s3", "c2", "2024-01-04", "social", "review", {"rating": 4})
    with workspace.connect() as con:
        engine = engine_for(con)
        devices = _rows(engine, device_features(engine, engine.table("events"), AS_OF))["c1"]
        sentiment = ibis.memtable(pa.table({"event_id": ["s2"], "sentiment": [-0.6]}))
        social = _rows(engine, social_features(engine, engine.table("events"), AS_OF, sentiment))[
            "c2"
        ]
    assert devices["device_count"] == 2 and devices["device_features"] == 2
    assert devices["device_minutes_per_day"] == pytest.approx(110 / 9)
    assert devices["device_active_day_share"] == pytest.approx(8 / 28)
    assert devices["device_fault_rate"] == pytest.approx(1 / 9)
    assert devices["device_top_feature_share"] == pytest.approx(90 / 110)
    assert devices["device_usage_trend"] == pytest.approx(np.log(81 / 31))
    assert (social["social_likes"], social["social_reviews"], social["social_mentions"]) == (
        1,
        2,
        0,
    )
    assert social["social_rating"] == 3.0 and social["social_sentiment"] == -0.6


def test_a_customer_without_a_source_is_marked_not_zeroed(workspace):
    with workspace.connect() as con:
        features, _, _ = feature_frame(con, AS_OF)
    assert features.attrs["sources"]["used"] == ["web", "chats"]
    assert list(features.loc[["c1", "c2", "c3"], "has_chats"]) == [1.0, 1.0, 0.0]
    assert np.isnan(features.loc["c3", "chat_sentiment"]) and np.isnan(
        features.loc["c3", "web_sessions"]
    )
    with workspace.connect() as con:
        purchases_only, _, _ = feature_frame(con, AS_OF, sources=())
        with pytest.raises(Exception, match="no devices data"):
            feature_frame(con, AS_OF, sources=["devices"])
    assert not any(c.startswith(("web_", "chat_", "has_")) for c in purchases_only.columns)


def test_events_the_service_received_count_in_the_groups(workspace):
    # as POST /v1/events stores them: chat_message, app_view and device events
    with workspace.transaction() as con:
        _event(
            con,
            "x1",
            "c3",
            "2024-01-08 09:00",
            "ios",
            "chat_message",
            {"text": "my parcel never came, this is awful", "role": "customer", "channel": "chat"},
        )
        _event(
            con,
            "x2",
            "c3",
            "2024-01-08 09:04",
            "ios",
            "chat_message",
            {"text": "sorry to hear that", "role": "agent"},
        )
        _event(con, "x3", "c3", "2024-01-08 09:10", "ios", "app_view", {"screen": "orders"})
        _event(con, "x4", "c3", "2024-01-08 20:00", "ios", "device", {"device_id": "watch-1"})
    with workspace.connect() as con:
        features, _, _ = feature_frame(con, AS_OF)
    c3 = features.loc["c3"]
    assert c3["has_chats"] == 1.0 and c3["chat_conversations"] == 1
    assert c3["chat_response_minutes"] == 4.0 and c3["chat_inbound_share"] == 0.5
    assert c3["chat_sentiment"] < 0  # the text was read
    assert c3["has_web"] == 1.0 and c3["web_app_share"] == 1.0
    assert c3["has_devices"] == 1.0 and c3["device_count"] == 1


def test_labelled_intents_give_each_customer_their_messages_intents(workspace, tmp_path):
    from segmint import pipeline

    examples = tmp_path / "intents.csv"
    rows = [
        ("where is my parcel", "delivery"),
        ("my order has not arrived", "delivery"),
        ("parcel still not here", "delivery"),
        ("package is late", "delivery"),
        ("do you have this in size 9", "product"),
        ("is this available in blue", "product"),
        ("what size should I get", "product"),
        ("does it come in red", "product"),
    ]
    examples.write_text("text,intent\n" + "\n".join(f"{t},{i}" for t, i in rows) + "\n")
    assert pipeline.ingest_source(workspace, "intents", examples).rows_loaded == 8
    with workspace.connect() as con:
        features, _, _ = feature_frame(con, AS_OF)
    assert features.loc["c2", "chat_intent_product"] == 1.0  # "do you have size 9"
    assert features.loc["c1", "chat_intent_delivery"] >= 2 / 3
    assert (
        features.loc["c1", "chat_intent_delivery"] + features.loc["c1", "chat_intent_product"]
        == 1.0
    )
