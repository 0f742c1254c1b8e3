"""``segmint recommend`` and ``segmint recommend evaluate`` on a small demo workspace."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from segmint import pipeline
from segmint.cli import app
from segmint.store.workspace import Workspace

runner = CliRunner()


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("recs") / "ws"
    pipeline.demo(Workspace(path), n_customers=400)
    return str(path)


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_recommend_stores_and_prints_featured_items(ws):
    done = invoke("recommend", "-w", ws, "--top", "4")
    assert done.exit_code == 0, done.output
    assert "Featured products per segment" in done.stdout
    summary = json.loads(invoke("recommend", "-w", ws, "--top", "3", "--json").stdout)
    assert summary["model"] == "EASE" and summary["customers"] > 0
    assert all(len(items) >= 1 for items in summary["featured"].values())
    exported = invoke("export", "recommendations", "-w", ws, "--purpose", "analytics")
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.splitlines()[0].startswith("customer_id,segment_id,rank,product_id")


def test_recommend_bad_input_is_one_line_error(ws):
    for args in (["--model", "magic"], ["--top", "0"], ["--run", "99"]):
        done = invoke("recommend", "-w", ws, *args)
        assert done.exit_code != 0 and "error:" in done.output, args


def test_evaluate_prints_every_model(ws):
    with Workspace(ws).connect(read_only=True) as con:
        lo, hi = con.execute("SELECT min(ts), max(ts) FROM transactions").fetchall()[0]
    split = (lo + (hi - lo) * 0.7).strftime("%Y-%m-%d")
    rows = json.loads(invoke("recommend", "evaluate", "--split", split, "-w", ws, "--json").stdout)
    assert {r["model"] for r in rows} >= {"popularity", "segment popularity", "EASE"}
    bad = invoke("recommend", "evaluate", "--split", "soon", "-w", ws)
    assert bad.exit_code != 0 and "--split" in bad.output
