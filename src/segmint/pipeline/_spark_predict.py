"""``predict`` for a run computed on Spark: models fitted on a sample, every customer scored
where the data lives.

The files the run read are read again as it read them, and refused if they changed since.
The purchase model is fitted on the driver on Spark's compressed RFM summary of every customer
(one row per distinct frequency, recency and age, weighted). The other models (spend,
churn, propensity, next purchase) and every held-out check are fitted on the run's hash
sample of customers, whose lines are fetched into an in-memory DuckDB, with the category
columns chosen on every customer. Every customer is then scored in Spark by the one scoring
kernel (:class:`~segmint.predict.predictor.Predictor`, in a pandas UDF), with the spend
model's percentiles and the high-value CLV taken from the sample. Scores are written as
Parquet next to the run's assignments and copied into the workspace, as a DuckDB run's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pandas as pd
import pyarrow.dataset as ds
from threadpoolctl import threadpool_limits

from segmint.engine import spark_session
from segmint.errors import DataValidationError
from segmint.features import feature_query, rfm_summary, rfm_summary_query, top_categories
from segmint.pipeline._features import N_TOP_CATEGORIES
from segmint.pipeline._predict import fit_predictor, prediction_schedule
from segmint.pipeline._progress import Progress, no_progress
from segmint.pipeline._scale_out import (
    check_lines,
    derived_categories_view,
    read_source,
    sample_condition,
    sample_lines,
)
from segmint.predict.btyd import fit_purchase_model
from segmint.predict.flags import customer_flags, high_value_threshold
from segmint.predict.predictor import Predictor
from segmint.store.runs import save_model, save_predictions
from segmint.store.workspace import Workspace

#: the predictions' columns and Spark types (as the workspace's ``predictions`` table)
_PREDICTION_SCHEMA = (
    "customer_id string, clv double, clv_lower double, clv_upper double, p_alive double, "
    "expected_purchases double, churn_risk double, churn_reasons string, next_purchase date, "
    "top_category string, top_category_propensity double, high_value boolean, "
    "at_risk boolean, clv_btyd double"
)
#: the RFM summary's columns, renamed apart from the features' (both have a ``frequency``)
_SUMMARY = ("frequency", "recency", "T", "monetary_value")
_PREFIX = "_rfm_"


def predict_on_spark(
    workspace: Workspace,
    run: dict,
    *,
    master: str | None = None,
    horizon_days: int | None = None,
    random_state: int = 0,
    progress: Progress = no_progress,
) -> dict:
    """:func:`segmint.pipeline.predict` for a run made with ``--engine spark``.

    Returns the evaluation (held out on the sample; ``fit_sample`` says how many customers).
    """
    params, run_id = run["params"], run["run_id"]
    as_of = datetime.fromisoformat(run["as_of"])
    steps = 8
    session = spark_session(master or params["spark_master"])
    engine = read_source(session, params["source"])
    session.catalog.cacheTable("transactions")
    try:
        progress("lifetime value", 0, steps)
        _, fingerprint = check_lines(session, as_of)
        if fingerprint != run["data_fingerprint"]:
            raise DataValidationError(
                f"the transactions of run {run_id} ({params['source']['transactions']}) "
                "changed since it was made; its segments describe the lines as they were: "
                "segment them again with segmint run --engine spark, then predict"
            )
        categories = derived_categories_view(engine, session, as_of)
        map_table = None if categories is None else "product_categories"
        share = top_categories(
            engine, as_of=as_of, n_top_categories=N_TOP_CATEGORIES, category_map_table=map_table
        )
        (first_ts,) = session.sql("SELECT min(ts) FROM transactions").first()
        n_customers, fit_sample = run["metrics"]["n_customers"], run["metrics"]["fit_sample"]
        sampled = sample_condition(min(1.0, fit_sample / n_customers))
        with (
            sample_lines(session, sampled, categories) as con,
            threadpool_limits(1, user_api="openmp"),  # see segmint.pipeline.predict
        ):
            schedule, derived = prediction_schedule(con, as_of, first_ts, horizon_days)
            predictor, evaluation, features, summary = fit_predictor(
                con,
                schedule,
                random_state=random_state,
                progress=progress,
                steps=steps,
                share_categories=share,
                category_map_table=map_table,
            )
            progress("lifetime value", 6, steps)
            _purchase_model_of_everyone(engine, predictor, evaluation)
            predictor.cohort = predictor.spend_cohort(features, summary)
            threshold = high_value_threshold(predictor.score(features, summary)["clv"])
        progress("score", 7, steps)
        out = params["output"]
        _scores(engine, predictor, threshold, share, map_table).write.mode("overwrite").parquet(
            f"{out}/predictions"
        )
    finally:
        session.catalog.uncacheTable("transactions")
    evaluation["validation"] |= {
        "derived_horizon_days": derived,
        "fit_sample": len(features),
        "n_customers": n_customers,
    }
    evaluation["high_value_clv"] = threshold
    with workspace.transaction() as con:
        scores = ds.dataset(f"{out}/predictions", format="parquet")
        save_predictions(con, run_id, scores)
        (evaluation["high_value_at_risk"],) = con.execute(
            "SELECT count(*) FILTER (high_value AND at_risk) FROM predictions WHERE run_id = ?",
            [run_id],
        ).fetchone()
        save_model(con, run_id, "predictions", evaluation)
    progress("store", steps, steps)
    return evaluation


def _purchase_model_of_everyone(engine, predictor: Predictor, evaluation: dict) -> None:
    """Refit the purchase model on the compressed summary of every customer (few rows)."""
    info = evaluation["lifetime_value"]
    packed = rfm_summary(
        engine, calibration_end=predictor.as_of - timedelta(days=1), compress=True
    ).to_pandas()
    model, name = fit_purchase_model(packed, info["purchase_model"], weights=packed["weight"])
    predictor.purchase_model = model
    info |= {
        "purchase_model": name,
        "purchase_params": model.params_,
        "purchase_standard_errors": model.standard_errors_,
        "purchase_log_likelihood": model.log_likelihood_,
        "customers": int(packed["weight"].sum()),
        "summary_rows": len(packed),
    }


def _scores(engine, predictor: Predictor, threshold: float, share: list[str], map_table):
    """Every customer's scores, by the predictor's kernel in a pandas UDF (Spark)."""
    features = engine.dataframe(
        feature_query(
            engine,
            as_of=predictor.as_of,
            n_top_categories=N_TOP_CATEGORIES,
            category_map_table=map_table,
            share_categories=share,
        )
    )
    summary = engine.dataframe(
        rfm_summary_query(engine, calibration_end=predictor.as_of - timedelta(days=1))
    )
    summary = summary.select("customer_id", *(summary[c].alias(_PREFIX + c) for c in _SUMMARY))
    columns = [c.split()[0] for c in _PREDICTION_SCHEMA.split(", ")]
    texts = [c.split()[0] for c in _PREDICTION_SCHEMA.split(", ") if c.endswith(" string")]

    def score_batches(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            rows = frame.dropna(subset=[_PREFIX + "frequency"])
            own = rows[["customer_id", *(_PREFIX + c for c in _SUMMARY)]]
            own = own.rename(columns=lambda c: c.removeprefix(_PREFIX))
            own = own.astype({"frequency": "int64"})
            scores = predictor.score(frame.set_index("customer_id"), own)
            scores["high_value"], scores["at_risk"] = customer_flags(
                scores["clv"], scores["churn_risk"], threshold
            )
            out = scores.rename_axis("customer_id").reset_index().reindex(columns=columns)
            # a column the models did not give (no propensity model without categories) is
            # all NaN: text columns must be None there for Arrow to make strings of them
            for column in texts:
                out[column] = out[column].astype(object).where(out[column].notna(), None)
            yield out

    joined = features.join(summary, "customer_id", "left")
    return joined.mapInPandas(score_batches, _PREDICTION_SCHEMA)
