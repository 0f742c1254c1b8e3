"""Playbooks: proposals from a group's numbers, files people edit (checked, errors located),
and the finished messages for a sample of a segment's customers, under their consent."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from segmint.activate import playbooks as pb
from segmint.cli.main import app
from segmint.consent.ledger import append_rows
from segmint.errors import DataValidationError
from segmint.store.workspace import Workspace

runner = CliRunner()

ROW = {
    "name": "Group",
    "size": 400,
    "recency_days": 20.0,
    "overall_recency_days": 30.0,
    "p_alive": 0.9,
    "at_risk_share": 0.05,
    "churn_risk": 0.1,
    "tenure_days": 400.0,
    "frequency": 6.0,
    "high_value_share": 0.1,
    "clv": 200.0,
    "avg_order_value": 50.0,
    "monetary": 300.0,
    "reach_email": 0.9,
    "reach_sms": 0.1,
    "reach_web": 0.5,
    "hour": 19,
    "weekday": 3,
    "distinct_hours": 12,
}


@pytest.mark.parametrize(
    ("change", "objective"),
    [
        ({"p_alive": 0.2}, "win back"),
        ({"recency_days": 200.0}, "win back"),
        ({"at_risk_share": 0.4}, "retain"),
        ({"churn_risk": 0.6}, "retain"),
        ({"tenure_days": 60.0, "frequency": 1.0}, "onboard"),
        ({"high_value_share": 0.5}, "grow"),
        ({}, "upsell"),
    ],
)
def test_objective_follows_the_groups_numbers(change, objective):
    assert pb.objective_for({**ROW, **change})[0] == objective


@pytest.mark.parametrize("clv", [0.0, 5.0, 40.0, 200.0, 10_000.0, -3.0])
def test_discount_never_gives_away_more_than_a_share_of_value(clv):
    row = {**ROW, "clv": clv, "p_alive": 0.2}  # win back: the deepest base discount
    offer = pb.offer_for(row, "win back")
    assert 0 <= offer["discount_pct"] <= pb.BASE_DISCOUNT["win back"]
    spent = offer["discount_pct"] / 100 * row["avg_order_value"]
    assert spent <= pb.VALUE_SHARE * max(clv, 0) + 1e-9
    assert offer["max_discount"] == pytest.approx(pb.VALUE_SHARE * max(clv, 0), abs=0.01)
    # and each customer's cap is bounded by their own value, whatever the file says
    mine = pb.customer_offer({"discount_pct": 30, "max_discount": 1e6}, {"clv": clv})
    assert mine["max_discount"] <= pb.VALUE_SHARE * max(clv, 0) + 1e-9
    assert (mine["discount_pct"] == 0) == (clv <= 0)


def test_channels_and_send_time():
    channels, why = pb.channels_for(ROW)
    assert channels == ["email", "web", "ads"]  # sms reaches 10%: left out; ads last
    assert "sms reaches 10%" in why
    assert pb.send_time_for(ROW) == {"weekday": "Thursday", "hour": 19, "why": ANY}
    dated = pb.send_time_for({**ROW, "distinct_hours": 1, "hour": 0})
    assert (dated["weekday"], dated["hour"]) == ("Tuesday", 10)
    now = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)  # a Thursday, after 19:00
    at = pb.next_send(now, {"weekday": "Thursday", "hour": 19})
    assert at == datetime(2026, 12, 10, 19, 0, tzinfo=UTC)
    assert pb.next_send(now, {"weekday": "Friday", "hour": 9}).weekday() == 4


class _Any:
    def __eq__(self, other):
        return True


ANY = _Any()


# ---------------------------------------------------------------- through the workspace


@pytest.fixture
def ws(built: Path, tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    shutil.copytree(built, path)
    return path


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_init_writes_a_readable_file_per_segment_and_keeps_edits(ws):
    first = invoke("playbooks", "init", "-w", ws, "--json")
    assert first.exit_code == 0, first.output
    files = json.loads(first.stdout)
    assert files and all(f["written"] for f in files)
    for f in files:
        book = yaml.safe_load(Path(f["path"]).read_text())
        assert book["objective"] in pb.OBJECTIVES and book["segment_id"] == f["segment_id"]
        assert book["channels"][-1] == "ads" and "email" in book["channels"]
        assert "{{ customer.first_name }}" in book["template"]
    path = Path(files[0]["path"])
    path.write_text(path.read_text().replace("objective: ", "objective: retain #", 1))
    again = json.loads(invoke("playbooks", "init", "-w", ws, "--json").stdout)
    assert not any(f["written"] for f in again)
    assert "objective: retain" in path.read_text()
    forced = json.loads(invoke("playbooks", "init", "-w", ws, "--json", "--force").stdout)
    assert all(f["written"] for f in forced)


def test_render_shows_finished_messages_under_consent(ws):
    assert invoke("playbooks", "init", "-w", ws).exit_code == 0
    first = invoke("playbooks", "render", "-w", ws, "--segment", "0", "--sample", "4", "--json")
    assert first.exit_code == 0, first.output
    actions = json.loads(first.stdout)
    assert len(actions) == 4
    for a in actions:
        assert "{{" not in a["message"] and a["message"].startswith("Hi there,")
        assert a["channel"] == "email"  # everyone has an address; opt-out regime
    again = json.loads(
        invoke("playbooks", "render", "-w", ws, "-s", "0", "-n", "4", "--json").stdout
    )
    assert [a["customer_id"] for a in again] == [a["customer_id"] for a in actions]
    # the first customer withdraws email: the next channel in the playbook is used
    who = actions[0]["customer_id"]
    with Workspace(ws).transaction() as con:
        withdrawal = {"customer_id": who, "purpose": "email", "status": "withdrawn"}
        append_rows(con, ws, [{**withdrawal, "ts": datetime.now(UTC).replace(tzinfo=None)}])
    after = json.loads(
        invoke("playbooks", "render", "-w", ws, "-s", "0", "-n", "4", "--json").stdout
    )
    mine = next(a for a in after if a["customer_id"] == who)
    assert mine["channel"] not in ("email", None)
    assert all(a["channel"] == "email" for a in after if a["customer_id"] != who)


def test_a_broken_edit_is_named_by_file_and_field(ws):
    assert invoke("playbooks", "init", "-w", ws).exit_code == 0
    path = Workspace(ws).path / "playbooks" / "segment-0.yaml"
    book = yaml.safe_load(path.read_text())
    cases = [
        ({"objective": "delight"}, "'objective'"),
        ({"channels": ["email", "pigeon"]}, "'channels'"),
        ({"template": "Hi {{ customer.first_name "}, "'template'"),
        ({"offer": {"discount_pct": 150, "max_discount": 5}}, "'offer.discount_pct'"),
    ]
    for change, field in cases:
        path.write_text(yaml.safe_dump({**book, **change}))
        r = invoke("playbooks", "render", "-w", ws, "-s", "0")
        assert r.exit_code != 0
        message = " ".join(r.stderr.split())
        assert "segment-0.yaml" in message and field in message, message
        with pytest.raises(DataValidationError):
            pb.load(path.parent)
    path.write_text("objective: [unclosed\n")
    r = invoke("playbooks", "render", "-w", ws, "-s", "0")
    assert r.exit_code != 0 and "not valid YAML" in r.stderr
    # a template naming a field nobody has fails at render, naming the file
    path.write_text(yaml.safe_dump({**book, "template": "{{ customer.shoe_size }}"}))
    r = invoke("playbooks", "render", "-w", ws, "-s", "0")
    assert r.exit_code != 0 and "segment-0.yaml" in r.stderr


def test_playbooks_of_another_run_are_refused(ws, built):
    assert invoke("playbooks", "init", "-w", ws).exit_code == 0
    folder = Workspace(ws).path / "playbooks"
    for path in folder.glob("*.yaml"):
        path.write_text(path.read_text().replace("run_id: 1", "run_id: 7"))
    r = invoke("playbooks", "render", "-w", ws, "-s", "0")
    assert r.exit_code != 0 and "run 7" in r.stderr and "--force" in r.stderr
    assert invoke("playbooks", "render", "-w", ws, "-s", "no such segment").exit_code != 0
