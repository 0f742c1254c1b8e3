"""Buy-till-you-die decisions on RFM summaries: which purchase model, CLV scores, held-out check.

Every function takes the frame of :func:`segmint.features.rfm_summary` (``customer_id``,
``frequency``, ``recency``, ``T``, ``monetary_value`` and, for the held-out check,
``frequency_holdout`` and ``duration_holdout``; times in weeks) and returns plain results.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from segmint.errors import DataValidationError, ModelError
from segmint.predict.beta_geo import BetaGeoNBD, ModifiedBetaGeoNBD
from segmint.predict.clv import clv
from segmint.predict.gamma_gamma import GammaGamma
from segmint.predict.pareto_nbd import ParetoNBD

__all__ = [
    "PURCHASE_MODELS",
    "alive_model",
    "dropout_identified",
    "choose_purchase_model",
    "compare_repeat_purchases",
    "dropout_score",
    "fit_lifetime_value",
    "fit_purchase_model",
    "holdout_repeat_purchases",
    "lifetime_value",
    "lifetime_value_scores",
]

#: lifetime value horizon and discounting: 12 months at 1% a month
CLV_MONTHS = 12
MONTHLY_DISCOUNT = 0.01
WEEKS_PER_MONTH = 52.1775 / 12
#: the conditional-expectations table groups customers with this many repeat purchases or more
MAX_FREQUENCY_BUCKET = 7


#: the candidate purchase models, by name
PURCHASE_MODELS = {"BG/NBD": BetaGeoNBD, "MBG/NBD": ModifiedBetaGeoNBD, "Pareto/NBD": ParetoNBD}
#: models whose P(alive) falls with silence for customers without a repeat purchase too
#: (BG/NBD gives every one-time buyer P(alive) = 1, however long ago they bought)
SILENCE_AWARE = ("MBG/NBD", "Pareto/NBD")
#: held-out error (percentage points of the total repeat purchases) that a silence-aware
#: model may give away to BG/NBD and still be chosen
CHOICE_TOLERANCE_PCT = 2.0


def choose_purchase_model(errors: dict[str, float]) -> str:
    """The purchase model to use, from each candidate's held-out error (in %; NaN: failed).

    The rule: the candidate with the smallest absolute held-out error of the total repeat
    purchases, except that a silence-aware model (MBG/NBD or Pareto/NBD) wins over BG/NBD
    unless BG/NBD is more than ``CHOICE_TOLERANCE_PCT`` points better: at equal fit, P(alive)
    that falls for silent one-time buyers is the truthful one.

    Raises
    ------
    ModelError
        When no candidate could be fitted.
    """
    usable = {name: abs(e) for name, e in errors.items() if np.isfinite(e)}
    if not usable:
        raise ModelError("no purchase model could be fitted to this data")
    best = min(usable, key=usable.get)
    aware = {name: e for name, e in usable.items() if name in SILENCE_AWARE}
    if best in aware or not aware:
        return best
    best_aware = min(aware, key=aware.get)
    return best_aware if aware[best_aware] <= usable[best] + CHOICE_TOLERANCE_PCT else best


#: a Pareto/NBD population losing less than this share of its customers in a year has no
#: dropout to speak of (Online Retail's fit: 0.0003%, CDNOW's published one: 73%)
MIN_YEARLY_DROPOUT = 0.001


def dropout_identified(model) -> bool:
    """Whether the fitted purchase model's dropout is identified by the data.

    BG/NBD and MBG/NBD refuse to fit when it is not (their mean dropout probability after a
    purchase goes to 0); Pareto/NBD fits with a lifetime rate near 0 instead, and then gives
    every customer P(alive) near 1 however long they have been silent.
    """
    if not isinstance(model, ParetoNBD):
        return True
    p = model.params_
    # lifetimes are exponential with rate mu ~ Gamma(s, beta): P(dead within 52 weeks)
    return 1.0 - (p["beta"] / (p["beta"] + 52.0)) ** p["s"] >= MIN_YEARLY_DROPOUT


def alive_model(summary: pd.DataFrame, holdout: dict):
    """Another purchase model to give P(alive) where the chosen one's dropout is not identified.

    The candidates other than ``holdout["model"]`` whose held-out error is within
    ``CHOICE_TOLERANCE_PCT`` points of it, best first: the first whose dropout is identified.

    Returns
    -------
    model, name, reason
        The fitted model and its name, or None and None when no candidate identifies dropout
        (P(alive) has to come from elsewhere then); and why, in words.
    """
    errors = {n: abs(e) for n, e in holdout["error_pct_by_model"].items() if np.isfinite(e)}
    chosen = holdout["model"]
    comparable = sorted(
        (n for n in errors if n != chosen and errors[n] <= errors[chosen] + CHOICE_TOLERANCE_PCT),
        key=errors.get,
    )
    for name in comparable:
        model = _fit(name, summary)
        if model is not None and dropout_identified(model):
            return model, name, f"{chosen} estimates almost no dropout"
    tried = [chosen, *comparable]
    why = (
        ", ".join(tried) + (" estimates" if len(tried) == 1 else " estimate") + " almost no dropout"
    )
    rest = [n for n in holdout["error_pct_by_model"] if n not in tried]
    if rest:
        why += "; " + ", ".join(rest) + " cannot be fitted or predict held-out purchases worse"
    return None, None, why


def _fit(name: str, summary: pd.DataFrame, weights=None):
    """The named model fitted on ``summary``, or None where it fails or its predictions
    overflow (a guard: BG/NBD's enormous a and b, one dropout rate for everyone, are
    predicted by quadrature where the closed form overflows)."""
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    try:
        model = PURCHASE_MODELS[name]().fit(f, r, t, weights=weights)
    except ModelError:
        return None
    with np.errstate(all="ignore"):
        usable = np.isfinite(model.expected_purchases(52.0, f, r, t)).all()
    return model if usable else None


def fit_purchase_model(
    summary: pd.DataFrame, name: str = "BG/NBD", weights=None
) -> tuple[BetaGeoNBD | ModifiedBetaGeoNBD | ParetoNBD, str]:
    """The named model or, where it cannot be fitted or overflows, the first of the other
    purchase models that can (with a warning naming it).

    ``weights``: customers per row, for a compressed summary
    (:func:`segmint.features.rfm_summary` with ``compress=True``).

    Returns
    -------
    model, name
        The fitted model and its name.

    Raises
    ------
    segmint.errors.ModelError
        When no purchase model can be fitted to the data.
    """
    for candidate in [name, *(n for n in PURCHASE_MODELS if n != name)]:
        model = _fit(candidate, summary, weights)
        if model is None:
            continue
        if candidate != name:
            warnings.warn(
                f"{name} cannot be fitted to this data or its predictions overflow; "
                f"using {candidate}",
                RuntimeWarning,
                stacklevel=2,
            )
        return model, candidate
    raise ModelError(
        f"no purchase model ({', '.join(PURCHASE_MODELS)}) can be fitted to these "
        f"{len(summary):,} customers' repeat purchases"
    )


def lifetime_value(summary: pd.DataFrame, model_name: str = "BG/NBD") -> tuple[pd.DataFrame, dict]:
    """12-month CLV (purchase model + Gamma-Gamma spend), P(alive) and expected purchases.

    A customer with repeat purchases but no positive spend among them (zero-value orders) gets
    the population's mean spend: Gamma-Gamma's expectation with no spend observation.

    Returns
    -------
    scores : DataFrame
        ``clv``, ``clv_lower``, ``clv_upper``, ``p_alive``, ``expected_purchases``, indexed by
        ``customer_id``.
    info : dict
        The models, their parameters and the CLV settings.
    """
    model, spend, info = fit_lifetime_value(summary, model_name)
    try:
        return lifetime_value_scores(model, spend, summary), info
    except DataValidationError as exc:
        raise _naming_customer(exc, summary["customer_id"]) from None


def fit_lifetime_value(summary: pd.DataFrame, model_name: str = "BG/NBD") -> tuple:
    """:func:`lifetime_value`'s fitted models, without the scores.

    Returns
    -------
    purchase_model, spend_model, info
        The purchase model (the named one, or Pareto/NBD: :func:`fit_purchase_model`), the
        Gamma-Gamma spend model, and :func:`lifetime_value`'s ``info``.
    """
    try:
        return _fit_lifetime_value(summary, model_name)
    except DataValidationError as exc:
        raise _naming_customer(exc, summary["customer_id"]) from None


def _fit_lifetime_value(summary: pd.DataFrame, model_name: str) -> tuple:
    model, name = fit_purchase_model(summary, model_name)
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    spend = GammaGamma().fit(repeat["frequency"], repeat["monetary_value"])
    info = {
        "purchase_model": name,
        "purchase_params": model.params_,
        "purchase_standard_errors": model.standard_errors_,
        "purchase_log_likelihood": model.log_likelihood_,
        "spend_params": spend.params_,
        "dropout_identified": dropout_identified(model),
        "clv_months": CLV_MONTHS,
        "monthly_discount": MONTHLY_DISCOUNT,
        "customers": int(len(summary)),
    }
    return model, spend, info


def lifetime_value_scores(model, spend: GammaGamma, summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`lifetime_value`'s scores from fitted purchase and spend models: one customer's
    scores depend on their summary row alone, so any batch of customers can be scored."""
    f, r, t, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    # with m = E[M] the Gamma-Gamma conditional expectation is E[M] whatever the frequency
    m = np.where(m > 0, m, spend.expected_spend_unconditional())
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
    return pd.DataFrame(
        {
            "clv": value.clv,
            "clv_lower": value.lower,
            "clv_upper": value.upper,
            "p_alive": model.p_alive(f, r, t),
            "expected_purchases": model.expected_purchases(CLV_MONTHS * WEEKS_PER_MONTH, f, r, t),
        },
        index=summary["customer_id"],
    )


def _naming_customer(exc: DataValidationError, customer_ids: pd.Series) -> DataValidationError:
    """The validation error with its internal row index replaced by the customer's id."""
    # str(exc) already names the column
    return DataValidationError(
        re.sub(r"index (\d+)", lambda m: f"customer {customer_ids.iloc[int(m[1])]}", str(exc))
    )


def holdout_repeat_purchases(summary: pd.DataFrame) -> dict:
    """Fit each candidate on the calibration period, compare the repeat purchases it predicts
    for the holdout, and choose the model (:func:`choose_purchase_model`).

    Parameters
    ----------
    summary : DataFrame
        A calibration/holdout RFM summary (with ``frequency_holdout`` and
        ``duration_holdout``).

    Returns
    -------
    dict
        ``model`` (the chosen one's name), the figures of :func:`compare_repeat_purchases` for
        it, and ``error_pct_by_model`` (NaN where a candidate could not be fitted).
    """
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    results = {}
    for name in PURCHASE_MODELS:
        model = _fit(name, summary)
        if model is not None:
            predicted = model.expected_purchases(summary["duration_holdout"].to_numpy(), f, r, t)
            results[name] = compare_repeat_purchases(
                f.to_numpy(), summary["frequency_holdout"], predicted
            )
    errors = {n: results[n]["error_pct"] if n in results else float("nan") for n in PURCHASE_MODELS}
    chosen = choose_purchase_model(errors)
    return {"model": chosen, **results[chosen], "error_pct_by_model": errors}


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


def dropout_score(summary: pd.DataFrame, customer_ids, model_name: str = "BG/NBD") -> np.ndarray:
    """``1 - P(alive)`` of each of ``customer_ids`` from a purchase model fitted on ``summary``.

    Customers missing from the summary get NaN.
    """
    model, _ = fit_purchase_model(summary, model_name)
    alive = model.p_alive(summary["frequency"], summary["recency"], summary["T"])
    score = pd.Series(1.0 - alive, index=summary["customer_id"].to_numpy())
    return score.reindex(np.asarray(customer_ids)).to_numpy()
