"""Micro-segments on the command line: ``segmint segments`` and the exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint import pipeline
from segmint.cli import app
from segmint.consent.policy import ConsentPolicy, save_policy
from segmint.store.workspace import Workspace

runner = CliRunner()


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("micro") / "ws"
    pipeline.demo(Workspace(path), n_customers=1500)
    with Workspace(path).transaction() as con:  # every micro-segment, however small, listed
        save_policy(con, ConsentPolicy(min_audience=1))
    return str(path)


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_segments_lists_segments_then_micro_segments(ws):
    plain = invoke("segments", "-w", ws)
    assert plain.exit_code == 0 and "Run 1:" in plain.stdout and "micro" not in plain.stdout
    every = json.loads(invoke("segments", "--micro", "-w", ws, "--json").stdout)
    micro = pd.DataFrame(every["micro_segments"])
    assert every["run_id"] == 1 and micro["micro_segment_id"].is_unique
    assert micro["size"].sum() == 1500
    one = json.loads(invoke("segments", "0", "-w", ws, "--json").stdout)["micro_segments"]
    assert {m["segment_id"] for m in one} == {0} and len(one) == (micro["segment_id"] == 0).sum()
    top = json.loads(invoke("segments", "-m", "--top", "1", "-w", ws, "--json").stdout)
    assert len(top["micro_segments"]) == micro["segment_id"].nunique()
    table = invoke("segments", "0", "-w", ws)
    assert table.exit_code == 0 and one[0]["micro_segment_id"] in table.stdout


def test_unknown_segment_is_one_line_error(ws):
    result = runner.invoke(app, ["segments", "99", "-w", ws])
    assert result.exit_code != 0 and "no segment 99 in run 1" in result.stderr


def test_exports_carry_micro_segment_names(ws, tmp_path):
    out = tmp_path / "a.parquet"
    assert invoke("export", "assignments", "--raw-ids", "-w", ws, "-o", str(out)).exit_code == 0
    rows = pd.read_parquet(out)
    micro = pipeline.export_frame(Workspace(ws), "micro-segments")
    names = dict(zip(micro["micro_segment_id"], micro["name"], strict=True))
    assert rows["micro_segment"].notna().all()
    assert (rows["micro_segment_id"].map(names) == rows["micro_segment"]).all()
    # tastes across the segments: some micro-segment has customers in several segments
    assert (rows.groupby("micro_segment_id")["segment"].nunique() > 1).any()
    assert set(micro.columns) >= {"segment", "name", "rule", "size", "value_share", "profile"}
