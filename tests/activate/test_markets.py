"""Markets: counts, value and growth checked against the lines, small markets grouped, any
attribute, population penetration, the expand ranking, hostile inputs, CLI and report."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint import pipeline
from segmint.cli.main import app
from segmint.consent.policy import ConsentPolicy, save_policy
from segmint.errors import DataValidationError, SegmintError
from segmint.store.workspace import Workspace

runner = CliRunner()


def _customers(path) -> pd.DataFrame:
    with Workspace(path).connect(read_only=True) as con:
        return con.execute(
            """SELECT c.customer_id, c.country, a.segment_id, s.name AS segment,
                      json_extract_string(c.attributes, '$.signup_channel') AS channel
               FROM customers c JOIN assignments a ON a.customer_id = c.customer_id
               JOIN segments s USING (run_id, segment_id) WHERE a.run_id = 1"""
        ).df()


def test_markets_by_country_against_the_lines(shop):
    path, data = shop
    view = pipeline.markets(Workspace(path))  # minimum audience 50
    table = view.table.set_index("market")
    customers = _customers(path)
    counts = customers["country"].value_counts()
    big = counts[counts >= 50]
    assert set(table.index) == {*big.index, "other"}
    for market, n in big.items():
        assert table.loc[market, "customers"] == n
    assert table.loc["other", "customers"] == counts[counts < 50].sum()
    assert table["share"].sum() == pytest.approx(1.0)
    # revenue over the 365 days before as_of, and new customers in the last 90 days, from the
    # lines directly
    with Workspace(path).connect(read_only=True) as con:
        lines = con.execute("SELECT customer_id, ts, amount FROM transactions").df()
    lines = lines.merge(customers[["customer_id", "country"]])
    as_of = data.as_of
    year = lines[(lines["ts"] >= as_of - timedelta(days=365)) & (lines["ts"] < as_of)]
    uk = year[year["country"] == "United Kingdom"]["amount"].sum()
    assert table.loc["United Kingdom", "revenue_365d"] == pytest.approx(uk)
    first = lines.groupby("customer_id").agg(first=("ts", "min"), country=("country", "first"))
    new_uk = first[
        (first["country"] == "United Kingdom") & (first["first"] >= as_of - timedelta(days=90))
    ]
    assert table.loc["United Kingdom", "new_customers_90d"] == len(new_uk)
    # segment mix: shares per segment within the market
    mix = table.loc["United Kingdom", "segment_mix"]
    uk_customers = customers[customers["country"] == "United Kingdom"]
    expected = uk_customers["segment"].value_counts(normalize=True)
    for name, share in expected.items():
        assert mix[name] == pytest.approx(share, abs=1e-4)
    # "other" is not ranked; the ranked markets are ordered by their expand score
    assert pd.isna(table.loc["other", "expand_score"])
    ranked = view.table.dropna(subset=["expand_score"])
    assert ranked["expand_score"].is_monotonic_decreasing
    assert ranked["expand_rank"].tolist() == list(range(1, len(ranked) + 1))
    assert "worth most per customer" in view.high_value  # no predictions in this run
    # the documented formula: the mean of the percentile ranks (SQL percent_rank) of revenue
    # per customer, growth and high-value share over all markets
    t = view.table
    assert t["revenue_growth"].notna().all()

    def pct(col):
        return (t[col].rank(method="min") - 1) / (len(t) - 1)

    score = (pct("revenue_per_customer") + pct("revenue_growth") + pct("high_value_share")) / 3
    ranked_rows = t["market"] != "other"
    np.testing.assert_allclose(t.loc[ranked_rows, "expand_score"], score[ranked_rows])


def test_any_attribute_and_small_groups(shop_copy):
    ws = Workspace(shop_copy)
    view = pipeline.markets(ws, by="signup_channel")
    counts = _customers(shop_copy)["channel"].value_counts()
    table = view.table.set_index("market")
    for channel, n in counts.items():
        if n >= 50:
            assert table.loc[channel, "customers"] == n
    with ws.transaction() as con:
        save_policy(con, ConsentPolicy(min_audience=1000))
    everyone = pipeline.markets(ws)
    assert everyone.table["market"].tolist() == ["other"]  # no market described on its own


def test_population_gives_customers_per_thousand(shop, tmp_path):
    population = tmp_path / "population.csv"
    population.write_text("country,people\nUnited Kingdom,67000000\nGermany,84000000\n")
    view = pipeline.markets(Workspace(shop[0]), population=population)
    table = view.table.set_index("market")
    uk = table.loc["United Kingdom"]
    assert uk["customers_per_1000"] == pytest.approx(1000 * uk["customers"] / 67e6)
    assert pd.isna(table.loc["France", "customers_per_1000"])
    bad = tmp_path / "bad.csv"
    bad.write_text("country,people\nUnited Kingdom,many\n")
    with pytest.raises(SegmintError, match="population of 'United Kingdom' is not a positive"):
        pipeline.markets(Workspace(shop[0]), population=bad)
    with pytest.raises(DataValidationError, match="file not found"):
        pipeline.markets(Workspace(shop[0]), population=tmp_path / "absent.csv")


def test_unknown_attribute_is_a_clear_error(shop):
    with pytest.raises(SegmintError, match="unknown market attribute 'planet'.*signup_channel"):
        pipeline.markets(Workspace(shop[0]), by="planet")
    got = runner.invoke(app, ["markets", "-w", str(shop[0]), "--by", "planet"])
    assert got.exit_code != 0 and "unknown market attribute" in got.stderr


def test_cli_markets_json_and_report_section(shop, tmp_path):
    got = runner.invoke(app, ["markets", "-w", str(shop[0]), "--json"])
    assert got.exit_code == 0, got.stderr
    body = json.loads(got.stdout)
    assert body["by"] == "country" and body["markets"][0]["expand_rank"] == 1
    report = pipeline.write_report(Workspace(shop[0]), path=tmp_path / "r.html")
    html = report.read_text()
    assert '<section id="markets">' in html and "United Kingdom" in html
