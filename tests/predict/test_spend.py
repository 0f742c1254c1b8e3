"""The spend model, its held-out ranking check and the product's CLV, on simulated frames."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from segmint.predict.evaluation import rank_correlation
from segmint.predict.holdout import evaluate_spend
from segmint.predict.schedule import training_cutoffs
from segmint.predict.scoring import score_spend
from segmint.predict.spend import SpendModel, combine_clv

SCHEDULE = training_cutoffs(datetime(2024, 12, 31), 30, datetime(2024, 1, 1))


def _frames(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """One row per customer and cut-off: past spend grows with history, and next spend follows
    a customer's rate (seen through past spend and orders) when they buy at all."""
    rng = np.random.default_rng(seed)
    rate = rng.lognormal(3.0, 1.0, n)
    parts = []
    for k, cut in enumerate(SCHEDULE.cutoffs):
        months = 3 + k  # later cut-offs see longer histories
        frequency = rng.poisson(rate / 20 * months) + 1
        buys = rng.random(n) < 1 / (1 + np.exp(-(np.log(rate) - 3)))
        parts.append(
            pd.DataFrame(
                {
                    "cutoff": cut,
                    "customer_id": [f"c{i}" for i in range(n)],
                    "monetary": rate * months * rng.lognormal(0, 0.5, n),
                    "frequency": frequency,
                    "recency_days": rng.exponential(60, n),
                    "btyd_clv": rate * 12 * rng.lognormal(0, 0.7, n),
                    "spend": np.where(buys, rate * rng.lognormal(0, 0.3, n), 0.0),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_rank_correlation_is_spearman_with_ties():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 200), rng.integers(0, 3, 200) + rng.integers(0, 5, 200)
    assert rank_correlation(x, y) == pytest.approx(spearmanr(x, y)[0])
    assert np.isnan(rank_correlation([1, 1, 1], [1, 2, 3]))


def test_spend_model_expected_spend_adds_up_and_ranks():
    frames = _frames()
    X, y = frames[["monetary", "frequency", "recency_days", "btyd_clv"]], frames["spend"]
    model = SpendModel(random_state=0).fit(X, y, groups=frames["cutoff"])
    predicted = model.predict(X, groups=frames["cutoff"])
    # the Poisson calibration with an intercept is mean-unbiased on its training rows
    assert predicted.sum() == pytest.approx(y.clip(lower=0).sum(), rel=1e-3)
    assert rank_correlation(predicted, y) > rank_correlation(X["monetary"], y)
    assert np.isfinite(model.predict_log(X.head(5))).all()


def test_evaluate_spend_holds_out_the_test_cutoff():
    frames = _frames()
    result = evaluate_spend(frames, SCHEDULE, random_state=0)
    test = frames[frames["cutoff"] == SCHEDULE.test]
    assert result["n"] == len(test) and result["buyers"] == int((test["spend"] > 0).sum())
    assert result["test_cutoff"] == "2024-12-01"
    rho = result["spearman"]
    assert list(rho) == ["CLV (BTYD + spend model)", "BTYD CLV", "past net spend"]
    assert rho["past net spend"] == pytest.approx(rank_correlation(test["monetary"], test["spend"]))
    assert rho["CLV (BTYD + spend model)"] > max(rho["BTYD CLV"], rho["past net spend"])
    forecast = score_spend(frames, SCHEDULE, random_state=0)
    assert forecast.index.tolist() == [f"c{i}" for i in range(600)]
    assert (forecast >= 0).all()


def test_combine_clv_by_hand():
    btyd = pd.Series([50.0, 70.0], index=["a", "b"])
    forecast = pd.Series([100.0], index=["b"])  # "a" has no forecast: 0
    # a 30.4375-day horizon is a month: 100 a month for 12 months at 1% = 100 * 11.2551
    better = {"CLV (BTYD + spend model)": 0.6, "BTYD CLV": 0.5}
    clv, source = combine_clv(forecast, btyd, better, 30.4375)
    assert source == "BTYD + spend model"
    assert clv.tolist() == pytest.approx([0.0, 1125.51], abs=0.01)
    worse = {"CLV (BTYD + spend model)": 0.4, "BTYD CLV": 0.5}
    assert combine_clv(forecast, btyd, worse, 30.4375)[1] == "BTYD"
    assert (
        combine_clv(forecast, btyd, {**better, "CLV (BTYD + spend model)": np.nan}, 30)[1] == "BTYD"
    )


def test_past_spend_reorders_the_models_forecasts_within_each_cohort():
    frames = _frames()
    X, y = frames[["monetary", "frequency", "recency_days", "btyd_clv"]], frames["spend"]
    cut = frames["cutoff"]
    plain = SpendModel(random_state=0).fit(X, y, groups=cut)
    leaning = SpendModel(past_spend="monetary", random_state=0).fit(X, y, groups=cut)
    for day in SCHEDULE.cutoffs[:2]:
        rows = (cut == day).to_numpy()
        model, mixed = plain.predict_log(X[rows]), leaning.predict_log(X[rows])
        # the same forecasts, dealt out in another order (customers tied on the mean rank
        # share the forecasts at their ranks) ...
        assert mixed.sum() == pytest.approx(model.sum(), rel=1e-4)
        assert np.abs(np.sort(mixed) - np.sort(model)).max() < 0.1 * model.std()
        assert not np.allclose(mixed, model)
        # ... that follows past spend more closely than the model's own
        past = X.loc[rows, "monetary"]
        assert rank_correlation(mixed, past) > rank_correlation(model, past)
        # against a reference cohort (a batch scored among everyone), as among the rows
        reference = X[rows].to_numpy(np.float64)
        np.testing.assert_allclose(leaning.predict_log(X[rows], reference=reference), mixed)
        one = leaning.predict_log(X[rows].head(1), reference=reference)
        assert one[0] == pytest.approx(mixed[0])
        # prepared once, for the many batches of a Spark scoring
        prepared = leaning.cohort(reference)
        batch = leaning.predict_log(X[rows].tail(7), reference=prepared)
        np.testing.assert_allclose(batch, mixed[-7:])
    # the Poisson calibration still adds up on the training rows
    predicted = leaning.predict(X, groups=cut)
    assert predicted.sum() == pytest.approx(y.clip(lower=0).sum(), rel=1e-3)


def test_past_spend_must_be_a_feature():
    frames = _frames(n=200)
    X = frames[["frequency", "recency_days"]]
    with pytest.raises(ValueError, match="past_spend='monetary' is not among the features"):
        SpendModel(past_spend="monetary").fit(X, frames["spend"])
