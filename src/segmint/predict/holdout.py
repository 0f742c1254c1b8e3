"""Held-out-time evaluation of the supervised models, against simple baselines.

Each function takes the stacked training frames of :func:`segmint.features.training_frames`
(one row per customer and cut-off) and a :class:`~segmint.predict.schedule.CutoffSchedule`.
The model is fitted on the schedule's training cut-offs only (trees on the earlier ones,
calibration on the latest) and scored on the test cut-off, whose labels start where the
training labels end; the baselines get the same rows. Results are JSON-ready dicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmint.predict.churn import ChurnModel, ScoreCalibrator, split_frame
from segmint.predict.evaluation import (
    average_precision,
    calibration_bins,
    classification_report,
    lift_table,
    mean_absolute_error,
    rank_correlation,
    roc_auc,
)
from segmint.predict.propensity import NextPurchaseModel, PropensityModel
from segmint.predict.schedule import CutoffSchedule
from segmint.predict.spend import BTYD_CLV, PAST_SPEND, SpendModel

__all__ = [
    "LABEL_COLUMNS",
    "evaluate_churn",
    "evaluate_next_purchase",
    "evaluate_propensity",
    "evaluate_spend",
    "frame_parts",
]

#: label columns of the "churn" and "purchase" training frames; never features
LABEL_COLUMNS = ("churn", "purchase", "days_to_next", "next_observed", "spend")


def frame_parts(frames: pd.DataFrame, labels: list[str]):
    """Features, labels and cut-offs of a training frame (every other label column dropped)."""
    others = tuple(c for c in LABEL_COLUMNS if c in frames.columns and c not in labels)
    X, Y, _, _ = split_frame(frames, labels, drop=others)
    return X, Y, pd.to_datetime(frames["cutoff"]).reset_index(drop=True)


def _masks(cut: pd.Series, schedule: CutoffSchedule) -> tuple[np.ndarray, np.ndarray]:
    return cut.isin(schedule.train).to_numpy(), (cut == schedule.test).to_numpy()


def evaluate_churn(
    frames: pd.DataFrame,
    schedule: CutoffSchedule,
    dropout: dict,
    *,
    random_state: int = 0,
) -> dict:
    """Churn (no purchase within the horizon) on the test cut-off: model against baselines.

    Parameters
    ----------
    frames : DataFrame
        Training frames with the ``"purchase"`` labels (churn = 1 - purchase).
    schedule : CutoffSchedule
    dropout : dict
        ``1 - P(alive)`` of a BTYD model fitted before each cut-off, for the rows of the
        calibration and test cut-offs: ``{schedule.calibration: array, schedule.test: array}``.
    random_state : int, default=0

    Returns
    -------
    dict
        :func:`~segmint.predict.evaluation.classification_report` of the churn model, recency
        and ``1 - P(alive)`` (both baselines isotonic-calibrated on the calibration cut-off's
        rows, as the model is), plus the model's calibration bins, lift table and the schedule.
    """
    X, Y, cut = frame_parts(frames, ["purchase"])
    y = 1 - Y["purchase"].to_numpy()  # churn: no purchase within the horizon
    train, test = _masks(cut, schedule)
    model = ChurnModel(random_state=random_state).fit(X[train], y[train], groups=cut[train])
    p_model = model.predict_proba(X[test])[:, 1]
    calibration = (cut == schedule.calibration).to_numpy()
    recency = X["recency_days"].to_numpy()
    recency_cal = ScoreCalibrator().fit(recency[calibration], y[calibration])
    dropout_cal = ScoreCalibrator().fit(dropout[schedule.calibration], y[calibration])
    evaluation = classification_report(
        y[test],
        {
            "churn model": p_model,
            "recency (calibrated)": recency_cal.predict_proba(recency[test]),
            "1 - P(alive) (calibrated)": dropout_cal.predict_proba(dropout[schedule.test]),
        },
    )
    evaluation.update(
        schedule.to_dict(),
        calibration=calibration_bins(y[test], p_model),
        lift=lift_table(y[test], p_model),
    )
    return evaluation


def evaluate_propensity(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0
) -> dict:
    """Purchase in each category within the horizon, on the test cut-off.

    Per category: ROC-AUC and average precision of the propensity model against two
    baselines: *category popularity* (the category's purchase rate on the calibration
    cut-off, the same score for everybody: ROC-AUC 0.5, average precision the positive rate)
    and *own history* (the customer's spend share in that category before the cut-off, where
    the features carry it as ``cat_share_<slug>``).

    Parameters
    ----------
    frames : DataFrame
        Training frames with the ``"category"`` labels (``buy_<slug>`` columns).
    schedule : CutoffSchedule
    random_state : int, default=0

    Returns
    -------
    dict
        ``categories``: per label, ``n``, ``base_rate`` and ``models`` (name ->
        ``roc_auc``, ``average_precision``); ``mean``: the same two figures averaged over
        the categories; and the schedule.
    """
    labels = [c for c in frames.columns if c.startswith("buy_")]
    X, Y, cut = frame_parts(frames, labels)
    train, test = _masks(cut, schedule)
    calibration = (cut == schedule.calibration).to_numpy()
    model = PropensityModel(random_state=random_state).fit(X[train], Y[train], groups=cut[train])
    proba = model.predict_proba(X[test])
    categories = {}
    for label in labels:
        y = Y[label].to_numpy()[test]
        scores = {
            "propensity model": proba[label].to_numpy(),
            "category popularity": np.full(y.size, Y[label].to_numpy()[calibration].mean()),
        }
        share = "cat_share_" + label.removeprefix("buy_")
        if share in X.columns:
            scores["own history"] = np.nan_to_num(X[share].to_numpy()[test])
        categories[label.removeprefix("buy_")] = {
            "n": int(y.size),
            "base_rate": float(y.mean()) if y.size else float("nan"),
            "models": {
                name: {"roc_auc": roc_auc(y, s), "average_precision": average_precision(y, s)}
                for name, s in scores.items()
            },
        }
    return {"categories": categories, "mean": _mean_scores(categories), **schedule.to_dict()}


def _mean_scores(categories: dict) -> dict:
    """Each model's ROC-AUC and average precision averaged over the categories it scored."""
    # the model first, then the baselines, in the order the categories list them
    names = dict.fromkeys(name for c in categories.values() for name in c["models"])
    return {
        name: {
            metric: float(
                np.nanmean(
                    [c["models"][name][metric] for c in categories.values() if name in c["models"]]
                )
            )
            for metric in ("roc_auc", "average_precision")
        }
        for name in names
    }


def evaluate_next_purchase(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0
) -> dict:
    """Days to the next purchase (censored at the horizon) on the test cut-off.

    Returns
    -------
    dict
        ``mae_days`` of the model and ``median_baseline_mae_days`` of the training median,
        with the test cut-off and horizon.
    """
    X, Y, cut = frame_parts(frames, ["days_to_next"])
    days = Y["days_to_next"].to_numpy()
    train, test = _masks(cut, schedule)
    model = NextPurchaseModel(horizon_days=schedule.horizon_days, random_state=random_state)
    model.fit(X[train], days[train])
    median = np.full(int(test.sum()), float(np.median(days[train])))
    return {
        "mae_days": mean_absolute_error(days[test], model.predict(X[test])),
        "median_baseline_mae_days": mean_absolute_error(days[test], median),
        "test_cutoff": schedule.test.date().isoformat(),
        "horizon_days": schedule.horizon_days,
    }


def evaluate_spend(
    frames: pd.DataFrame, schedule: CutoffSchedule, *, random_state: int = 0
) -> dict:
    """Who will spend most in the horizon: the spend model against BTYD CLV and past spend.

    Parameters
    ----------
    frames : DataFrame
        Training frames with the ``"purchase"`` labels (``spend`` is the one used) and the
        BTYD expectations as of each cut-off (``btyd_clv``, see
        :class:`~segmint.predict.spend.SpendModel`).
    schedule : CutoffSchedule
    random_state : int, default=0

    Returns
    -------
    dict
        ``spearman``: the rank correlation of each score with the net spend in the horizon
        after the test cut-off, for ``"CLV (BTYD + spend model)"``, ``"BTYD CLV"`` and
        ``"past net spend"``; ``n`` (customers), ``buyers`` (of them, those with a positive
        net spend), and the schedule.
    """
    X, Y, cut = frame_parts(frames, ["spend"])
    spend = Y["spend"].to_numpy()
    train, test = _masks(cut, schedule)
    model = SpendModel(past_spend=PAST_SPEND, random_state=random_state)
    model.fit(X[train], spend[train], groups=cut[train])
    scores = {
        "CLV (BTYD + spend model)": model.predict(X[test]),
        "BTYD CLV": X[BTYD_CLV].to_numpy()[test],
        "past net spend": X[PAST_SPEND].to_numpy()[test],
    }
    actual = spend[test]
    return {
        "spearman": {name: rank_correlation(score, actual) for name, score in scores.items()},
        "n": int(test.sum()),
        "buyers": int((actual > 0).sum()),
        **schedule.to_dict(),
    }
