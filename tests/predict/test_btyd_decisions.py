"""The purchase-model choice, the held-out repeat-purchase comparison and the dropout score."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from segmint.errors import ModelError
from segmint.predict import ParetoNBD
from segmint.predict.btyd import (
    alive_model,
    choose_purchase_model,
    compare_repeat_purchases,
    dropout_identified,
    dropout_score,
    fit_purchase_model,
    holdout_repeat_purchases,
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


NAN = float("nan")


@pytest.mark.parametrize(
    ("errors", "chosen"),
    [
        # the smallest absolute error wins among the silence-aware models
        ({"BG/NBD": 10.0, "MBG/NBD": -3.0, "Pareto/NBD": 5.0}, "MBG/NBD"),
        ({"BG/NBD": 10.0, "MBG/NBD": 8.0, "Pareto/NBD": -1.0}, "Pareto/NBD"),
        # BG/NBD better by 2 points or less: the silence-aware model still wins
        ({"BG/NBD": 1.0, "MBG/NBD": -3.0, "Pareto/NBD": 7.0}, "MBG/NBD"),
        # BG/NBD better by more than 2 points: BG/NBD
        ({"BG/NBD": -1.0, "MBG/NBD": 3.5, "Pareto/NBD": 4.0}, "BG/NBD"),
        # a candidate that failed (NaN) is out
        ({"BG/NBD": 1.0, "MBG/NBD": NAN, "Pareto/NBD": NAN}, "BG/NBD"),
        ({"BG/NBD": NAN, "MBG/NBD": 30.0, "Pareto/NBD": NAN}, "MBG/NBD"),
    ],
)
def test_choose_purchase_model_by_hand(errors, chosen):
    assert choose_purchase_model(errors) == chosen


def test_choose_purchase_model_with_nothing_fitted():
    with pytest.raises(ModelError, match="no purchase model"):
        choose_purchase_model({"BG/NBD": NAN, "Pareto/NBD": NAN})


def test_holdout_reports_every_candidate_and_the_choice():
    d = simulate_bg_nbd(1500, 39.0, r=0.25, alpha=4.0, a=0.8, b=2.4, random_state=2)
    summary = _summary(d)
    rng = np.random.default_rng(0)
    summary["frequency_holdout"] = rng.poisson(0.3, len(summary))
    summary["duration_holdout"] = 13.0
    result = holdout_repeat_purchases(summary)
    errors = result["error_pct_by_model"]
    assert sorted(errors) == ["BG/NBD", "MBG/NBD", "Pareto/NBD"]
    assert result["model"] == choose_purchase_model(errors)
    assert result["error_pct"] == pytest.approx(errors[result["model"]])


def test_zero_spend_repeaters_get_the_mean_spend_and_p_alive_falls_for_silent_one_timers():
    d = simulate_bg_nbd(1000, 39.0, r=0.25, alpha=4.0, a=0.8, b=2.4, random_state=3)
    summary = _summary(d)
    repeaters = summary.index[summary["frequency"] > 0][:3]
    summary.loc[repeaters, "monetary_value"] = 0.0  # repeat orders of value zero only
    one_timer = summary.index[summary["frequency"] == 0]
    summary.loc[one_timer[:2], "T"] = [2.0, 39.0]  # bought 2 and 39 weeks ago, no repeat
    scores, _ = lifetime_value(summary, "MBG/NBD")
    assert (
        np.isfinite(scores["clv"]).all()
        and (scores.loc[summary.loc[repeaters, "customer_id"], "clv"] > 0).all()
    )
    recent, silent = scores.loc[summary.loc[one_timer[:2], "customer_id"], "p_alive"]
    assert 1.0 > recent > silent


def test_invalid_summary_error_names_the_customer():
    d = simulate_bg_nbd(200, 39.0, r=0.25, alpha=4.0, a=0.8, b=2.4, random_state=4)
    summary = _summary(d)
    summary.loc[5, "T"] = NAN
    with pytest.raises(Exception, match="customer c5"):
        lifetime_value(summary)


def test_pareto_dropout_identified_by_the_share_lost_in_a_year():
    # CDNOW's published fit: 1 - (11.669 / 63.669) ** 0.606 = 64% gone within 52 weeks
    assert dropout_identified(
        ParetoNBD.from_params({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
    )
    # Online Retail's: 1 - (10965 / 11017) ** 0.0006 = 0.0003%: nobody drops out
    online_retail = {"r": 0.83, "alpha": 10.0, "s": 0.0006, "beta": 10965.0}
    assert not dropout_identified(ParetoNBD.from_params(online_retail))


def test_alive_model_takes_a_comparable_candidate_that_identifies_dropout():
    d = simulate_bg_nbd(1500, 39.0, r=0.25, alpha=4.0, a=0.8, b=2.4, random_state=2)
    summary = _summary(d)
    # Pareto/NBD chosen, say, but BG/NBD and MBG/NBD within 2 points: BG/NBD, the closer
    holdout = {
        "model": "Pareto/NBD",
        "error_pct_by_model": {"BG/NBD": 1.5, "MBG/NBD": -2.5, "Pareto/NBD": 1.0},
    }
    model, name, why = alive_model(summary, holdout)
    assert (name, type(model).__name__) == ("BG/NBD", "BetaGeoNBD")
    assert why == "Pareto/NBD estimates almost no dropout"
    # none within the tolerance: no model, and the reason names every candidate
    holdout["error_pct_by_model"] = {"BG/NBD": 9.0, "MBG/NBD": NAN, "Pareto/NBD": 1.0}
    assert alive_model(summary, holdout) == (
        None,
        None,
        "Pareto/NBD estimates almost no dropout; BG/NBD, MBG/NBD cannot be fitted or predict "
        "held-out purchases worse",
    )
