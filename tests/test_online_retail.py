"""End to end on the real UCI Online Retail file (../shared/data; skipped when absent)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint import pipeline
from segmint.cli.main import app
from segmint.store.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def retail_workspace(tmp_path_factory, online_retail_csv) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("retail") / "ws")
    pipeline.ingest(ws, online_retail_csv, preset="online-retail")
    return ws


@pytest.fixture(scope="module")
def retail_run(retail_workspace):
    return pipeline.segment(retail_workspace, write_html=True)


def test_segments_every_customer_with_a_name_and_a_rule(retail_workspace, retail_run):
    with retail_workspace.connect(read_only=True) as con:
        (customers,) = con.execute("SELECT count(*) FROM customers").fetchall()[0]
        (buyers,) = con.execute(
            "SELECT count(DISTINCT customer_id) FROM transactions WHERE NOT is_return"
        ).fetchall()[0]
    assert customers == 4372  # the published count of distinct CustomerIDs
    assert buyers == 4339  # 33 customers only ever cancelled
    result = retail_run
    assert result.n_customers == buyers
    assert int(result.segments["size"].sum()) == buyers
    assert result.segments["name"].str.len().gt(0).all()
    assert result.segments["name"].is_unique
    assert result.segments["rule"].str.len().gt(0).all()
    assert (result.segments["rule_fidelity"] > 0.5).all()
    assert result.report_path.is_file()


def _levels(result: dict) -> dict[str, dict[str, tuple[float, float]]]:
    """level -> grouping -> (value eta², interest eta²)."""
    levels: dict[str, dict] = {}
    for row in result["groupings"]:
        levels.setdefault(row["level"], {})[row["grouping"]] = (
            row["value_eta2"],
            row["interest_eta2"],
        )
    return levels


@pytest.mark.parametrize(
    ("cutoff", "k"),
    # k chosen on the period before each cut-off; figures measured on the 90 days after. The
    # space's weights were chosen looking at 2011-08-12 and 2011-09-10; these were not used.
    # 2011-04-01 is four months into the data: the earlier period is 60 days, not a quarter;
    # 2011-03-01 has no earlier period at all (five segments, a rule found at 2011-02-01,
    # 02-15 and 03-01 with other families and seeds)
    [
        (datetime(2011, 6, 12), 7),
        (datetime(2011, 10, 1), 5),
        (datetime(2011, 4, 1), 8),
        (datetime(2011, 3, 1), 5),
    ],
)
def test_segments_worth_more_than_rfm_on_the_next_quarter(retail_workspace, cutoff, k):
    """The issue's bar on held-out time: segments keep >= 95% of the better RFM baseline's
    value signal and carry >= 2x its interest, and no baseline beats them on both;
    micro-segments carry more interest than every baseline with as many groups."""
    result = pipeline.evaluate_future_spend(retail_workspace, cutoff=cutoff, horizon_days=90)
    assert result["space"] == "value, behaviour and interest"
    assert result["n_groups"] == k
    segments = _levels(result)["ML segments"]
    value, interest = segments.pop("ML segments")
    rfm = [segments["RFM ladder"], segments["k-means log RFM"]]
    assert value >= 0.95 * max(v for v, _ in rfm)  # measured 106%, 103%, 98%, 104%
    assert interest >= 2 * max(i for _, i in rfm)  # measured 5.6x, 8.7x, 2.6x, 7.6x
    for baseline in segments.values():
        assert baseline[0] < value or baseline[1] < interest
    # micro-segments (tastes across all customers): more interest than every baseline, far
    # more than the RFM-only ones (measured 3.3x, 3.4x, 2.6x, 3.1x) and more than k-means on
    # log R/F/M plus category shares (109%, 103%, 102%, 107%; the micro-segment bar)
    micro = _levels(result)["micro-segments"]
    value, interest = micro.pop("micro-segments")
    assert interest > 2 * max(micro["RFM ladder"][1], micro["k-means log RFM"][1])
    assert interest > micro["k-means log RFM + categories"][1]


#: a merchandiser's families, by words of the description (first match wins; else "other")
FAMILY_WORDS = {
    "christmas": r"CHRISTMAS|XMAS|ADVENT|SANTA|REINDEER|SNOWFLAKE",
    "bags": r"\bBAG|TOTE|SHOPPER",
    "lighting": r"LIGHT|CANDLE|LANTERN|LAMP",
    "kitchen": r"MUG|CUP|TEA|PLATE|BOWL|CAKE|BAKING|JAR|SPOON|KITCHEN|LUNCH|BOTTLE|NAPKIN|PANTRY",
    "stationery": r"CARD|WRAP|PAPER|NOTEBOOK|PENCIL|PEN |STICKER|TAPE|ENVELOPE|BOOK",
    "storage": r"BOX|TIN|BASKET|CASE|DRAWER|STORAGE|HOLDER",
    "decor": r"SIGN|FRAME|CLOCK|MIRROR|HEART|DECORATION|ORNAMENT|WREATH|GARLAND|BUNTING|HANGING"
    r"|VASE|CUSHION|DOORMAT",
    "toys": r"TOY|GAME|DOLL|PUZZLE|SPACEBOY|SKIPPING|TEDDY|KIDS|CHILDREN",
    "jewellery": r"NECKLACE|EARRING|BRACELET|RING|JEWEL|BEAD|HAIR",
    "garden": r"GARDEN|PLANT|FLOWER|BIRD|WATERING|POT",
}


def _word_families(frame: pd.DataFrame) -> pd.Series:
    words = frame["Description"].fillna("").str.upper()
    family = pd.Series("other", index=frame.index)
    for name, pattern in reversed(FAMILY_WORDS.items()):  # the first match is written last
        family[words.str.contains(pattern, regex=True)] = name
    return family


def _code_families(frame: pd.DataFrame) -> pd.Series:
    """The first two digits of the stock code (33 families, 40% of lines in "22")."""
    code = frame["StockCode"].str.upper()
    return ("code " + code.str[:2]).where(code.str[:3].str.isdigit(), "special")


@pytest.mark.parametrize(
    ("families", "cutoff"),
    # the user's own product families in a column of the file, not the families segmint
    # derives from descriptions. Measured at twenty cut-offs (2011-03-15 .. 2011-11-01) under
    # seeds 0-2: both bars met at 57 of 60 (word families) and 60 of 60 (code families)
    [(_word_families, datetime(2011, 10, 1)), (_code_families, datetime(2011, 4, 15))],
)
def test_segments_worth_more_than_rfm_with_the_users_product_families(
    tmp_path, online_retail_csv, families, cutoff
):
    frame = pd.read_csv(online_retail_csv, dtype=str)
    frame["Family"] = families(frame)
    path = tmp_path / "retail.csv"
    frame.to_csv(path, index=False)
    ws = Workspace(tmp_path / "ws")
    pipeline.ingest(ws, path, preset="online-retail", mapping={"category": "Family"})
    with ws.connect(read_only=True) as con:
        (stored,) = con.execute("SELECT count(DISTINCT category) FROM transactions").fetchone()
    assert stored == frame["Family"].nunique()  # the user's families, not derived ones
    result = pipeline.evaluate_future_spend(ws, cutoff=cutoff, horizon_days=90)
    segments = _levels(result)["ML segments"]
    value, interest = segments.pop("ML segments")
    rfm = [segments["RFM ladder"], segments["k-means log RFM"]]
    assert value >= 0.95 * max(v for v, _ in rfm)  # measured 102% and 106%
    assert interest >= 2 * max(i for _, i in rfm)  # measured 10.4x and 6.2x
    micro = _levels(result)["micro-segments"]
    value, interest = micro.pop("micro-segments")
    assert interest > max(i for _, i in micro.values())  # measured 110% and 113%


@pytest.fixture(scope="module")
def evaluation(retail_workspace, retail_run) -> dict:
    return pipeline.predict(retail_workspace, run_id=retail_run.run_id)


def test_churn_model_beats_baselines_on_held_out_time(evaluation):
    churn = evaluation["churn"]
    assert churn["test_cutoff"] == "2011-08-12"  # default horizon: 120 days before the end
    # trees on 02-13 and 03-15, calibration on 04-14: a 120-day label window 30 days after the
    # last tree cut-off overlaps 90 days of the calibration window (stated, not hidden)
    assert churn["train_cutoffs"] == ["2011-02-13", "2011-03-15", "2011-04-14"]
    assert churn["calibration_overlap_days"] == 90
    model = churn["models"]["churn model"]
    assert model["roc_auc"] > 0.72  # measured 0.748
    for baseline in ("recency (calibrated)", "1 - P(alive) (calibrated)"):
        assert model["roc_auc"] > churn["models"][baseline]["roc_auc"] + 0.03
        assert model["brier"] < churn["models"][baseline]["brier"]
    assert (
        evaluation["next_purchase"]["mae_days"]
        < 0.85 * evaluation["next_purchase"]["median_baseline_mae_days"]
    )


def test_propensity_beats_popularity_and_own_history_per_category(evaluation):
    propensity = evaluation["propensity"]
    assert propensity["test_cutoff"] == "2011-08-12"
    assert len(propensity["categories"]) == 5
    for name, category in propensity["categories"].items():
        models = category["models"]
        model = models.pop("propensity model")
        assert models["category popularity"]["roc_auc"] == 0.5, name
        for baseline in models.values():
            assert model["roc_auc"] > baseline["roc_auc"] + 0.05, name
            assert model["average_precision"] > baseline["average_precision"] + 0.05, name
    mean = propensity["mean"]
    assert mean["propensity model"]["roc_auc"] > 0.72  # measured 0.752


def test_scores_join_the_run(retail_workspace, retail_run, evaluation):
    run = pipeline.load_run(retail_workspace, retail_run.run_id)
    assert {"clv", "churn_risk", "value_flag"} <= set(run.segments.columns)


def test_clv_is_net_of_returns_and_the_purchase_model_is_chosen_on_held_out_data(
    retail_workspace, retail_run, evaluation
):
    ltv = evaluation["lifetime_value"]
    errors = ltv["holdout"]["error_pct_by_model"]
    assert sorted(errors) == ["BG/NBD", "MBG/NBD", "Pareto/NBD"]
    assert ltv["purchase_model"] == ltv["holdout"]["model"] != "BG/NBD"
    with retail_workspace.connect(read_only=True) as con:
        scores = con.execute(
            """SELECT p.customer_id, p.clv, p.p_alive, n.net
               FROM predictions p JOIN (
                   SELECT customer_id, sum(amount) AS net FROM transactions GROUP BY ALL
               ) n USING (customer_id)
               WHERE p.run_id = ?""",
            [retail_run.run_id],
        ).df()
    # 16446 bought 80,995 of one item and returned them the same day: net spend 2.90; its
    # CLV was 178,086 when spend was gross (measured now: 351, BTYD 421, from its small earlier
    # orders; the spend model sees the BTYD history net of returns)
    row = scores.set_index("customer_id").loc["16446"]
    assert row["net"] == pytest.approx(2.90, abs=0.01)
    assert row["clv"] < 1000
    top = scores[scores["clv"] >= scores["clv"].quantile(0.99)]
    assert (top["net"] >= 10).all(), top.sort_values("net").head()


def test_clv_ranks_next_spend_better_than_past_spend_held_out(retail_workspace, evaluation):
    # the run's own check: models fitted on cut-offs before 2011-08-12, the next 120 days
    ranking = evaluation["clv_ranking"]
    assert (ranking["test_cutoff"], ranking["horizon_days"]) == ("2011-08-12", 120)
    rho = ranking["spearman"]  # measured 0.571, BTYD CLV 0.532, past net spend 0.555
    assert rho["CLV (BTYD + spend model)"] > rho["past net spend"] + 0.005
    assert rho["CLV (BTYD + spend model)"] > rho["BTYD CLV"] + 0.02
    assert ranking["clv"] == "BTYD + spend model"
    # another cut-off and horizon: 2011-09-10, the next 90 days (as segmint evaluate checks)
    with retail_workspace.connect(read_only=True) as con:
        other = pipeline.clv_ranking(con, datetime(2011, 9, 10), 90)
    rho = other["spearman"]  # measured 0.530, BTYD CLV 0.499, past net spend 0.514
    assert other["train_cutoffs"][-1] == "2011-06-12"  # labels end before the test cut-off
    assert rho["CLV (BTYD + spend model)"] > rho["past net spend"] + 0.01
    assert rho["CLV (BTYD + spend model)"] > rho["BTYD CLV"] + 0.02


def test_p_alive_falls_with_silence(retail_workspace, retail_run, evaluation):
    # no purchase model identifies dropout here (Pareto/NBD's is ~0, BG/NBD and MBG/NBD cannot
    # be fitted), so P(alive) is the churn model's chance of a purchase within the horizon
    assert evaluation["p_alive"]["model"] == "churn model"
    assert "almost no dropout" in evaluation["p_alive"]["reason"]
    with retail_workspace.connect(read_only=True) as con:
        silence = con.execute(
            """SELECT p.p_alive, date_diff('day', s.last, DATE '2011-12-10') AS silent_days
               FROM predictions p JOIN (
                   SELECT customer_id, max(ts) AS last FROM transactions
                   WHERE NOT is_return GROUP BY ALL
               ) s USING (customer_id)
               WHERE p.run_id = ?""",
            [retail_run.run_id],
        ).df()
    silent = silence.loc[silence["silent_days"] > 180, "p_alive"]
    active = silence.loc[silence["silent_days"] <= 30, "p_alive"]
    assert len(silent) > 500 and len(active) > 1000
    assert silent.median() < 0.5  # measured 0.42
    assert active.median() > 0.8  # measured 0.87


@pytest.fixture(scope="module")
def six_months(tmp_path_factory, online_retail_csv) -> Workspace:
    """Online Retail's first six months (2010-12-01 to 2011-05-31), segmented."""
    frame = pd.read_csv(online_retail_csv, dtype=str)
    path = tmp_path_factory.mktemp("six") / "retail.csv"
    frame[pd.to_datetime(frame["InvoiceDate"]) < "2011-06-01"].to_csv(path, index=False)
    ws = Workspace(path.parent / "ws")
    pipeline.ingest(ws, path, preset="online-retail")
    pipeline.segment(ws)
    return ws


def test_six_months_get_predictions_with_a_weak_validation_said_so(six_months):
    evaluation = pipeline.predict(six_months, horizon_days=60)
    validation = evaluation["validation"]
    # two months of history before cut-offs a month apart leave one cut-off: the reduced
    # schedule takes cut-offs two weeks apart with one month of history
    assert validation["reduced_validation"] is True
    assert validation["train_cutoffs"] == ["2011-01-04", "2011-01-18", "2011-02-01"]
    assert validation["test_cutoff"] == "2011-04-02"
    assert validation["held_out_customers"] == evaluation["churn"]["n"] > 1500
    assert evaluation["churn"]["models"]["churn model"]["roc_auc"] > 0.65  # measured 0.705
    # three short training cut-offs teach the spend model little (alone it ranked the next 60
    # days' spend at 0.446), so CLV leans on past spend too: measured 0.480 against 0.464
    rho = evaluation["clv_ranking"]["spearman"]
    assert rho["CLV (BTYD + spend model)"] > rho["past net spend"] + 0.005


def test_six_months_error_names_the_horizon_that_works(six_months):
    args = ["predict", "-w", str(six_months.path), "--horizon-days", "90", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    # 2010-12-01 08:26 to 2011-06-01: 181 full days, less a month of history, over two
    assert "pass --horizon-days 75 or shorter" in result.output
