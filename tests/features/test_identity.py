"""Identity resolution: chains merge, conflicts resolve by fixed rules, the cap holds."""

from __future__ import annotations

import json

import pytest

from segmint.engine import engine_for
from segmint.features.identity import resolve_identities, resolved
from segmint.store.workspace import Workspace


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.transaction(create=True):
        pass
    return ws


def load(ws: Workspace, identities=(), identify=(), buyers=()):
    with ws.transaction() as con:
        for identifier, kind, customer in identities:
            con.execute("INSERT INTO identities VALUES (?, ?, ?)", [identifier, kind, customer])
        for i, (anonymous, customer) in enumerate(identify):
            con.execute(
                "INSERT INTO events VALUES (?, ?, '2024-01-01', 'web', 'identify', ?)",
                [f"i{i}", customer, json.dumps({"anonymous_id": anonymous})],
            )
        for i, customer in enumerate(buyers):
            con.execute(
                "INSERT INTO transactions (customer_id, order_id, ts, amount, is_return, line_key)"
                " VALUES (?, ?, '2024-01-01', 10, false, ?)",
                [customer, f"o{i}", i],
            )


def resolve(ws: Workspace, **kwargs):
    with ws.connect() as con:
        mapping, stats = resolve_identities(engine_for(con), **kwargs)
    return dict(zip(mapping["raw_id"], mapping["customer_id"], strict=True)), stats


def test_a_chain_of_cookie_email_and_phone_makes_one_person(workspace):
    # the web account c2 and the store account c3 share a phone; c2's email was also given by
    # c1; a cookie identified as c1: all one person, kept under the buyer's id
    load(
        workspace,
        identities=[
            ("ann@x.com", "email", "c1"),
            ("ann@x.com", "email", "c2"),
            ("447700900123", "phone", "c2"),
            ("447700900123", "phone", "c3"),
        ],
        identify=[("ck-1", "c1")],
        buyers=["c3"],
    )
    mapping, stats = resolve(workspace)
    assert mapping == {
        "c1": "c3",
        "c2": "c3",
        "ann@x.com": "c3",
        "447700900123": "c3",
        "ck-1": "c3",
    }
    assert stats.people == 1 and stats.customers_merged == 2 and stats.anonymous_resolved == 3


def test_the_merge_rule_is_deterministic_whatever_the_order(workspace, tmp_path):
    rows = [("d-9", "device", "b"), ("d-9", "device", "a"), ("d-9", "device", "c")]
    load(workspace, identities=rows)
    other = Workspace(tmp_path / "other")
    with other.transaction(create=True):
        pass
    load(other, identities=list(reversed(rows)))
    first, _ = resolve(workspace)
    assert first == {"b": "a", "c": "a", "d-9": "a"}  # no buyer: the smallest id
    assert resolve(other)[0] == first


def test_a_shared_identifier_merges_nobody(workspace):
    kiosk = [("kiosk-1", "device", f"c{i:02d}") for i in range(30)]
    load(workspace, identities=[*kiosk, ("bo@x.com", "email", "c01"), ("ck-9", "cookie", "c01")])
    mapping, stats = resolve(workspace)
    assert "kiosk-1" not in mapping and not any(v != "c01" for v in mapping.values())
    assert mapping == {"bo@x.com": "c01", "ck-9": "c01"}
    assert stats.shared_identifiers == 1 and stats.customers_merged == 0


def test_a_cluster_over_the_cap_is_not_merged(workspace):
    # a chain of six accounts through five family devices, each linking two: under the
    # per-identifier cap, over the per-cluster cap
    chain = []
    for i in range(5):
        chain += [(f"tab-{i}", "device", f"c{i}"), (f"tab-{i}", "device", f"c{i + 1}")]
    load(workspace, identities=[*chain, ("solo@x.com", "email", "c0")])
    mapping, stats = resolve(workspace, max_customers=5)
    assert stats.clusters_over_cap == 1 and stats.customers_merged == 0 and stats.people == 6
    assert mapping == {"solo@x.com": "c0"}  # linked to one customer only: still resolves
    small, _ = resolve(workspace, max_customers=6)
    assert set(small.values()) == {"c0"}


def test_resolved_replaces_ids_in_a_table(workspace):
    load(workspace, identities=[("ck-1", "cookie", "c1")])
    with workspace.transaction() as con:
        con.execute(
            "INSERT INTO events VALUES ('e1', 'ck-1', '2024-01-02', 'web', 'page_view', NULL)"
        )
        con.execute(
            "INSERT INTO events VALUES ('e2', 'zz', '2024-01-02', 'web', 'page_view', NULL)"
        )
    with workspace.connect() as con:
        engine = engine_for(con)
        mapping, _ = resolve_identities(engine)
        table = resolved(engine, engine.table("events"), mapping)
        got = engine.to_arrow(table.order_by("event_id")).to_pandas()
    assert list(got["customer_id"]) == ["c1", "zz"]
    assert list(got.columns) == ["event_id", "customer_id", "ts", "source", "type", "properties"]


def test_no_identities_no_mapping(workspace):
    mapping, stats = resolve(workspace)
    assert mapping == {} and stats.links == 0 and stats.people == 0


def test_identities_stats_command(workspace):
    from typer.testing import CliRunner

    from segmint.cli import app

    load(workspace, identities=[("ann@x.com", "email", "c1"), ("ann@x.com", "email", "c2")])
    result = CliRunner().invoke(app, ["identities", "stats", "-w", str(workspace.path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customers_merged"] == 1
    table = CliRunner().invoke(app, ["identities", "stats", "-w", str(workspace.path)])
    assert "customer ids merged into another" in table.stdout
    missing = CliRunner().invoke(app, ["identities", "stats", "-w", str(workspace.path / "x")])
    assert missing.exit_code != 0 and "no workspace" in missing.output
