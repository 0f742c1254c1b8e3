"""Buy-till-you-die decisions on RFM summaries: which purchase model, CLV scores, held-out check.

Every function takes the frame of :func:`segmint.features.rfm_summary` (``customer_id``,
``frequency``, ``recency``, ``T``, ``monetary_value`` and, for the held-out check,
``frequency_holdout`` and ``duration_holdout``; times in weeks) and returns plain results.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from segmint.errors import ModelError
from segmint.predict.beta_geo import BetaGeoNBD
from segmint.predict.clv import clv
from segmint.predict.gamma_gamma import GammaGamma
from segmint.predict.pareto_nbd import ParetoNBD

__all__ = [
    "compare_repeat_purchases",
    "dropout_score",
    "fit_purchase_model",
    "holdout_repeat_purchases",
    "lifetime_value",
]

#: lifetime value horizon and discounting: 12 months at 1% a month
CLV_MONTHS = 12
MONTHLY_DISCOUNT = 0.01
WEEKS_PER_MONTH = 52.1775 / 12
#: the conditional-expectations table groups customers with this many repeat purchases or more
MAX_FREQUENCY_BUCKET = 7


def fit_purchase_model(summary: pd.DataFrame) -> tuple[BetaGeoNBD | ParetoNBD, str]:
    """BG/NBD, or Pareto/NBD where BG/NBD's dropout cannot be identified (short histories).

    BG/NBD can also converge to enormous a and b (a dropout rate it cannot pin down) where its
    hypergeometric predictions overflow; that too falls back to Pareto/NBD, with a warning.

    Returns
    -------
    model, name
        The fitted model and ``"BG/NBD"`` or ``"Pareto/NBD"``.
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


def lifetime_value(summary: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """12-month CLV (purchase model + Gamma-Gamma spend), P(alive) and expected purchases.

    Returns
    -------
    scores : DataFrame
        ``clv``, ``clv_lower``, ``clv_upper``, ``p_alive``, ``expected_purchases``, indexed by
        ``customer_id``.
    info : dict
        The models, their parameters and the CLV settings.
    """
    model, name = fit_purchase_model(summary)
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


def holdout_repeat_purchases(summary: pd.DataFrame) -> dict:
    """Fit on the calibration period; compare the repeat purchases predicted for the holdout.

    Parameters
    ----------
    summary : DataFrame
        A calibration/holdout RFM summary (with ``frequency_holdout`` and
        ``duration_holdout``).

    Returns
    -------
    dict
        ``model`` (its name) and the figures of :func:`compare_repeat_purchases`.
    """
    model, name = fit_purchase_model(summary)
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    predicted = model.expected_purchases(summary["duration_holdout"].to_numpy(), f, r, t)
    return {
        "model": name,
        **compare_repeat_purchases(f.to_numpy(), summary["frequency_holdout"], predicted),
    }


def compare_repeat_purchases(frequency, actual, predicted) -> dict:
    """Predicted against actual holdout repeat purchases, in total and by calibration frequency.

    Parameters
    ----------
    frequency : array-like of int
        Repeat purchases in the calibration period.
    actual, predicted : array-like of float
        Repeat purchases in the holdout period, observed and expected.

    Returns
    -------
    dict
        ``customers``, ``actual_repeat_purchases``, ``predicted_repeat_purchases``,
        ``error_pct`` (100 * (predicted - actual) / actual, actual floored at 1) and
        ``conditional_expectations``: customers and mean actual and predicted purchases per
        calibration frequency, frequencies of 7 or more grouped as 7.
    """
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    bucket = np.minimum(np.asarray(frequency), MAX_FREQUENCY_BUCKET)
    table = (
        pd.DataFrame({"frequency": bucket, "actual": actual, "predicted": predicted})
        .groupby("frequency")
        .agg(
            customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
        )
        .reset_index()
    )
    return {
        "customers": int(actual.size),
        "actual_repeat_purchases": float(actual.sum()),
        "predicted_repeat_purchases": float(predicted.sum()),
        "error_pct": float(100 * (predicted.sum() - actual.sum()) / max(actual.sum(), 1)),
        "conditional_expectations": table.to_dict(orient="records"),
    }


def dropout_score(summary: pd.DataFrame, customer_ids) -> np.ndarray:
    """``1 - P(alive)`` of each of ``customer_ids`` from a purchase model fitted on ``summary``.

    Customers missing from the summary get NaN.
    """
    model, _ = fit_purchase_model(summary)
    alive = model.p_alive(summary["frequency"], summary["recency"], summary["T"])
    score = pd.Series(1.0 - alive, index=summary["customer_id"].to_numpy())
    return score.reindex(np.asarray(customer_ids)).to_numpy()
