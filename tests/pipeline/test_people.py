"""Two accounts of one person (linked by an email and a cookie) are one customer everywhere:
in the run's features and segments, in the live profiles, and for events sent to either id."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.realtime.live import LiveState
from segmint.store.runs import features_table
from segmint.store.workspace import Workspace


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    data = generate(400, seed=7)
    files = write(data, root / "data", fmt="parquet")
    ws = Workspace(root / "ws")
    pipeline.ingest(ws, files["transactions"], customers=files["customers"])
    tx = data.transactions.to_pandas()
    bought = tx[~tx["is_return"] & (tx["amount"] > 0) & (tx["ts"] < data.as_of)]
    orders = bought.groupby("customer_id")["order_id"].nunique()
    # two buyers with several orders each, and a third who only shares a cookie with them
    first, second = orders[orders >= 3].index[:2]
    links = pa.table(
        {
            "identifier": ["ann@example.com", "ann@example.com", "ck-1", "ck-1"],
            "kind": ["email", "email", "cookie", "cookie"],
            "customer_id": [first, second, second, first],
        }
    )
    pacsv.write_csv(links, root / "identities.csv")
    pipeline.ingest_source(ws, "identities", root / "identities.csv")
    run = pipeline.segment(ws, as_of=data.as_of, write_html=False)
    return ws, run, first, second, int(orders[first] + orders[second])


def test_the_run_sees_one_customer_with_both_accounts_orders(linked):
    ws, run, first, second, both = linked
    person = min(first, second)
    merged = max(first, second)
    assigned = pipeline.export_frame(ws, "assignments", run_id=run.run_id, raw_ids=True)
    assert merged not in set(assigned["customer_id"])
    with ws.connect(read_only=True) as con:
        features = con.execute(
            f"SELECT customer_id, frequency FROM {features_table(run.run_id)}"
        ).df()
        features = features.set_index("customer_id")["frequency"]
        # nothing of it outlives the run: the stored table still holds each account's lines
        (n,) = con.execute(
            "SELECT count(DISTINCT customer_id) FROM transactions WHERE customer_id IN (?, ?)",
            [first, second],
        ).fetchall()[0]
    assert n == 2
    assert features[person] == both
    assert merged not in features.index


def test_the_live_profiles_agree_and_events_to_either_id_reach_the_person(linked):
    ws, run, first, second, both = linked
    person, merged = min(first, second), max(first, second)
    stored = pipeline.export_frame(ws, "assignments", run_id=run.run_id, raw_ids=True).set_index(
        "customer_id"
    )
    with ws.connect(read_only=True) as con:
        state = LiveState.load(con)
    served = dict(zip(state.ids, state.seg.tolist(), strict=True))
    assert {c: served[c] for c in stored.index} == stored["segment_id"].to_dict()
    read = state.customer(merged)
    assert read["customer_id"] == person
    assert read["profile"]["features"]["frequency"] == both
    event = {
        "event_id": "e1",
        "customer_id": merged,
        "ts": "2024-12-30T10:00:00",
        "type": "purchase",
        "properties": {"order_id": "new-1", "amount": 25.0, "is_return": False},
    }
    touched, _ = state.apply([event, {**event, "event_id": "e2", "customer_id": "ck-1"}])
    assert [t["customer_id"] for t in touched] == [person]
    assert state.customer(person)["profile"]["features"]["frequency"] == both + 1
    assert json.dumps(state.membership("ck-1")) == json.dumps(state.membership(person))
