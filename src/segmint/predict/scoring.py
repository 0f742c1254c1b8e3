"""The supervised models as used: fitted on every labelled cut-off, scoring customers now.

The held-out checks (:mod:`segmint.predict.holdout`) fit on the training cut-offs and test on
the test cut-off; once checked, each model is refitted with the test cut-off added (trees on
the training cut-offs, calibration on the test one, whose labels are the latest) and scores
the rows of ``schedule.as_of``. Frames and schedules as in :mod:`segmint.predict.holdout`;
results are frames indexed by ``customer_id``.
"""

from __future__ import annotations

import pandas as pd

from segmint.predict.churn import ChurnModel
from segmint.predict.holdout import frame_parts
from segmint.predict.propensity import NextPurchaseModel, PropensityModel
from segmint.predict.schedule import CutoffSchedule
from segmint.predict.spend import SpendModel

__all__ = ["score_churn", "score_next_purchase", "score_propensity", "score_spend"]


def _split(frames: pd.DataFrame, labels: list[str], schedule: CutoffSchedule):
    X, Y, cut = frame_parts(frames, labels)
    known = cut.isin([*schedule.train, schedule.test]).to_numpy()
    now = (cut == schedule.as_of).to_numpy()
    ids = frames["customer_id"].to_numpy()[now]
    return X[known], Y[known], cut[known], X[now].set_index(pd.Index(ids, name="customer_id"))


def score_churn(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0, top: int = 3
) -> pd.DataFrame:
    """``churn_risk`` and ``churn_reasons`` (the top reasons joined by ``"; "``)."""
    X, Y, cut, X_now = _split(frames, ["purchase"], schedule)
    model = ChurnModel(random_state=random_state).fit(X, 1 - Y["purchase"].to_numpy(), groups=cut)
    parts = model.reasons(X_now, top=top).fillna("").astype(str)
    text = parts.iloc[:, 0]
    for column in parts.columns[1:]:
        text = text.str.cat(parts[column], sep="; ")
    return pd.DataFrame(
        {
            "churn_risk": model.predict_proba(X_now)[:, 1],
            "churn_reasons": text.str.replace(r"(; )+$", "", regex=True).to_numpy(),
        },
        index=X_now.index,
    )


def score_propensity(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0
) -> pd.DataFrame:
    """``top_category`` (the likeliest category to be bought within the horizon) and its
    ``top_category_propensity``."""
    labels = [c for c in frames.columns if c.startswith("buy_")]
    X, Y, cut, X_now = _split(frames, labels, schedule)
    proba = PropensityModel(random_state=random_state).fit(X, Y, groups=cut).predict_proba(X_now)
    return pd.DataFrame(
        {
            "top_category": proba.idxmax(axis=1).str.removeprefix("buy_").to_numpy(),
            "top_category_propensity": proba.max(axis=1).to_numpy(),
        },
        index=proba.index,
    )


def score_next_purchase(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0
) -> pd.DataFrame:
    """``next_purchase``: the expected date of the next purchase (NaT beyond the horizon)."""
    X, Y, _, X_now = _split(frames, ["days_to_next"], schedule)
    model = NextPurchaseModel(horizon_days=schedule.horizon_days, random_state=random_state)
    model.fit(X, Y["days_to_next"].to_numpy())
    dates = model.predict_date(X_now, schedule.as_of)
    return pd.DataFrame({"next_purchase": pd.to_datetime(dates).date}, index=X_now.index)


def score_spend(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0
) -> pd.Series:
    """``spend_forecast``: the spend model's typical net spend in the next horizon."""
    X, Y, cut, X_now = _split(frames, ["spend"], schedule)
    model = SpendModel(random_state=random_state).fit(X, Y["spend"].to_numpy(), groups=cut)
    return pd.Series(model.predict(X_now), index=X_now.index, name="spend_forecast")
