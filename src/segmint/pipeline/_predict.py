"""Predict: lifetime value, churn, propensity and next purchase for a stored run.

Wiring only: the data comes from the workspace (RFM summaries, training frames), the
decisions and the evaluations from :mod:`segmint.predict` (``btyd``, ``schedule``,
``holdout``, ``scoring``), and the scores and evaluation go back into the workspace.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from segmint.errors import DataValidationError, SegmintError
from segmint.features import rfm_summary
from segmint.features.identity import purchases_by_person
from segmint.features.training import default_churn_horizon, training_frames
from segmint.pipeline._features import N_TOP_CATEGORIES
from segmint.pipeline._progress import Progress, no_progress
from segmint.predict.btyd import (
    alive_model,
    dropout_score,
    fit_lifetime_value,
    holdout_repeat_purchases,
    lifetime_value,
    lifetime_value_scores,
)
from segmint.predict.flags import customer_flags
from segmint.predict.holdout import (
    evaluate_churn,
    evaluate_next_purchase,
    evaluate_propensity,
    evaluate_spend,
)
from segmint.predict.predictor import BTYD_SCORES, Predictor
from segmint.predict.schedule import CutoffSchedule, longest_horizon, training_cutoffs
from segmint.predict.scoring import (
    fit_churn,
    fit_next_purchase,
    fit_propensity,
    fit_spend,
    rows_now,
)
from segmint.predict.spend import btyd_features, clv_source
from segmint.store.runs import get_run, save_model, save_predictions
from segmint.store.workspace import Workspace


def _summary(con: duckdb.DuckDBPyConnection, end: datetime, holdout_end=None) -> pd.DataFrame:
    # rfm_summary's calibration_end is the last day included
    return rfm_summary(
        con, calibration_end=end - timedelta(days=1), holdout_end=holdout_end
    ).to_pandas()


def _btyd_holdout(con: duckdb.DuckDBPyConnection, as_of: datetime, holdout_days: int) -> dict:
    """Fit on the data before ``as_of - holdout_days``; compare repeat purchases after it."""
    calibration_end = as_of - timedelta(days=holdout_days)
    summary = _summary(con, calibration_end, holdout_end=as_of - timedelta(days=1))
    return {
        **holdout_repeat_purchases(summary),
        "calibration_end": (calibration_end - timedelta(days=1)).date().isoformat(),
        "holdout_days": holdout_days,
    }


def _dropout(con, frames: pd.DataFrame, schedule: CutoffSchedule, model_name: str) -> dict:
    """1 - P(alive) as of the calibration and test cut-offs, for the churn baseline.

    A customer who returned all they bought has no transaction in the summary: 1 (gone).
    """
    return {
        cut: np.nan_to_num(
            dropout_score(
                _summary(con, cut), frames.loc[frames["cutoff"] == cut, "customer_id"], model_name
            ),
            nan=1.0,
        )
        for cut in (schedule.calibration, schedule.test)
    }


def _with_btyd(con, frames: pd.DataFrame, model_name: str, known: dict) -> pd.DataFrame:
    """The training frames with the BTYD view as of each cut-off (spend-model features).

    Each cut-off's BTYD model is fitted on the data before it (``known`` holds the summary and
    scores already fitted, by cut-off). A customer who returned all they bought has no summary
    row: 0.
    """
    parts = []
    for cut in frames["cutoff"].unique():
        cut = pd.Timestamp(cut).to_pydatetime()
        summary = known[cut][0] if cut in known else _summary(con, cut)
        scores = known[cut][1] if cut in known else lifetime_value(summary, model_name)[0]
        parts.append(btyd_features(summary, scores).assign(cutoff=cut))
    btyd = pd.concat(parts).astype({"cutoff": frames["cutoff"].dtype})
    merged = frames.merge(btyd, on=["cutoff", "customer_id"], how="left")
    columns = [c for c in btyd.columns if c not in ("cutoff", "customer_id")]
    merged[columns] = merged[columns].fillna(0.0)
    return merged


def clv_ranking(
    con: duckdb.DuckDBPyConnection, cutoff: datetime, horizon_days: int, random_state: int = 0
) -> dict:
    """How well the CLV ranks customers by their net spend in the horizon after ``cutoff``.

    Held out: the purchase model is chosen and the spend model trained on data and cut-offs
    before ``cutoff`` only (:func:`segmint.predict.holdout.evaluate_spend`). Where the history
    before ``cutoff`` is too short for that, ``skipped`` says why instead.
    """
    (first_ts,) = con.execute("SELECT min(ts) FROM transactions").fetchall()[0]
    try:
        with threadpool_limits(1, user_api="openmp"):  # see predict()
            schedule = training_cutoffs(
                cutoff + timedelta(days=horizon_days), horizon_days, first_ts
            )
            model = _btyd_holdout(con, cutoff, horizon_days)["model"]
            frames = training_frames(
                con,
                cutoffs=[*schedule.train, schedule.test],
                horizon_days=horizon_days,
                label="purchase",
                feature_top_categories=N_TOP_CATEGORIES,
            ).to_pandas()
            frames = _with_btyd(con, frames, model, {})
            return {
                "purchase_model": model,
                **evaluate_spend(frames, schedule, random_state=random_state),
            }
    except SegmintError as exc:
        return {"skipped": str(exc), "test_cutoff": cutoff.date().isoformat()}


def _alive(summary: pd.DataFrame, holdout: dict, info: dict, horizon: int):
    """The model giving P(alive) where it is not the purchase model (None: it is, or it is
    the churn model's), and which model gives it, and why."""
    if info["dropout_identified"]:
        return None, {"model": info["purchase_model"], "reason": "the purchase model"}
    model, name, why = alive_model(summary, holdout)
    if model is None:
        reason = f"{why}; it is the churn model's probability of a purchase within {horizon} days"
        return None, {"model": "churn model", "reason": reason}
    return model, {"model": name, "reason": why}


def _category_frames(frames) -> pd.DataFrame | None:
    """The category-label frames, or None where the purchases have no category (customer,
    date, amount data such as CDNOW): there is no category propensity to predict then, and the
    other models need none."""
    try:
        return frames("category")
    except DataValidationError as exc:
        if exc.column == "category":
            return None
        raise


def prediction_schedule(
    con: duckdb.DuckDBPyConnection, as_of: datetime, first_ts: datetime, horizon_days: int | None
) -> tuple[CutoffSchedule, int | None]:
    """The cut-offs the models learn from and are checked on, and the horizon derived from
    the customers' gaps (None where ``horizon_days`` is given).

    Decided before any fitting, so a horizon the data cannot test is refused at once.
    """
    derived = None if horizon_days else default_churn_horizon(con)
    # a derived horizon that the history cannot test is shortened to one it can
    horizon = int(horizon_days or min(derived, max(7, longest_horizon(as_of, first_ts))))
    return training_cutoffs(as_of, horizon, first_ts), derived


def fit_predictor(
    con: duckdb.DuckDBPyConnection,
    schedule: CutoffSchedule,
    *,
    random_state: int = 0,
    progress: Progress = no_progress,
    steps: int = 6,
    **feature_kwargs,
) -> tuple[Predictor, dict, pd.DataFrame, pd.DataFrame]:
    """Fit every model on the transactions of ``con`` and check each on held-out time.

    ``feature_kwargs`` go to :func:`segmint.features.training_frames` (e.g. the categories).

    Returns
    -------
    predictor : Predictor
    evaluation : dict
        The held-out checks (:func:`predict`'s, without the flags' count).
    features, summary : DataFrame
        The features as of ``schedule.as_of`` (indexed by customer) and the RFM summary then:
        what :meth:`Predictor.score` takes.
    """
    seed, as_of, horizon = random_state, schedule.as_of, schedule.horizon_days
    progress("lifetime value", 0, steps)
    # the purchase model is the one that predicts held-out repeat purchases best
    holdout = _btyd_holdout(con, as_of, horizon)
    summary = _summary(con, as_of)
    purchase_model, gamma_gamma, btyd_info = fit_lifetime_value(summary, holdout["model"])
    btyd_info["holdout"] = holdout
    btyd = lifetime_value_scores(purchase_model, gamma_gamma, summary)
    progress("training data", 1, steps)

    def frames(label: str) -> pd.DataFrame:
        return training_frames(
            con,
            cutoffs=schedule.cutoffs,
            horizon_days=horizon,
            label=label,
            feature_top_categories=N_TOP_CATEGORIES,
            **feature_kwargs,
        ).to_pandas()

    purchases = frames("purchase")
    progress("churn", 2, steps)
    churn_eval = evaluate_churn(
        purchases,
        schedule,
        _dropout(con, purchases, schedule, holdout["model"]),
        random_state=seed,
    )
    churn = fit_churn(purchases, schedule, random_state=seed)
    propensity_eval, propensity = None, None
    categories = _category_frames(frames)
    if categories is not None:
        propensity_eval = evaluate_propensity(categories, schedule, random_state=seed)
        propensity = fit_propensity(categories, schedule, random_state=seed)
    progress("next purchase", 3, steps)
    next_eval = evaluate_next_purchase(purchases, schedule, random_state=seed)
    next_purchase = fit_next_purchase(purchases, schedule, random_state=seed)
    progress("spend", 4, steps)
    spend_frames = _with_btyd(con, purchases, holdout["model"], {as_of: (summary, btyd)})
    ranking = evaluate_spend(spend_frames, schedule, random_state=seed)
    ranking["clv"] = clv_source(ranking["spearman"])
    alive, alive_info = _alive(summary, holdout, btyd_info, horizon)
    predictor = Predictor(
        as_of=as_of,
        horizon_days=horizon,
        purchase_model=purchase_model,
        gamma_gamma=gamma_gamma,
        churn=churn,
        propensity=propensity,
        next_purchase=next_purchase,
        spend=fit_spend(spend_frames, schedule, random_state=seed),
        spearman=ranking["spearman"],
        alive=alive,
        alive_from_churn=alive_info["model"] == "churn model",
    )
    evaluation = {
        "as_of": as_of.isoformat(),
        "lifetime_value": btyd_info,
        "churn": churn_eval,
        "propensity": propensity_eval,
        "next_purchase": next_eval,
        "clv_ranking": ranking,
        "p_alive": alive_info,
        "validation": {**schedule.to_dict(), "held_out_customers": churn_eval["n"]},
    }
    return predictor, evaluation, rows_now(purchases, schedule), summary


def flagged(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with each customer's ``high_value`` and ``at_risk``."""
    scores["high_value"], scores["at_risk"] = customer_flags(scores["clv"], scores["churn_risk"])
    return scores


def predict(
    workspace: Workspace,
    *,
    run_id: int | None = None,
    horizon_days: int | None = None,
    random_state: int = 0,
    spark_master: str | None = None,
    progress: Progress = no_progress,
) -> dict:
    """Score every customer of a run: CLV, P(alive), churn risk with reasons, next purchase,
    category propensity; evaluate each model on held-out time; store scores and evaluation.

    A run computed on Spark is predicted on Spark, from the files it read
    (``spark_master``: default the run's).

    Returns the evaluation dict (also stored with the run and shown in its report).
    """
    steps = 6
    # scikit-learn's boosted trees use OpenMP; on a busy 2-core machine its threads fight and
    # a fit slows 5x (221 s vs 43 s measured for 2,000 customers), so the models run on one
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
    run_id = run["run_id"]
    if run["params"].get("engine") == "spark":
        # its lines stay in its files (the workspace holds none, or other ones); Spark is
        # loaded only for such runs
        from segmint.pipeline._spark_predict import predict_on_spark

        return predict_on_spark(
            workspace,
            run,
            master=spark_master,
            horizon_days=horizon_days,
            random_state=random_state,
            progress=progress,
        )
    with workspace.transaction() as con, threadpool_limits(1, user_api="openmp"):
        as_of = datetime.fromisoformat(run["as_of"])
        (first_ts,) = con.execute("SELECT min(ts) FROM transactions").fetchall()[0]
        if first_ts is None:
            raise DataValidationError(
                f"run {run_id} has no transactions to predict from: lifetime value, churn and "
                "next purchase are learned from purchases over time, and this workspace holds "
                "customer attributes only; load transactions with segmint run --transactions FILE"
            )
        schedule, derived = prediction_schedule(con, as_of, first_ts, horizon_days)
        with purchases_by_person(con):  # per customer as the run segmented them
            predictor, evaluation, features, summary = fit_predictor(
                con, schedule, random_state=random_state, progress=progress, steps=steps
            )
        evaluation["validation"]["derived_horizon_days"] = derived
        progress("store", 5, steps)
        customers = con.execute(
            "SELECT customer_id FROM assignments WHERE run_id = ?", [run_id]
        ).df()["customer_id"]
        scores = predictor.score(features, summary).reindex(customers)
        # a customer without features now (known by attributes alone): no value, not alive
        filled = [*BTYD_SCORES, "clv_btyd"]
        scores[filled] = scores[filled].fillna(0.0)
        scores = flagged(scores)
        evaluation["high_value_at_risk"] = int((scores["high_value"] & scores["at_risk"]).sum())
        save_predictions(con, run_id, scores.rename_axis("customer_id").reset_index())
        save_model(con, run_id, "predictions", evaluation)
        progress("store", 6, steps)
    return evaluation
