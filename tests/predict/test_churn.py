"""ChurnModel, the baselines and the evaluation helpers; the real-data comparison is slow."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmint.errors import DataValidationError, ModelError
from segmint.predict import ChurnModel, ScoreCalibrator, btyd_baseline, recency_baseline
from segmint.predict.churn import split_frame
from segmint.predict.evaluation import (
    brier_score,
    calibration_bins,
    classification_report,
    cumulative_repeat_tracking,
    lift_table,
    roc_auc,
)

# ---- evaluation helpers, by hand -------------------------------------------------------------


def test_roc_auc_by_hand():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5  # ties count half
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_roc_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500) + 0.3 * y, 1)  # many ties
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_brier_and_calibration_bins():
    assert brier_score([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)
    bins = calibration_bins([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    assert bins["count"] == [2, 2]
    assert bins["mean_predicted"] == pytest.approx([0.15, 0.8])
    assert bins["observed_rate"] == [0.0, 1.0]
    assert bins["expected_calibration_error"] == pytest.approx((0.15 + 0.2) / 2)
    with pytest.raises(DataValidationError, match="y_prob must be probabilities"):
        brier_score([0, 1], [0.2, 1.5])
    with pytest.raises(DataValidationError, match="y_true must hold only 0 and 1"):
        brier_score([0, 2], [0.2, 0.5])


def test_lift_table():
    t = lift_table([1, 1, 0, 0, 1, 0, 0, 0, 0, 0], np.arange(10)[::-1], n_bins=5)
    assert t["positives"] == [2, 0, 1, 0, 0]
    assert t["base_rate"] == 0.3
    assert t["lift"][0] == pytest.approx(1.0 / 0.3)
    assert t["cumulative_gain"] == pytest.approx([2 / 3, 2 / 3, 1, 1, 1])


def test_classification_report_keys():
    rep = classification_report([0, 1, 1], {"m": [0.2, 0.7, 0.9]})
    assert rep["n"] == 3 and set(rep["models"]["m"]) == {"roc_auc", "brier", "ece"}


def test_cumulative_repeat_tracking_constant_rate():
    class Poisson:  # expected repeat purchases = t
        def expected_purchases_unconditional(self, t):
            return np.asarray(t, dtype=float)

    out = cumulative_repeat_tracking(Poisson(), [0.0, 1.0], [0.5, 1.5, 1.8], [1.0, 2.0])
    assert out["actual"] == [1.0, 3.0]
    assert out["predicted"] == [1.0, 3.0]  # (1) and (2 + 1)
    assert out["max_abs_pct_error"] == 0.0


# ---- the model on synthetic data ----------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_frames():
    from segmint.datasets import generate
    from segmint.features import training_frames

    data = generate(1500, seed=3)
    con = duckdb.connect()
    con.register("tx", data.transactions)
    con.execute("CREATE TABLE transactions AS SELECT * FROM tx")
    cutoffs = [
        datetime(2024, 3, 1),
        datetime(2024, 5, 1),
        datetime(2024, 7, 1),
        datetime(2024, 10, 1),
    ]
    frames = training_frames(con, cutoffs=cutoffs, horizon_days=90, label="churn").to_pandas()
    con.close()
    return frames, cutoffs


def test_churn_model_fits_predicts_and_explains(synthetic_frames):
    frames, cutoffs = synthetic_frames
    train = frames[frames.cutoff < cutoffs[-1]]
    test = frames[frames.cutoff == cutoffs[-1]]
    X, y, groups, _ = split_frame(train, "churn")
    Xt, yt, _, _ = split_frame(test, "churn")
    m = ChurnModel(random_state=0).fit(X, y, groups=groups)
    assert m.split_.startswith("time")
    p = m.predict_proba(Xt)
    assert p.shape == (len(Xt), 2) and np.allclose(p.sum(axis=1), 1.0)
    assert roc_auc(yt, p[:, 1]) > max(0.6, roc_auc(yt, recency_baseline(test.recency_days)))
    # reproducible
    p2 = ChurnModel(random_state=0).fit(X, y, groups=groups).predict_proba(Xt)
    np.testing.assert_array_equal(p, p2)

    contrib = m.contributions(Xt.head(50))
    assert list(contrib.columns) == list(X.columns)
    reasons = m.reasons(Xt.head(50), top=3)
    assert list(reasons.columns) == ["reason_1", "reason_2", "reason_3"]
    assert reasons.index.equals(Xt.head(50).index)
    # the strongest reason is the feature with the largest positive contribution
    first = contrib.to_numpy().argmax(axis=1)
    has = contrib.to_numpy().max(axis=1) > 0
    assert reasons["reason_1"].notna().to_numpy().tolist() == has.tolist()
    gone = Xt.recency_days.to_numpy()[:50] > 2 * m.medians_[list(X.columns).index("recency_days")]
    texts = reasons["reason_1"][has & gone & (np.asarray(X.columns)[first] == "recency_days")]
    assert all(t.startswith("no order for ") and "(typical " in t for t in texts)


def test_reason_text_for_one_customer():
    X = pd.DataFrame(
        {
            "recency_days": [10.0, 20.0, 30.0, 210.0] * 100,
            "interpurchase_mean_days": [np.nan, 40.0, 45.0, 50.0] * 100,
        }
    )
    y = np.array([0, 0, 0, 1] * 100)
    m = ChurnModel(random_state=0, min_samples_leaf=5).fit(X, y, groups=np.repeat([1, 2], 200))
    r = m.reasons(X.iloc[[3]], top=1)
    assert r.iloc[0, 0] == "no order for 210 days (typical 25)"


def test_missing_feature_and_non_numeric_columns(synthetic_frames):
    frames, _ = synthetic_frames
    X, y, groups, _ = split_frame(frames, "churn")
    m = ChurnModel(max_iter=5, random_state=0).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="recency_days"):
        m.predict_proba(X.drop(columns=["recency_days"]))
    with pytest.raises(DataValidationError, match="customer_id"):
        ChurnModel().fit(frames.drop(columns=["churn"]), y)


def test_one_class_period_is_a_model_error():
    X = pd.DataFrame({"recency_days": np.arange(100.0)})
    y = np.r_[np.zeros(50), (np.arange(50) % 2)]
    with pytest.raises(ModelError, match="training rows hold only one class"):
        ChurnModel().fit(X, y, groups=np.repeat([1, 2], 50))


def test_single_period_falls_back_to_random_split():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"recency_days": rng.exponential(50, 800)})
    y = (rng.random(800) < X.recency_days / 200).astype(int)
    m = ChurnModel(random_state=0).fit(X, y)
    assert m.split_.startswith("random")


def test_btyd_baseline_and_calibrator():
    from segmint.predict import BetaGeoNBD
    from segmint.predict.simulate import simulate_bg_nbd

    d = simulate_bg_nbd(3000, 39.0, r=0.25, alpha=4.0, a=0.8, b=2.4, random_state=0)
    score = btyd_baseline(d["frequency"], d["recency"], d["T"])
    m = BetaGeoNBD().fit(d["frequency"], d["recency"], d["T"])
    np.testing.assert_allclose(score, 1 - m.p_alive(d["frequency"], d["recency"], d["T"]))
    cal = ScoreCalibrator().fit(score, score > 0.5)
    p = cal.predict_proba(score)
    assert ((p >= 0) & (p <= 1)).all()
    assert (np.diff(p[np.argsort(score)]) >= -1e-12).all()  # increasing


# ---- real data, held-out time --------------------------------------------------------------

HORIZON = 90
TEST_CUTOFF = datetime(2011, 9, 10)  # labels from 2011-09-10 to 2011-12-08 (data end 12-09)
CALIBRATION_CUTOFF = TEST_CUTOFF - timedelta(days=HORIZON)  # 2011-06-12, labels end 09-10
TRAIN_CUTOFFS = [CALIBRATION_CUTOFF - timedelta(days=30 * k) for k in (3, 2, 1, 0)]


def online_retail_comparison(con) -> dict:
    """Churn model vs recency and 1 - P(alive) on the test cut-off (see the module)."""
    from segmint.features import rfm_summary, training_frames

    frames = training_frames(
        con, cutoffs=[*TRAIN_CUTOFFS, TEST_CUTOFF], horizon_days=HORIZON, label="churn"
    ).to_pandas()
    train = frames[frames.cutoff < TEST_CUTOFF]
    test = frames[frames.cutoff == TEST_CUTOFF]
    X, y, groups, _ = split_frame(train, "churn")
    Xt, yt, _, _ = split_frame(test, "churn")
    model = ChurnModel(random_state=0).fit(X, y, groups=groups)

    cal = (train.cutoff == CALIBRATION_CUTOFF).to_numpy()

    def one_minus_p_alive(cutoff, ids):
        # BTYD summary of the same history: days up to the day before the cut-off
        s = rfm_summary(con, calibration_end=cutoff - timedelta(days=1)).to_pandas()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BG/NBD -> Pareto/NBD fallback, Hessian notes
            score = btyd_baseline(
                s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy()
            )
        # a customer who returned all they bought has no transaction left: gone (as predict)
        return pd.Series(score, index=s["customer_id"]).reindex(ids).fillna(1.0).to_numpy()

    alive_cal = one_minus_p_alive(CALIBRATION_CUTOFF, train.customer_id[cal])
    alive_test = one_minus_p_alive(TEST_CUTOFF, test.customer_id)
    rec = ScoreCalibrator().fit(recency_baseline(train.recency_days[cal]), y[cal])
    alive = ScoreCalibrator().fit(alive_cal, y[cal])
    return classification_report(
        yt,
        {
            "churn model (calibrated trees)": model.predict_proba(Xt)[:, 1],
            "recency (isotonic-calibrated)": rec.predict_proba(recency_baseline(test.recency_days)),
            "1 - P(alive) (isotonic-calibrated)": alive.predict_proba(alive_test),
            "1 - P(alive) (raw)": alive_test,
        },
    )


@pytest.mark.slow
def test_online_retail_churn_beats_baselines(online_retail_csv, tmp_path):
    from segmint.pipeline import ingest
    from segmint.store.workspace import Workspace

    ws = Workspace(tmp_path / "retail")
    ingest(ws, online_retail_csv, preset="online-retail")
    with ws.connect(read_only=True) as con:
        rep = online_retail_comparison(con)
    models = rep["models"]
    ours = models["churn model (calibrated trees)"]
    for name, other in models.items():
        if name.startswith("churn model"):
            continue
        assert ours["roc_auc"] > other["roc_auc"] + 0.02, (name, ours, other)
        assert ours["brier"] < other["brier"], (name, ours, other)
