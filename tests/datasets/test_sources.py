"""Tests of the generator of every source: schemas, determinism, personas planted across
sources (identical purchases within a pair, different events and messages), identities."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from scipy import stats

from segmint.datasets import PERSONAS, SourcesData, generate, generate_sources, write_sources
from segmint.datasets._orders import format_ids
from segmint.datasets.sources import TRACKING_DAYS, _numbered
from segmint.errors import DataValidationError

PAIRS = [
    ("Night mobile complainers", "Daytime desktop researchers"),
    ("Connected-home users", "Social sharers"),
]
WEB_KEYS = {"page", "device", "channel"}
KEYS = {
    "page_view": WEB_KEYS,
    "product_view": WEB_KEYS | {"product_id", "category"},
    "add_to_cart": WEB_KEYS | {"product_id", "category"},
    "search": WEB_KEYS | {"query"},
    "checkout": WEB_KEYS,
    "identify": {"anonymous_id"},
    "telemetry": {"device_id", "feature", "minutes", "fault"},
    "like": set(),
    "share": set(),
    "mention": {"text"},
    "review": {"text", "rating"},
}
SOURCE_TYPES = {
    "web": {"page_view", "product_view", "add_to_cart", "search", "checkout", "identify"},
    "app": {"page_view", "product_view", "add_to_cart", "search", "checkout"},
    "device": {"telemetry"},
    "social": {"like", "share", "mention", "review"},
}


@pytest.fixture(scope="module")
def data() -> SourcesData:
    return generate_sources(3000, seed=5)


@pytest.fixture(scope="module")
def segment(data) -> pd.Series:
    return data.labels.to_pandas().set_index("customer_id")["segment"]


@pytest.fixture(scope="module")
def events(data, segment) -> pd.DataFrame:
    """Events with parsed properties and the customer resolved through the identities."""
    ev = data.events.to_pandas()
    ev["props"] = ev["properties"].map(json.loads)
    ids = data.identities.to_pandas()
    # Only identifiers of one owner resolve (kiosks and family tablets stay unresolved);
    # chains are followed to the customer.
    owners = ids.groupby("identifier")["customer_id"].nunique()
    step = ids[ids["identifier"].map(owners) == 1].set_index("identifier")["customer_id"]
    who = ev["customer_id"]
    for _ in range(3):
        who = who.map(step).fillna(who)
    ev["customer"] = who.where(who.isin(segment.index))
    ev["segment"] = ev["customer"].map(segment)
    return ev


@pytest.fixture(scope="module")
def messages(data, segment) -> pd.DataFrame:
    msg = data.messages.to_pandas()
    msg["segment"] = msg["customer_id"].map(segment)
    return msg


# --- shape and types --------------------------------------------------------------------------


def test_tables_have_the_spec_columns_and_types(data):
    ts = pa.timestamp("us")
    s = pa.string()
    expected = {
        "events": [
            ("event_id", s),
            ("customer_id", s),
            ("ts", ts),
            ("source", s),
            ("type", s),
            ("properties", s),
        ],
        "messages": [
            ("message_id", s),
            ("conversation_id", s),
            ("customer_id", s),
            ("ts", ts),
            ("channel", s),
            ("role", s),
            ("text", s),
        ],
        "identities": [("identifier", s), ("kind", s), ("customer_id", s)],
        "labels": [("customer_id", s), ("segment", s)],
    }
    for name, columns in expected.items():
        assert [(f.name, f.type) for f in getattr(data, name).schema] == columns, name
    assert data.customers.num_rows == data.labels.num_rows == 3000
    for name in expected:
        assert getattr(data, name).num_rows > 0
        assert all(getattr(data, name).column(k).null_count == 0 for k in range(len(columns)))


def test_event_properties_are_json_with_the_spec_keys(events):
    for (source, etype), group in events.groupby(["source", "type"]):
        assert etype in SOURCE_TYPES[source]
        keys = group["props"].map(lambda p: frozenset(p)).unique()
        assert set(keys) == {frozenset(KEYS[etype])}, (source, etype)
    web = events[events["type"].isin(["page_view", "product_view", "checkout"])]
    assert set(web["props"].str["device"]) == {"mobile", "desktop", "tablet"}
    assert set(web["props"].str["channel"]) == {"direct", "search", "email", "social", "paid"}
    tele = events[events["type"] == "telemetry"]["props"]
    assert tele.str["minutes"].map(lambda m: isinstance(m, (int, float))).all()
    assert tele.str["fault"].isin([True, False]).all() and tele.str["fault"].any()
    reviews = events[events["type"] == "review"]["props"].str["rating"]
    assert set(reviews) <= {1, 2, 3, 4, 5} and reviews.nunique() == 5


def test_products_come_from_the_catalogue(data, events):
    tx = data.transactions.to_pandas()
    catalogue = set(zip(tx["product_id"], tx["category"], strict=True))
    shown = events[events["type"].isin(["product_view", "add_to_cart"])]["props"]
    assert set(zip(shown.str["product_id"], shown.str["category"], strict=True)) <= catalogue


def test_times_inside_the_tracked_period_and_events_in_order(data):
    as_of = pd.Timestamp(data.as_of)
    for table in (data.events, data.messages):
        ts = table.column("ts").to_pandas()
        assert ts.max() < as_of
        assert ts.min() >= as_of - pd.Timedelta(days=TRACKING_DAYS)
        assert ts.is_monotonic_increasing
    assert data.events.column("event_id").to_pandas().is_unique
    assert data.messages.column("message_id").to_pandas().is_unique


def test_sessions_are_bursts_hours_apart(events):
    web = events[events["source"].isin(["web", "app"])]
    web = web[~web["customer_id"].str.startswith(("KIOSK", "TAB"))]
    gaps = web.sort_values(["customer_id", "ts"]).groupby("customer_id")["ts"].diff()
    gaps = gaps.dropna().dt.total_seconds()
    assert gaps.max() > 86_400
    assert not ((gaps >= 30 * 60) & (gaps < 3 * 3600)).any()


def test_checkouts_are_web_and_app_orders(data, events):
    tx = data.transactions.to_pandas()
    orders = tx[~tx["is_return"] & tx["channel"].isin(["web", "app"])]
    order_keys = set(zip(orders["customer_id"], orders["ts"], strict=True))
    checkout = events[events["type"] == "checkout"]
    assert len(checkout) > 100
    assert set(zip(checkout["customer_id"], checkout["ts"], strict=True)) <= order_keys


def test_numbered_ids_match_format_ids():
    numbers = np.array([1, 42, 9_999_999_999, 1234567])
    assert _numbered("E", numbers, 10).equals(format_ids("E", numbers, 10))
    assert _numbered("M", np.arange(0), 9).equals(pa.array([], pa.string()))


def test_deterministic_and_transactions_are_the_generators():
    a, b = generate_sources(300, seed=1), generate_sources(300, seed=1)
    for name in ("transactions", "customers", "events", "messages", "identities", "labels"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert a.transactions.equals(generate(300, seed=1).transactions)
    assert not generate_sources(300, seed=2).events.equals(a.events)


@pytest.mark.parametrize("n", [1, 2, 22])
def test_small_populations_work(n):
    data = generate_sources(n, seed=3)
    assert data.labels.num_rows == n
    ids = data.identities.to_pandas()
    assert (ids["kind"] == "customer_id").sum() == n
    if n > 20:  # even a small population has its kiosk of more than 20 customers
        assert ids.groupby("identifier")["customer_id"].nunique().max() > 20


# --- personas ---------------------------------------------------------------------------------


def test_every_persona_is_planted(segment):
    assert set(segment) == set(PERSONAS)
    for a, b in PAIRS:
        assert PERSONAS[a].archetype == PERSONAS[b].archetype
        assert 0.6 < (segment == a).sum() / (segment == b).sum() < 1.6


def test_pairs_have_the_same_purchase_behaviour(data, segment):
    tx = data.transactions.to_pandas()
    buy = tx[~tx["is_return"]]
    g = buy.groupby("customer_id")
    features = pd.DataFrame({"orders": g["order_id"].nunique(), "spend": g["amount"].sum()})
    features["lines"] = g.size() / features["orders"]
    features["segment"] = segment
    for a, b in PAIRS:
        x, y = features[features["segment"] == a], features[features["segment"] == b]
        for column in ("orders", "spend", "lines"):
            assert stats.ks_2samp(x[column], y[column]).pvalue > 0.01, (a, column)
            assert x[column].mean() == pytest.approx(y[column].mean(), rel=0.15)


def test_night_complainers_and_daytime_researchers_differ_outside_purchases(events, messages):
    night, day = PAIRS[0]
    web = events[events["source"].isin(["web", "app"]) & (events["type"] != "identify")]
    mobile = (web["props"].str["device"] == "mobile").groupby(web["segment"]).mean()
    hour = web["ts"].dt.hour
    late = ((hour >= 21) | (hour < 2)).groupby(web["segment"]).mean()
    assert mobile[night] > 0.8 and mobile[day] < 0.25
    assert late[night] > 0.5 and late[day] < 0.1
    share = web.groupby("segment")["type"].value_counts(normalize=True).unstack()
    assert share.loc[night, "add_to_cart"] > 2 * share.loc[day, "add_to_cart"]
    assert share.loc[day, "product_view"] + share.loc[day, "search"] > 0.6
    # Many carts, few checkouts: the same orders spread over many more carts.
    to_checkout = share["checkout"] / share["add_to_cart"]
    assert to_checkout[night] < 0.5 * to_checkout[day]

    first = messages[messages["role"] == "customer"].groupby("conversation_id").first()
    delivery = first["text"].str.contains("arrive|deliver|parcel|courier|missing|late")
    delivery = delivery.groupby(first["segment"]).mean()
    question = first["text"].str.contains(r"\?").groupby(first["segment"]).mean()
    negative = first["text"].str.contains("Seriously|unacceptable|Not happy|Again|frustrated")
    negative = negative.groupby(first["segment"]).mean()
    assert delivery[night] > 0.4 and delivery[day] < 0.15
    assert negative[night] > 0.6 and negative[day] < 0.1
    assert question[day] > 0.6


def test_connected_users_and_social_sharers_differ_outside_purchases(data, events, segment):
    connected, sharers = PAIRS[1]
    size = segment.value_counts()
    tele = events[events["source"] == "device"]
    owners = (tele.groupby("segment")["customer"].nunique() / size).fillna(0)
    assert owners[connected] > 0.8 and owners[sharers] == 0
    features = tele.groupby("customer")["props"].apply(lambda p: p.str["feature"].nunique())
    assert features.groupby(segment).median()[connected] >= 4
    assert tele["props"].str["fault"].mean() > 0.01
    social = events[events["source"] == "social"].groupby("segment").size() / size
    assert social[sharers] > 4 * social[connected]
    reviews = events[events["type"] == "review"].groupby("segment").size()
    assert reviews[connected] > reviews[sharers]


def test_coverage_is_partial_and_differs_by_persona(events, messages, segment):
    size = segment.value_counts()
    chat = messages.groupby("segment")["customer_id"].nunique() / size
    web = events[events["source"].isin(["web", "app"])].groupby("segment")["customer"].nunique()
    assert (chat < 0.9).all() and chat["Night mobile complainers"] > 2 * chat["New customers"]
    assert ((web / size) < 1).all()
    assert (events["customer"].isna() | events["customer"].isin(segment.index)).all()


def test_conversations_alternate_roles_with_replies_and_unanswered_ones(messages):
    msg = messages.sort_values(["conversation_id", "ts", "message_id"])
    first = msg.groupby("conversation_id").first()
    assert (first["role"] == "customer").all()
    roles = msg.groupby("conversation_id")["role"].agg(set)
    unanswered = roles == {"customer"}
    assert 0.03 < unanswered.mean() < 0.4
    assert (msg.groupby("conversation_id").size() >= 3).mean() > 0.3
    assert set(msg["channel"]) == {"chat", "email", "phone", "social"}
    assert msg[msg["role"] == "bot"]["channel"].eq("chat").all()
    # Reply delay of the first agent message of a chat, by persona: complainers wait longer.
    chat = msg[msg["channel"] == "chat"]
    start = chat.groupby("conversation_id")["ts"].min()
    agent = chat[chat["role"] == "agent"].groupby("conversation_id")["ts"].min()
    wait = ((agent - start.reindex(agent.index)).dt.total_seconds() / 60).dropna()
    by = wait.groupby(first["segment"].reindex(wait.index)).median()
    assert by["Night mobile complainers"] > 3 * by["Daytime desktop researchers"]
    assert msg["text"].nunique() > 100


# --- identities -------------------------------------------------------------------------------


def test_identities_cover_every_kind_and_customer(data, segment):
    ids = data.identities.to_pandas()
    assert set(ids["kind"]) == {"customer_id", "email", "phone", "cookie", "device"}
    own = ids[ids["kind"] == "customer_id"]
    assert (own["identifier"] == own["customer_id"]).all() and set(own["identifier"]) == set(
        segment.index
    )
    assert not ids.duplicated(["identifier", "customer_id"]).any()
    # Partial coverage: not everyone has a phone or a device.
    assert 0.3 < (ids["kind"] == "phone").sum() / len(segment) < 0.9


def test_anonymous_events_link_through_identify_and_identities(data, events):
    ids = data.identities.to_pandas()
    cookies = set(ids.loc[ids["kind"] == "cookie", "identifier"])
    anonymous = events[events["customer_id"].str.startswith("ck")]
    assert len(anonymous) > 100 and set(anonymous["customer_id"]) <= cookies
    identify = events[events["type"] == "identify"]
    linked = identify["props"].str["anonymous_id"]
    assert set(linked) <= set(ids["identifier"])
    assert identify["customer_id"].str.startswith("C").all()
    assert linked.str.startswith("ck").any() and linked.str.startswith("KIOSK").any()


def test_hostile_identity_cases(data, events):
    ids = data.identities.to_pandas()
    by_id = ids.groupby("identifier")["customer_id"]
    owners = by_id.nunique()
    # A chain: cookie -> email -> phone -> customer.
    step = ids.set_index("identifier")["customer_id"]
    chained = ids[(ids["kind"] == "cookie") & ids["customer_id"].str.endswith("@example.com")]
    assert len(chained) >= 1
    email = chained["customer_id"].iloc[0]
    phone = step[email]
    assert phone.startswith("+44") and step[phone].startswith("C") and step[phone] in set(step)
    # Family tablets: 2-3 customers share one device id; kiosks: more than 20.
    devices = owners[ids.groupby("identifier")["kind"].first() == "device"]
    family = devices[devices.index.str.startswith("TAB")]
    assert len(family) >= 1 and family.between(2, 3).all()
    on_tablet = events[events["customer_id"].isin(family.index)]
    assert len(on_tablet) > 0 and (on_tablet["source"] == "app").all()
    assert (on_tablet["props"].str["device"] == "tablet").all()
    assert devices.max() > 20
    kiosk = devices.idxmax()
    assert (events["customer_id"] == kiosk).any()
    # The devices of the connected users each belong to one customer.
    assert (devices[devices.index.str.startswith("DEV")] == 1).all()


# --- files ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> SourcesData:
    return generate_sources(200, seed=11)


def test_write_sources_parquet_round_trip(small, tmp_path):
    paths = write_sources(small, tmp_path / "out")
    names = {"transactions", "customers", "events", "messages", "identities", "labels"}
    assert set(paths) == names
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{name}.parquet" for name in names
    )
    for name, path in paths.items():
        assert pq.read_table(path).equals(getattr(small, name)), name


def test_write_sources_csv_round_trip(small, tmp_path):
    paths = write_sources(small, tmp_path, fmt="csv")
    for name, path in paths.items():
        expected = getattr(small, name)
        options = pacsv.ConvertOptions(column_types=expected.schema, strings_can_be_null=True)
        got = pacsv.read_csv(path, convert_options=options)
        assert got.equals(expected), name
    events = pacsv.read_csv(paths["events"]).to_pandas()
    assert events["properties"].map(json.loads).map(type).eq(dict).all()


def test_write_sources_rejects_unknown_format(small, tmp_path):
    with pytest.raises(DataValidationError, match="unknown format"):
        write_sources(small, tmp_path, fmt="xlsx")
    assert not list(tmp_path.iterdir())


def test_generate_sources_checks_arguments():
    with pytest.raises(DataValidationError):
        generate_sources(0)
    with pytest.raises(DataValidationError):
        generate_sources(10, start="2024-01-01", end="2024-06-01")
    assert np.isclose(sum(p.share for p in PERSONAS.values() if p.archetype == "Champions"), 1)
