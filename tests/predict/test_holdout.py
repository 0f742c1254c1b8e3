"""Held-out evaluation and scoring on stacked toy frames whose labels are known functions of
the features, so the right answers can be computed by hand."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from segmint.predict.holdout import evaluate_churn, evaluate_next_purchase, evaluate_propensity
from segmint.predict.schedule import training_cutoffs
from segmint.predict.scoring import score_churn, score_next_purchase, score_propensity

# 30-day horizon: train 2024-06-04 .. 2024-11-01 (6 cut-offs), test 2024-12-01, as of 12-31
SCHEDULE = training_cutoffs(datetime(2024, 12, 31), 30, datetime(2024, 1, 1))
N = 300


def _frames(label: str, seed: int = 0) -> pd.DataFrame:
    """N customers per cut-off; ``x`` decides every label, ``noise`` decides none."""
    rng = np.random.default_rng(seed)
    parts = []
    for cut in SCHEDULE.cutoffs:
        x = rng.random(N)
        frame = pd.DataFrame(
            {
                "cutoff": cut,
                "customer_id": [f"c{i}" for i in range(N)],
                "recency_days": rng.random(N) * 100,
                "x": x,
                "noise": rng.random(N),
            }
        )
        if label == "purchase":
            frame["purchase"] = (x > 0.4).astype("int8")
            frame["days_to_next"] = np.where(x > 0.4, 30 * (1 - x), 30.0)
            frame["next_observed"] = x > 0.4
        else:
            frame["cat_share_a"] = (x > 0.7) * 0.5  # the customer's own history decides "a"
            frame["buy_a"] = (x > 0.7).astype("int8")
            frame["buy_b"] = (x < 0.5).astype("int8")
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def test_propensity_beats_popularity_and_the_baselines_score_as_computed_by_hand():
    frames = _frames("category")
    result = evaluate_propensity(frames, SCHEDULE, random_state=0)
    assert result["test_cutoff"] == "2024-12-01"
    test = frames[frames["cutoff"] == SCHEDULE.test]
    for name, share in (("a", test["buy_a"].mean()), ("b", test["buy_b"].mean())):
        category = result["categories"][name]
        assert category["n"] == N and category["base_rate"] == pytest.approx(share)
        popularity = category["models"]["category popularity"]
        # one score for everybody: ranks nothing (ROC-AUC 0.5), precision = the positive rate
        assert popularity["roc_auc"] == 0.5
        assert popularity["average_precision"] == pytest.approx(share)
        assert category["models"]["propensity model"]["roc_auc"] > 0.95
    # "a" is exactly the customers with a past share: own history ranks them perfectly;
    # "b" has no cat_share column, so no own-history baseline
    assert result["categories"]["a"]["models"]["own history"] == {
        "roc_auc": 1.0,
        "average_precision": 1.0,
    }
    assert "own history" not in result["categories"]["b"]["models"]
    assert result["mean"]["category popularity"]["roc_auc"] == 0.5


def test_churn_and_next_purchase_held_out():
    frames = _frames("purchase")
    rows = {cut: int((frames["cutoff"] == cut).sum()) for cut in SCHEDULE.cutoffs}
    dropout = {
        SCHEDULE.calibration: np.linspace(0, 1, rows[SCHEDULE.calibration]),
        SCHEDULE.test: np.linspace(0, 1, rows[SCHEDULE.test]),
    }
    churn = evaluate_churn(frames, SCHEDULE, dropout, random_state=0)
    assert churn["n"] == N and churn["calibration_cutoff"] == "2024-11-01"
    assert churn["models"]["churn model"]["roc_auc"] > 0.95
    # recency and the (here meaningless) dropout score carry no signal
    assert churn["models"]["recency (calibrated)"]["roc_auc"] < 0.65
    nxt = evaluate_next_purchase(frames, SCHEDULE, random_state=0)
    assert nxt["mae_days"] < 0.5 * nxt["median_baseline_mae_days"]


def test_scores_are_for_the_customers_as_of_the_scoring_date():
    purchases, categories = _frames("purchase"), _frames("category")
    now = purchases[purchases["cutoff"] == SCHEDULE.as_of].set_index("customer_id")
    churn = score_churn(purchases, SCHEDULE, random_state=0)
    assert list(churn.index) == list(now.index)
    # churn = no purchase = x <= 0.4
    assert roc_auc_of(now["x"] <= 0.4, churn["churn_risk"]) > 0.95
    # the likely churners' first reason is the feature that decides churn
    risky = churn.loc[churn["churn_risk"] > 0.5, "churn_reasons"]
    assert len(risky) > 0 and risky.str.startswith("x ").all()
    top = score_propensity(categories, SCHEDULE, random_state=0)
    assert set(top["top_category"]) <= {"a", "b"}
    nxt = score_next_purchase(purchases, SCHEDULE, random_state=0)
    assert list(nxt.index) == list(now.index)


def roc_auc_of(y, score) -> float:
    from segmint.predict.evaluation import roc_auc

    return roc_auc(np.asarray(y, dtype=int), np.asarray(score))
