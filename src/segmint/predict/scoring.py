"""The supervised models as used: fitted on every labelled cut-off, scoring customers now.

The held-out checks (:mod:`segmint.predict.holdout`) fit on the training cut-offs and test on
the test cut-off; once checked, each model is refitted with the test cut-off added (trees on
the training cut-offs, calibration on the test one, whose labels are the latest) and scores
the rows of ``schedule.as_of``. Frames and schedules as in :mod:`segmint.predict.holdout`;
results are frames indexed by ``customer_id``.

Each ``score_*`` is a ``fit_*`` on the labelled cut-offs and a ``*_scores`` on the rows now;
the two halves also serve apart, where the models are fitted on a sample and score every
customer elsewhere (Spark: :mod:`segmint.pipeline`).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from segmint.predict.churn import ChurnModel
from segmint.predict.holdout import frame_parts
from segmint.predict.propensity import NextPurchaseModel, PropensityModel
from segmint.predict.schedule import CutoffSchedule
from segmint.predict.spend import PAST_SPEND, SpendCohort, SpendModel

__all__ = [
    "churn_scores",
    "fit_churn",
    "fit_next_purchase",
    "fit_propensity",
    "fit_spend",
    "next_purchase_scores",
    "propensity_labels",
    "propensity_scores",
    "rows_now",
    "score_churn",
    "score_next_purchase",
    "score_propensity",
    "score_spend",
    "spend_cohort",
    "spend_scores",
]


def _split(frames: pd.DataFrame, labels: list[str], schedule: CutoffSchedule):
    X, Y, cut = frame_parts(frames, labels)
    known = cut.isin([*schedule.train, schedule.test]).to_numpy()
    now = (cut == schedule.as_of).to_numpy()
    ids = frames["customer_id"].to_numpy()[now]
    return X[known], Y[known], cut[known], X[now].set_index(pd.Index(ids, name="customer_id"))


def rows_now(frames: pd.DataFrame, schedule: CutoffSchedule) -> pd.DataFrame:
    """The features of the rows of ``schedule.as_of``, indexed by ``customer_id``."""
    return _split(frames, [], schedule)[3]


def propensity_labels(frames: pd.DataFrame) -> list[str]:
    """The category label columns (``buy_<slug>``) of a category training frame."""
    return [c for c in frames.columns if c.startswith("buy_")]


def fit_churn(frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0):
    """The churn model fitted on the labelled cut-offs of ``"purchase"`` frames."""
    X, Y, cut, _ = _split(frames, ["purchase"], schedule)
    return ChurnModel(random_state=random_state).fit(X, 1 - Y["purchase"].to_numpy(), groups=cut)


def churn_scores(model: ChurnModel, X: pd.DataFrame, *, top: int = 3) -> pd.DataFrame:
    """``churn_risk`` and ``churn_reasons`` (the top reasons joined by ``"; "``) of rows ``X``
    (indexed by customer)."""
    X = X[model.feature_names_in_]
    parts = model.reasons(X, top=top).fillna("").astype(str)
    text = parts.iloc[:, 0]
    for column in parts.columns[1:]:
        text = text.str.cat(parts[column], sep="; ")
    return pd.DataFrame(
        {
            "churn_risk": model.predict_proba(X)[:, 1],
            "churn_reasons": text.str.replace(r"(; )+$", "", regex=True).to_numpy(),
        },
        index=X.index,
    )


def score_churn(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0, top: int = 3
) -> pd.DataFrame:
    """:func:`fit_churn`, then :func:`churn_scores` of the rows now."""
    model = fit_churn(frames, schedule, random_state=random_state)
    return churn_scores(model, _split(frames, ["purchase"], schedule)[3], top=top)


def fit_propensity(frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0):
    """The category propensity model fitted on the labelled cut-offs of ``"category"``
    frames."""
    X, Y, cut, _ = _split(frames, propensity_labels(frames), schedule)
    return PropensityModel(random_state=random_state).fit(X, Y, groups=cut)


def propensity_scores(model: PropensityModel, X: pd.DataFrame) -> pd.DataFrame:
    """``top_category`` (the likeliest category to be bought within the horizon) and its
    ``top_category_propensity``."""
    proba = model.predict_proba(X[model.feature_names_in_])
    return pd.DataFrame(
        {
            "top_category": proba.idxmax(axis=1).str.removeprefix("buy_").to_numpy(),
            "top_category_propensity": proba.max(axis=1).to_numpy(),
        },
        index=proba.index,
    )


def score_propensity(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0
) -> pd.DataFrame:
    """:func:`fit_propensity`, then :func:`propensity_scores` of the rows now."""
    model = fit_propensity(frames, schedule, random_state=random_state)
    return propensity_scores(model, _split(frames, propensity_labels(frames), schedule)[3])


def fit_next_purchase(frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0):
    """The next-purchase model fitted on the labelled cut-offs of ``"purchase"`` frames."""
    X, Y, _, _ = _split(frames, ["days_to_next"], schedule)
    model = NextPurchaseModel(horizon_days=schedule.horizon_days, random_state=random_state)
    return model.fit(X, Y["days_to_next"].to_numpy())


def next_purchase_scores(
    model: NextPurchaseModel, X: pd.DataFrame, as_of: datetime
) -> pd.DataFrame:
    """``next_purchase``: the expected date of the next purchase (NaT beyond the horizon)."""
    dates = model.predict_date(X[model.feature_names_in_], as_of)
    return pd.DataFrame({"next_purchase": pd.to_datetime(dates).date}, index=X.index)


def score_next_purchase(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0
) -> pd.DataFrame:
    """:func:`fit_next_purchase`, then :func:`next_purchase_scores` of the rows now."""
    model = fit_next_purchase(frames, schedule, random_state=random_state)
    X_now = _split(frames, ["days_to_next"], schedule)[3]
    return next_purchase_scores(model, X_now, schedule.as_of)


def fit_spend(frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0):
    """The spend model fitted on the labelled cut-offs of ``"purchase"`` frames with the
    BTYD view added."""
    X, Y, cut, _ = _split(frames, ["spend"], schedule)
    model = SpendModel(past_spend=PAST_SPEND, random_state=random_state)
    return model.fit(X, Y["spend"].to_numpy(), groups=cut)


def spend_cohort(model: SpendModel, rows: pd.DataFrame) -> SpendCohort:
    """The cohort the spend model ranks batches of customers among (e.g. a sample of the
    customers now), from its rows (features and BTYD view), prepared once."""
    return model.cohort(rows[model.feature_names_in_].to_numpy(np.float64))


def spend_scores(
    model: SpendModel, X: pd.DataFrame, *, cohort: SpendCohort | None = None
) -> pd.Series:
    """``spend_forecast``: the spend model's typical net spend in the next horizon.

    The model ranks each feature within a cohort: the rows ``X`` themselves, or ``cohort``
    (:func:`spend_cohort`, e.g. of a sample of the customers now, when ``X`` is a batch).
    """
    columns = model.feature_names_in_
    return pd.Series(
        model.predict(X[columns], reference=cohort), index=X.index, name="spend_forecast"
    )


def score_spend(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0
) -> pd.Series:
    """:func:`fit_spend`, then :func:`spend_scores` of the rows now."""
    model = fit_spend(frames, schedule, random_state=random_state)
    return spend_scores(model, _split(frames, ["spend"], schedule)[3])
