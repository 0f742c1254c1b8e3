"""The consent policy at the choke point: regimes, as-of, the minimum audience, pseudonymised
exports, segmentation under analytics, and the audit record of each export."""

from __future__ import annotations

from datetime import datetime

import pytest

from segmint import pipeline
from segmint.consent.ledger import append_rows
from segmint.consent.permitted import permitted
from segmint.consent.policy import ConsentPolicy, change_policy, load_policy, save_policy
from segmint.consent.pseudonym import destination_key, pseudonym
from segmint.datasets import generate, write
from segmint.errors import AudienceTooSmall, SegmintError
from segmint.store.workspace import Workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("policy")
    data = generate(300, seed=1)
    files = write(data, root / "data", fmt="parquet")
    ws = Workspace(root / "ws")
    pipeline.ingest(ws, files["transactions"], customers=files["customers"])
    run = pipeline.segment(ws, as_of=data.as_of, write_html=False)
    with ws.connect(read_only=True) as con:
        ids = [r[0] for r in con.execute(
            "SELECT customer_id FROM assignments WHERE run_id = ? ORDER BY customer_id",
            [run.run_id],
        ).fetchall()]  # fmt: skip
    return ws, run, ids


def _consent(ws, rows):
    with ws.transaction() as con:
        append_rows(con, ws.path, rows)


def test_exports_are_pseudonymised_by_default_and_audited(workspace):
    ws, run, ids = workspace
    shown = pipeline.export(ws, "assignments", None, run_id=run.run_id)
    frame = shown.frame
    assert shown.summary["regime"] == "opt-out" and shown.summary["withheld"] == 0
    assert len(frame) == len(ids) and not set(frame["customer_id"]) & set(ids)
    with ws.connect() as con:
        key = destination_key(con, ws.path, "export")
        audit = con.execute(
            "SELECT action, purpose, rows FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchall()
    assert set(frame["customer_id"]) == {pseudonym(key, c) for c in ids}  # same in SQL
    assert audit == [("export", "analytics", len(ids))]
    other = pipeline.export_frame(ws, "assignments", run_id=run.run_id, destination="agency")
    assert not set(other["customer_id"]) & set(frame["customer_id"])  # cannot be joined
    raw = pipeline.export_frame(ws, "assignments", run_id=run.run_id, raw_ids=True)
    assert set(raw["customer_id"]) == set(ids)


def test_opt_in_needs_a_grant_and_consent_counts_as_of_its_time(workspace):
    ws, run, ids = workspace
    with ws.transaction() as con:
        save_policy(con, change_policy(load_policy(con), regimes=["sms=opt-in"]))
    with pytest.raises(AudienceTooSmall, match="under the minimum audience of 50"):
        pipeline.export(ws, "assignments", None, run_id=run.run_id, purpose="sms")
    granted = ids[:60]
    _consent(
        ws,
        [
            {"customer_id": c, "purpose": "sms", "status": "granted",
             "ts": datetime(2024, 6, 1), "source": "form", "evidence": None}
            for c in granted
        ]
        + [{"customer_id": granted[0], "purpose": "sms", "status": "withdrawn",
            "ts": datetime(2024, 7, 1), "source": "form", "evidence": None}],
    )  # fmt: skip
    got = pipeline.export(ws, "assignments", None, run_id=run.run_id, purpose="sms", raw_ids=True)
    assert set(got.frame["customer_id"]) == set(granted[1:])
    assert got.summary["withheld"] == len(ids) - 59
    with ws.connect() as con:
        then = permitted(con, "sms", datetime(2024, 6, 15))
        assert then.allows_ids(con, granted[:2]).tolist() == [True, True]
        before = permitted(con, "sms", datetime(2024, 5, 1))
        assert not before.allows_ids(con, granted[:2]).any()
        with pytest.raises(SegmintError, match="unknown purpose 'fax'"):
            permitted(con, "fax")


def test_groups_under_the_minimum_audience_are_withheld(workspace):
    ws, run, _ = workspace
    with ws.transaction() as con:
        save_policy(con, change_policy(load_policy(con), min_audience=40))
    micro = pipeline.export(ws, "micro-segments", None, run_id=run.run_id)
    with ws.connect(read_only=True) as con:
        sizes = [r[0] for r in con.execute(
            "SELECT size FROM micro_segments WHERE run_id = ?", [run.run_id]
        ).fetchall()]  # fmt: skip
    assert (micro.frame["size"] >= 40).all()
    assert micro.summary["groups_under_min_audience"] == sum(s < 40 for s in sizes) > 0
    with ws.transaction() as con:
        save_policy(con, change_policy(load_policy(con), min_audience=50))


def test_segmentation_runs_under_analytics(workspace):
    ws, run, ids = workspace
    out = ids[100:110]
    _consent(
        ws,
        [{"customer_id": c, "purpose": "analytics", "status": "withdrawn",
          "ts": datetime(2024, 1, 1), "source": "crm", "evidence": None} for c in out],
    )  # fmt: skip
    again = pipeline.segment(ws, as_of=run.as_of, write_html=False)
    seen = set(pipeline.export_frame(ws, "assignments", run_id=again.run_id, raw_ids=True)[
        "customer_id"])  # fmt: skip
    assert not seen & set(out) and len(seen) == len(ids) - len(out)


def test_policy_is_checked(workspace):
    with pytest.raises(SegmintError, match="unknown regime"):
        ConsentPolicy(default_regime="maybe")
    with pytest.raises(SegmintError, match="unknown purpose 'fax'"):
        change_policy(ConsentPolicy(), regimes=["fax=opt-in"])
    assert change_policy(ConsentPolicy(), purposes="Email, ads").purposes == ("email", "ads")
