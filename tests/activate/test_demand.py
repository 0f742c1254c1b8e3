"""Demand per category and segment: the run-rate fallback, the customer model, the interval,
hostile horizons and groupings, a category without recent orders, and (slow) a held-out check
on Online Retail against naive forecasts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint import pipeline
from segmint.activate.demand import (
    MODEL_WEIGHT,
    WEEKS_PER_YEAR,
    demand_backtest,
    demand_effect,
    interval,
    wape,
)
from segmint.cli.main import app
from segmint.consent.policy import ConsentPolicy, save_policy
from segmint.errors import SegmintError
from segmint.store.runs import get_run, save_predictions
from segmint.store.workspace import Workspace


def _lines(ws_path) -> pd.DataFrame:
    with Workspace(ws_path).connect(read_only=True) as con:
        return con.execute(
            """SELECT t.customer_id, t.order_id, t.ts, t.category, a.segment_id
               FROM transactions t LEFT JOIN assignments a
                 ON a.customer_id = t.customer_id AND a.run_id = 1
               WHERE NOT t.is_return"""
        ).df()


def _recent(lines: pd.DataFrame, as_of: datetime, weeks: int) -> pd.DataFrame:
    start = as_of - timedelta(weeks=weeks)
    return lines[(lines["ts"] >= start) & (lines["ts"] < as_of)]


def test_without_predictions_the_run_rate_is_used_and_said(shop):
    path, data = shop
    result = pipeline.demand(Workspace(path), weeks=3)
    assert result.method == "run rate"
    assert "no predictions" in result.note
    lines = _lines(path)
    table = result.table.set_index("category")
    # the run rates counted here, independently, from the lines: orders containing each
    # category per week over the last 4 and 13 weeks before as_of
    for weeks, column in ((13, "run_rate_13w"), (4, "run_rate_4w")):
        per_cat = _recent(lines, data.as_of, weeks).groupby("category")["order_id"].nunique()
        expected = (per_cat / weeks * 3).reindex(table.index, fill_value=0.0)
        np.testing.assert_allclose(table[column], expected, rtol=1e-9)
    np.testing.assert_allclose(
        table["expected_orders"], (table["run_rate_4w"] + table["run_rate_13w"]) / 2
    )
    assert (table["lower"] <= table["expected_orders"]).all()
    assert (table["upper"] >= table["expected_orders"]).all()
    assert table["customer_model"].isna().all()


def test_customer_model_spreads_expected_purchases_by_segment_mix(shop_copy, shop):
    ws = Workspace(shop_copy)
    as_of = shop[1].as_of
    with ws.transaction() as con:
        ids = con.execute("SELECT customer_id FROM assignments WHERE run_id = 1").df()
        # one expected purchase a week per customer
        ids["expected_purchases"] = WEEKS_PER_YEAR
        save_predictions(con, 1, ids)
        save_policy(con, ConsentPolicy(min_audience=5))
    result = pipeline.demand(ws, weeks=2, by="segment")
    assert result.method.startswith("customer model")
    lines = _recent(_lines(shop_copy), as_of, 13)
    with ws.connect(read_only=True) as con:
        sizes = con.execute("SELECT segment_id, size FROM segments WHERE run_id = 1").df()
    table = result.table
    for sid, size in zip(sizes["segment_id"], sizes["size"], strict=True):
        seg = lines[lines["segment_id"] == sid]
        mix = seg.groupby("category")["order_id"].nunique() / seg["order_id"].nunique()
        rows = table[table["segment_id"] == sid].set_index("category")
        # 2 weeks x 1 purchase a week x customers, spread over the segment's category mix
        np.testing.assert_allclose(
            rows["customer_model"], (2 * size * mix).reindex(rows.index, fill_value=0.0)
        )
        blend = (
            MODEL_WEIGHT * rows["customer_model"]
            + (1 - MODEL_WEIGHT) * (rows["run_rate_4w"] + rows["run_rate_13w"]) / 2
        )
        np.testing.assert_allclose(rows["expected_orders"], blend)
    assert {r["segment"] for r in result.to_dict()["rows"]} == set(table["segment"])


def test_small_segments_are_left_out_of_the_segment_view(shop):
    path, _ = shop
    result = pipeline.demand(Workspace(path), by="segment")  # default minimum audience 50
    with Workspace(path).connect(read_only=True) as con:
        sizes = con.execute("SELECT segment_id, size FROM segments WHERE run_id = 1").df()
    kept = set(sizes.loc[sizes["size"] >= 50, "segment_id"])
    assert set(result.table["segment_id"]) == kept
    assert result.withheld_segments == len(sizes) - len(kept)


def test_a_category_without_recent_orders_shows_zero(shop_copy, shop):
    as_of = shop[1].as_of
    ws = Workspace(shop_copy)
    with ws.transaction() as con:
        con.execute(
            """INSERT INTO transactions SELECT customer_id, 'old-1', ?, 'P-OLD', 'old thing',
                      'dormant', 1, 5, 5, channel, false, 999999999
               FROM transactions LIMIT 1""",
            [as_of - timedelta(days=300)],
        )
    result = pipeline.demand(ws, weeks=4)
    row = result.table.set_index("category").loc["dormant"]
    assert row["expected_orders"] == 0 and row["lower"] == 0 and row["upper"] == 0
    assert pd.isna(row["change_vs_run_rate"])
    assert json.dumps(result.to_dict())  # no NaN leaks into JSON as a bare NaN


@pytest.mark.parametrize("weeks", [0, -2, 53])
def test_horizon_outside_one_to_52_weeks_is_a_clear_error(shop, weeks):
    with pytest.raises(SegmintError, match="weeks must be between 1 and 52"):
        pipeline.demand(Workspace(shop[0]), weeks=weeks)


def test_fractional_horizon_and_unknown_grouping_are_errors(shop):
    with pytest.raises(SegmintError, match="whole number"):
        pipeline.demand(Workspace(shop[0]), weeks=2.5)
    with pytest.raises(SegmintError, match="unknown grouping 'region'"):
        pipeline.demand(Workspace(shop[0]), by="region")


def test_cli_demand(shop):
    runner = CliRunner()
    got = runner.invoke(app, ["demand", "-w", str(shop[0]), "--weeks", "2", "--json"])
    assert got.exit_code == 0, got.stderr
    body = json.loads(got.stdout)
    assert body["weeks"] == 2 and body["method"] == "run rate" and body["rows"]
    bad = runner.invoke(app, ["demand", "-w", str(shop[0]), "--weeks", "0"])
    assert bad.exit_code != 0
    assert "weeks must be between 1 and 52" in bad.stderr


def test_interval_and_wape():
    lower, upper = interval([0.0, 10.0, 10.0], [1.0, 1.0, 4.0], level=0.9)
    assert (lower[0], upper[0]) == (0, 0)
    assert lower[1] < 10 < upper[1]
    assert upper[2] - lower[2] > upper[1] - lower[1]  # overdispersed: wider
    assert wape([10, 0, 5], [8, 1, 5]) == pytest.approx(0.2)
    with pytest.raises(SegmintError, match="actual orders"):
        wape([0, 0], [1, 1])


def test_demand_effect_sentence():
    up = demand_effect(340, 0.35, category="garden", segment="Big spenders")
    assert up["expected_change_orders"] == pytest.approx(119.0)
    assert up["demand_message"] == (
        "demand for garden among Big spenders up 35%: about +119 orders next week"
    )
    down = demand_effect(20, -0.5, category="toys", segment="Lapsed")
    assert down["expected_change_orders"] == -10 and "down 50%" in down["demand_message"]
    new = demand_effect(0, float("inf"), category="toys", segment="Lapsed")
    assert new["expected_change_orders"] is None


# --- held-out check on Online Retail -----------------------------------------------------------


@pytest.fixture(scope="module")
def retail_runs(tmp_path_factory, online_retail_csv):
    """Online Retail with a run and predictions at the tuning cut-off and the two checked."""
    import warnings

    ws = Workspace(tmp_path_factory.mktemp("retail-demand") / "ws")
    pipeline.ingest(ws, online_retail_csv, preset="online-retail")
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cut in ("2011-08-01", "2011-09-01", "2011-10-01"):
            run = pipeline.segment(ws, as_of=datetime.fromisoformat(cut), write_html=False)
            pipeline.predict(ws, run_id=run.run_id)
            runs[cut] = run.run_id
    return ws, runs


@pytest.mark.slow
def test_online_retail_weekly_wape_against_naive_forecasts(retail_runs):
    ws, runs = retail_runs
    weights = (0.0, 0.25, 0.5, 1.0)
    with ws.connect(read_only=True) as con:
        tuning = demand_backtest(
            con, get_run(con, runs["2011-08-01"]), weeks=4, model_weights=weights
        )
        checked = {
            cut: demand_backtest(con, get_run(con, runs[cut]), weeks=w, model_weights=weights)
            for cut in ("2011-09-01", "2011-10-01")
            for w in (4,)
        }
    print(json.dumps({"tuning 2011-08-01": tuning, **checked}, indent=1))
    # the shipped weight is the best of the grid at the tuning cut-off (not at the checked ones)
    best = min(weights, key=lambda w: tuning["wape"][f"model w={w:g}"])
    assert best == MODEL_WEIGHT
    shipped = f"model w={MODEL_WEIGHT:g}"
    sep = checked["2011-09-01"]["wape"]
    # September: the blend beats the naive last week and the 4-week seasonal naive
    assert sep[shipped] < sep["naive (last week)"]
    assert sep[shipped] < sep["seasonal naive (4-week cycle)"]
    # the blend beats the customer model alone on both checked cut-offs
    for result in checked.values():
        assert result["wape"][shipped] < result["wape"]["model w=1"]
        assert 0 < result["wape"][shipped] < 1
