"""Predict: lifetime value, churn, propensity and next purchase for a stored run."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from segmint.errors import DataValidationError, ModelError
from segmint.features import rfm_summary
from segmint.features.training import default_churn_horizon, training_frames
from segmint.pipeline._features import N_TOP_CATEGORIES
from segmint.pipeline._progress import Progress, no_progress
from segmint.predict import (
    BetaGeoNBD,
    ChurnModel,
    GammaGamma,
    NextPurchaseModel,
    ParetoNBD,
    PropensityModel,
    ScoreCalibrator,
    clv,
)
from segmint.predict.evaluation import (
    calibration_bins,
    classification_report,
    lift_table,
    mean_absolute_error,
)
from segmint.store.runs import get_run, save_model, save_predictions
from segmint.store.workspace import Workspace

#: lifetime value horizon and discounting: 12 months at 1% a month
CLV_MONTHS = 12
MONTHLY_DISCOUNT = 0.01
WEEKS_PER_MONTH = 52.1775 / 12
#: a customer is "high value" in the top fifth of CLV and "at risk" above this churn risk
HIGH_VALUE_QUANTILE = 0.8
AT_RISK = 0.5


def _fit_btyd(summary: pd.DataFrame) -> tuple[object, str]:
    """BG/NBD, or Pareto/NBD where BG/NBD's dropout cannot be identified (short histories).

    BG/NBD can also converge to enormous a and b (a dropout rate it cannot pin down) where its
    hypergeometric predictions overflow; that too falls back to Pareto/NBD, with a warning.
    """
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    try:
        model = BetaGeoNBD().fit(f, r, t)
    except ModelError:
        return ParetoNBD().fit(f, r, t), "Pareto/NBD"
    with np.errstate(all="ignore"):
        usable = np.isfinite(model.expected_purchases(52.0, f, r, t)).all()
    if usable:
        return model, "BG/NBD"
    warnings.warn(
        f"BG/NBD dropout parameters are not identified by this data (a = {model.params_['a']:.3g}, "
        f"b = {model.params_['b']:.3g}) and its predictions overflow; using Pareto/NBD",
        RuntimeWarning,
        stacklevel=2,
    )
    return ParetoNBD().fit(f, r, t), "Pareto/NBD"


def _btyd_scores(con: duckdb.DuckDBPyConnection, as_of: datetime) -> tuple[pd.DataFrame, dict]:
    calibration_end = as_of - timedelta(days=1)
    summary = rfm_summary(con, calibration_end=calibration_end).to_pandas()
    model, name = _fit_btyd(summary)
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    spend = GammaGamma().fit(repeat["frequency"], repeat["monetary_value"])
    f, r, t, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    value = clv(
        model,
        spend,
        f,
        r,
        t,
        np.where(f > 0, m, 0.0),
        horizon=CLV_MONTHS,
        time_unit_per_period=WEEKS_PER_MONTH,
        discount_rate=MONTHLY_DISCOUNT,
        interval=0.9,
    )
    scores = pd.DataFrame(
        {
            "clv": value.clv,
            "clv_lower": value.lower,
            "clv_upper": value.upper,
            "p_alive": model.p_alive(f, r, t),
            "expected_purchases": model.expected_purchases(CLV_MONTHS * WEEKS_PER_MONTH, f, r, t),
        },
        index=summary["customer_id"],
    )
    info = {
        "purchase_model": name,
        "purchase_params": model.params_,
        "purchase_standard_errors": model.standard_errors_,
        "purchase_log_likelihood": model.log_likelihood_,
        "spend_params": spend.params_,
        "clv_months": CLV_MONTHS,
        "monthly_discount": MONTHLY_DISCOUNT,
        "customers": int(len(summary)),
    }
    return scores, info


def _btyd_holdout(con: duckdb.DuckDBPyConnection, as_of: datetime, holdout_days: int) -> dict:
    """Fit on the data before ``as_of - holdout_days``; compare repeat purchases after it."""
    calibration_end = as_of - timedelta(days=holdout_days + 1)
    summary = rfm_summary(
        con, calibration_end=calibration_end, holdout_end=as_of - timedelta(days=1)
    ).to_pandas()
    model, name = _fit_btyd(summary)
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    predicted = model.expected_purchases(summary["duration_holdout"].to_numpy(), f, r, t)
    actual = summary["frequency_holdout"].to_numpy()
    bucket = np.minimum(f.to_numpy(), 7)
    table = (
        pd.DataFrame({"frequency": bucket, "actual": actual, "predicted": predicted})
        .groupby("frequency")
        .agg(
            customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
        )
        .reset_index()
    )
    return {
        "model": name,
        "calibration_end": calibration_end.date().isoformat(),
        "holdout_days": holdout_days,
        "customers": int(len(summary)),
        "actual_repeat_purchases": float(actual.sum()),
        "predicted_repeat_purchases": float(predicted.sum()),
        "error_pct": float(100 * (predicted.sum() - actual.sum()) / max(actual.sum(), 1)),
        "conditional_expectations": table.to_dict(orient="records"),
    }


#: training cut-offs are a month apart (their label windows may overlap; that is fine for
#: training) and each needs this much history before it
CUTOFF_STEP_DAYS = 30
MIN_HISTORY_DAYS = 60
MAX_TRAINING_CUTOFFS = 6


def _training_cutoffs(as_of: datetime, horizon: int, first_ts: datetime) -> tuple[list, datetime]:
    """Cut-offs to train on and the held-out test cut-off, all with fully observed labels.

    The test cut-off is ``as_of - horizon`` (its labels end at ``as_of``); training cut-offs end
    one horizon before it, so no training label looks into the test period.
    """
    test_cut = as_of - timedelta(days=horizon)
    last_train = test_cut - timedelta(days=horizon)
    earliest = first_ts + timedelta(days=MIN_HISTORY_DAYS)
    cuts = [last_train - timedelta(days=CUTOFF_STEP_DAYS * k) for k in range(MAX_TRAINING_CUTOFFS)]
    cuts = sorted(c for c in cuts if c >= earliest)
    if len(cuts) < 2:
        raise DataValidationError(
            f"the data ({first_ts:%Y-%m-%d} to {as_of:%Y-%m-%d}) is too short to train and test "
            f"a {horizon}-day churn model on held-out time; pass a shorter --horizon-days"
        )
    return cuts, test_cut


def _xy(frame: pd.DataFrame, labels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    drop = ["cutoff", "customer_id", *labels]
    extra = [c for c in ("purchase", "days_to_next", "next_observed", "churn") if c in frame]
    return frame.drop(columns=[*drop, *[c for c in extra if c not in drop]]), frame[labels]


def _dropout_score(con, cutoff: datetime, customer_ids: pd.Series) -> np.ndarray:
    """1 - P(alive) as of ``cutoff`` from a BTYD model fitted on the data before it."""
    summary = rfm_summary(con, calibration_end=cutoff - timedelta(days=1)).to_pandas()
    model, _ = _fit_btyd(summary)
    alive = model.p_alive(summary["frequency"], summary["recency"], summary["T"])
    score = pd.Series(1.0 - alive, index=summary["customer_id"])
    return score.reindex(customer_ids.to_numpy()).to_numpy()


def _churn(con, frames: pd.DataFrame, as_of, horizon, train_cuts, test_cut, seed: int):
    """Churn model trained on earlier cut-offs, evaluated on the latest labelled one."""
    cut = frames["cutoff"]
    X, y = _xy(frames, ["purchase"])
    y = 1 - y["purchase"].to_numpy()  # churn: no purchase within the horizon
    train, test, now = (
        cut.isin(train_cuts).to_numpy(),
        (cut == test_cut).to_numpy(),
        (cut == as_of).to_numpy(),
    )
    held_out = ChurnModel(random_state=seed).fit(X[train], y[train], groups=cut[train])
    p_model = held_out.predict_proba(X[test])[:, 1]
    recency = X["recency_days"].to_numpy()
    calibration_rows = (cut == train_cuts[-1]).to_numpy()
    recency_cal = ScoreCalibrator().fit(recency[calibration_rows], y[calibration_rows])
    dropout = {
        cut_: _dropout_score(con, cut_, frames.loc[(cut == cut_).to_numpy(), "customer_id"])
        for cut_ in (train_cuts[-1], test_cut)
    }
    dropout_cal = ScoreCalibrator().fit(dropout[train_cuts[-1]], y[calibration_rows])
    evaluation = classification_report(
        y[test],
        {
            "churn model": p_model,
            "recency (calibrated)": recency_cal.predict_proba(recency[test]),
            "1 - P(alive) (calibrated)": dropout_cal.predict_proba(dropout[test_cut]),
        },
    )
    evaluation.update(
        horizon_days=horizon,
        test_cutoff=test_cut.date().isoformat(),
        train_cutoffs=[c.date().isoformat() for c in train_cuts],
        calibration=calibration_bins(y[test], p_model),
        lift=lift_table(y[test], p_model),
    )
    final = ChurnModel(random_state=seed).fit(
        X[train | test], y[train | test], groups=cut[train | test]
    )
    X_now = X[now].set_index(frames.loc[now, "customer_id"])
    risk = final.predict_proba(X_now)[:, 1]
    reasons = final.reasons(X_now, top=3)
    parts = reasons.fillna("").astype(str)
    reason_text = parts.iloc[:, 0]
    for column in parts.columns[1:]:
        reason_text = reason_text.str.cat(parts[column], sep="; ")
    reason_text = reason_text.str.replace(r"(; )+$", "", regex=True)
    scores = pd.DataFrame(
        {"churn_risk": risk, "churn_reasons": reason_text.to_numpy()}, index=X_now.index
    )
    return scores, evaluation


def _propensity(frames: pd.DataFrame, as_of: datetime, seed: int) -> pd.DataFrame:
    """Probability of buying in each top category within the horizon; the likeliest one."""
    labels = [c for c in frames.columns if c.startswith("buy_")]
    cut = frames["cutoff"]
    X, Y = _xy(frames, labels)
    known, now = (cut != as_of).to_numpy(), (cut == as_of).to_numpy()
    model = PropensityModel(random_state=seed).fit(X[known], Y[known], groups=cut[known])
    proba = model.predict_proba(X[now].set_index(frames.loc[now, "customer_id"]))
    best = proba.idxmax(axis=1)
    return pd.DataFrame(
        {
            "top_category": best.str.removeprefix("buy_").to_numpy(),
            "top_category_propensity": proba.max(axis=1).to_numpy(),
        },
        index=proba.index,
    )


def _next_purchase(frames: pd.DataFrame, as_of, horizon: int, test_cut, seed: int):
    """Days to the next purchase (capped at the horizon), checked on the test cut-off."""
    cut = frames["cutoff"]
    X, y = _xy(frames, ["days_to_next"])
    known, now = (cut != as_of).to_numpy(), (cut == as_of).to_numpy()
    test = (cut == test_cut).to_numpy()
    train = known & ~test
    held_out = NextPurchaseModel(horizon_days=horizon, random_state=seed).fit(
        X[train], y["days_to_next"][train]
    )
    mae = mean_absolute_error(y["days_to_next"][test], held_out.predict(X[test]))
    baseline = mean_absolute_error(
        y["days_to_next"][test],
        np.full(int(test.sum()), float(np.median(y["days_to_next"][train]))),
    )
    final = NextPurchaseModel(horizon_days=horizon, random_state=seed).fit(
        X[known], y["days_to_next"][known]
    )
    dates = final.predict_date(X[now], as_of)
    scores = pd.DataFrame(
        {"next_purchase": pd.to_datetime(dates).date}, index=frames.loc[now, "customer_id"]
    )
    return scores, {
        "mae_days": mae,
        "median_baseline_mae_days": baseline,
        "test_cutoff": test_cut.date().isoformat(),
        "horizon_days": horizon,
    }


def predict(
    workspace: Workspace,
    *,
    run_id: int | None = None,
    horizon_days: int | None = None,
    random_state: int = 0,
    progress: Progress = no_progress,
) -> dict:
    """Score every customer of a run: CLV, P(alive), churn risk with reasons, next purchase,
    category propensity; evaluate each model on held-out time; store scores and evaluation.

    Returns the evaluation dict (also stored with the run and shown in its report).
    """
    steps = 5
    # scikit-learn's boosted trees use OpenMP; on a busy 2-core machine its threads fight and
    # a fit slows 5x (221 s vs 43 s measured for 2,000 customers), so the models run on one
    with workspace.connect() as con, threadpool_limits(1, user_api="openmp"):
        run = get_run(con, run_id)
        run_id = run["run_id"]
        as_of = datetime.fromisoformat(run["as_of"])
        (first_ts,) = con.execute("SELECT min(ts) FROM transactions").fetchall()[0]
        horizon = int(horizon_days or default_churn_horizon(con))
        progress("lifetime value", 0, steps)
        btyd, btyd_info = _btyd_scores(con, as_of)
        btyd_info["holdout"] = _btyd_holdout(con, as_of, horizon)
        progress("training data", 1, steps)
        train_cuts, test_cut = _training_cutoffs(as_of, horizon, first_ts)
        cutoffs = [*train_cuts, test_cut, as_of]
        purchases, categories = (
            training_frames(
                con,
                cutoffs=cutoffs,
                horizon_days=horizon,
                label=label,
                feature_top_categories=N_TOP_CATEGORIES,
            ).to_pandas()
            for label in ("purchase", "category")
        )
        progress("churn", 2, steps)
        churn, churn_eval = _churn(
            con, purchases, as_of, horizon, train_cuts, test_cut, random_state
        )
        propensity = _propensity(categories, as_of, random_state)
        progress("next purchase", 3, steps)
        nxt, next_eval = _next_purchase(purchases, as_of, horizon, test_cut, random_state)
        progress("store", 4, steps)
        customers = con.execute(
            "SELECT customer_id FROM assignments WHERE run_id = ?", [run_id]
        ).df()["customer_id"]
        scores = pd.concat([btyd, churn, propensity, nxt], axis=1).reindex(customers)
        scores["high_value"] = scores["clv"] >= scores["clv"].quantile(HIGH_VALUE_QUANTILE)
        scores["at_risk"] = scores["churn_risk"] >= AT_RISK
        evaluation = {
            "as_of": as_of.isoformat(),
            "lifetime_value": btyd_info,
            "churn": churn_eval,
            "next_purchase": next_eval,
            "high_value_at_risk": int((scores["high_value"] & scores["at_risk"]).sum()),
        }
        con.execute("BEGIN TRANSACTION")
        try:
            save_predictions(con, run_id, scores.rename_axis("customer_id").reset_index())
            save_model(con, run_id, "predictions", evaluation)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        progress("store", 5, steps)
    return evaluation
