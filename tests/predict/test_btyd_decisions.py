"""The purchase-model choice, the held-out repeat-purchase comparison and the dropout score."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from segmint.predict.btyd import (
    compare_repeat_purchases,
    dropout_score,
    fit_purchase_model,
    lifetime_value,
)
from segmint.predict.simulate import simulate_bg_nbd, simulate_gamma_gamma, simulate_pareto_nbd


def _summary(d: dict) -> pd.DataFrame:
    frame = pd.DataFrame({k: d[k] for k in ("frequency", "recency", "T")})
    frame.insert(0, "customer_id", [f"c{i}" for i in range(len(frame))])
    spend = simulate_gamma_gamma(
        frame["frequency"].to_numpy(), p=6.0, q=4.0, gamma=15.0, random_state=0
    )
    frame["monetary_value"] = spend["monetary_value"]
    return frame


def test_bg_nbd_when_its_dropout_is_identified():
    d = simulate_bg_nbd(2000, 39.0, r=0.25, alpha=4.0, a=0.8, b=2.4, random_state=0)
    model, name = fit_purchase_model(_summary(d))
    assert name == "BG/NBD" and type(model).__name__ == "BetaGeoNBD"


def test_pareto_nbd_when_nobody_drops_out():
    # a dropout rate of one per million weeks: BG/NBD's dropout probability goes to 0
    d = simulate_pareto_nbd(2000, 39.0, r=2.0, alpha=10.0, s=0.5, beta=1e6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model, name = fit_purchase_model(_summary(d))
    assert name == "Pareto/NBD" and type(model).__name__ == "ParetoNBD"


def test_compare_repeat_purchases_by_hand():
    # calibration frequencies 0, 0, 1, 9 (9 is grouped with 7+); holdout actual vs predicted
    result = compare_repeat_purchases([0, 0, 1, 9], [0, 2, 1, 5], [0.5, 0.5, 1.0, 4.0])
    assert result["customers"] == 4
    assert result["actual_repeat_purchases"] == 8.0
    assert result["predicted_repeat_purchases"] == 6.0
    assert result["error_pct"] == pytest.approx(-25.0)  # (6 - 8) / 8
    assert result["conditional_expectations"] == [
        {"frequency": 0, "customers": 2, "actual": 1.0, "predicted": 0.5},
        {"frequency": 1, "customers": 1, "actual": 1.0, "predicted": 1.0},
        {"frequency": 7, "customers": 1, "actual": 5.0, "predicted": 4.0},
    ]
    # no holdout purchase at all: the error is relative to one purchase, not a division by 0
    assert compare_repeat_purchases([0], [0], [0.5])["error_pct"] == pytest.approx(50.0)


def test_dropout_score_follows_the_ids_and_lifetime_value_the_summary():
    d = simulate_bg_nbd(1000, 39.0, r=0.25, alpha=4.0, a=0.8, b=2.4, random_state=1)
    summary = _summary(d)
    score = dropout_score(summary, ["c3", "unknown", "c0"])
    model, _ = fit_purchase_model(summary)
    alive = model.p_alive(summary["frequency"], summary["recency"], summary["T"])
    assert score[0] == pytest.approx(1 - alive[3]) and score[2] == pytest.approx(1 - alive[0])
    assert np.isnan(score[1])
    scores, info = lifetime_value(summary)
    assert list(scores.index) == list(summary["customer_id"])
    assert info["purchase_model"] == "BG/NBD" and info["clv_months"] == 12
    assert (scores["clv"] >= 0).all() and scores["p_alive"].between(0, 1).all()
