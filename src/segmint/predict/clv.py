"""Customer lifetime value from a purchase model and a spend model, with uncertainty.

CLV_i = E[spend per transaction]_i * sum_{k=1..horizon} (E[Y(k L)]_i - E[Y((k-1) L)]_i)
        / (1 + discount_rate)^k,
where E[Y(t)] is the purchase model's conditional expected number of purchases in (T, T + t]
and L = ``time_unit_per_period`` (model time units per period; e.g. 52/12 for monthly periods
with a model fitted in weeks). This discrete, discounted sum is the usual approximation of the
continuous discounted expected residual transactions (FHL05b).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from sklearn.utils.validation import check_is_fitted

from segmint.errors import DataValidationError, ModelError
from segmint.predict._base import BTYDModel, unique_rows
from segmint.predict._validation import as_1d, check_bgbb, check_rfm, check_spend
from segmint.predict.bgbb import BetaGeoBetaBinom
from segmint.predict.gamma_gamma import GammaGamma

__all__ = ["CLVResult", "clv"]


@dataclass(frozen=True)
class CLVResult:
    """CLV per customer (in input order) with a pointwise interval.

    Attributes
    ----------
    clv, lower, upper : ndarray
        Point estimate and the ``interval`` bounds (NaN when not computed).
    expected_purchases : ndarray
        Undiscounted expected purchases over the horizon.
    expected_spend : ndarray
        Conditional expected spend per transaction.
    """

    clv: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    expected_purchases: np.ndarray
    expected_spend: np.ndarray


def _discounted_purchases(model, x, tx, T, horizon, L, discount_rate):
    steps = np.arange(0, horizon + 1, dtype=float)[:, None] * L
    cum = np.empty((horizon + 1, x.size))
    cum[0] = 0.0
    cum[1:] = model.expected_purchases(steps[1:], x, tx, T)
    inc = np.diff(cum, axis=0)
    disc = (1.0 + discount_rate) ** -np.arange(1, horizon + 1, dtype=float)
    return disc @ inc, cum[-1]


def clv(
    model: BTYDModel,
    spend_model: GammaGamma,
    frequency,
    recency,
    T,
    monetary_value,
    *,
    horizon: int = 12,
    time_unit_per_period: float = 1.0,
    discount_rate: float = 0.0,
    interval: float | None = 0.9,
    method: str = "delta",
    n_draws: int = 200,
    random_state=None,
) -> CLVResult:
    """Discounted expected customer lifetime value over ``horizon`` periods.

    Parameters
    ----------
    model : BetaGeoNBD, ModifiedBetaGeoNBD, ParetoNBD or BetaGeoBetaBinom
        Fitted purchase model (for BG/BB, ``T`` is ``n_periods`` and periods are opportunities).
    spend_model : GammaGamma
        Fitted spend model.
    frequency, recency, T, monetary_value : array-like
        Calibration summary of the customers to score.
    horizon : int
        Number of future periods.
    time_unit_per_period : float
        Model time units per period (e.g. 52/12 for months with a weekly model).
    discount_rate : float
        Discount rate per period (0.01 = 1% a period).
    interval : float or None
        Coverage of the pointwise interval (None: no interval).
    method : {"delta", "draws"}
        ``"delta"``: normal interval on log CLV from the delta method (gradient of log CLV in
        the log-parameters by finite differences, the two models' parameter covariances from
        their Hessians; cheap). ``"draws"``: percentile interval over ``n_draws`` parameter
        draws from the asymptotic normal of the log-parameters (slower, no normality of CLV).

    Returns
    -------
    CLVResult

    Examples
    --------
    >>> from segmint.predict import BetaGeoNBD, GammaGamma, clv
    >>> bg = BetaGeoNBD.from_params({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    >>> gg = GammaGamma.from_params({"p": 6.25, "q": 3.74, "gamma": 15.44})
    >>> res = clv(bg, gg, [2], [30.43], [38.86], [22.35], horizon=12,
    ...           time_unit_per_period=52 / 12, discount_rate=0.01, interval=None)
    >>> round(float(res.clv[0]), 2)
    36.21
    """
    if not (isinstance(horizon, int | np.integer) and horizon >= 1):
        raise DataValidationError(f"horizon must be a positive integer, got {horizon!r}")
    if not (np.isfinite(discount_rate) and discount_rate > -1):
        raise DataValidationError(f"discount_rate must be > -1, got {discount_rate!r}")
    if not (np.isfinite(time_unit_per_period) and time_unit_per_period > 0):
        raise DataValidationError(f"time_unit_per_period must be > 0, got {time_unit_per_period!r}")
    if method not in ("delta", "draws"):
        raise DataValidationError(f"method must be 'delta' or 'draws', got {method!r}")
    check = check_bgbb if isinstance(model, BetaGeoBetaBinom) else check_rfm
    x, tx, TT = check(frequency, recency, T)
    x2, m = check_spend(frequency, as_1d("monetary_value", monetary_value))
    if m.size != x.size:
        raise DataValidationError(
            f"monetary_value has {m.size} values but frequency has {x.size}",
            column="monetary_value",
        )
    check_is_fitted(model, "params_")
    check_is_fitted(spend_model, "params_")
    # evaluate on unique rows only
    (ux, utx, uT), inv = unique_rows(x, tx, TT)
    (sx, sm), sinv = unique_rows(x, m)

    def point(pm, sp):
        disc, undisc = _discounted_purchases(
            pm, ux, utx, uT, horizon, time_unit_per_period, discount_rate
        )
        return disc, undisc, sp.conditional_expected_spend(sx, sm)

    disc, undisc, spend = point(model, spend_model)
    value = disc[inv] * spend[sinv]
    lower = np.full_like(value, np.nan)
    upper = np.full_like(value, np.nan)
    if interval is not None:
        if not 0 < interval < 1:
            raise DataValidationError(f"interval must be in (0, 1), got {interval!r}")
        if model.covariance_log_ is None or spend_model.covariance_log_ is None:
            warnings.warn(
                "clv: a model has no parameter covariance (built with from_params or with a "
                "singular Hessian), so no interval is computed",
                RuntimeWarning,
                stacklevel=2,
            )
        elif method == "delta":
            lower, upper = _delta_interval(
                model, spend_model, point, disc, spend, inv, sinv, (sx, sm), interval
            )
        else:
            lower, upper = _draws_interval(
                model, spend_model, point, inv, sinv, interval, n_draws, random_state
            )
    return CLVResult(value, lower, upper, undisc[inv], spend[sinv])


def _delta_interval(model, spend_model, point, disc, spend, inv, sinv, spend_rows, interval):
    h = 1e-5
    log_disc = np.log(np.maximum(disc, 1e-300))
    log_spend = np.log(spend)
    th_m = np.log(np.array(model._p()))
    th_s = np.log(np.array(spend_model._p()))
    gm = []
    for i in range(th_m.size):
        e = th_m.copy()
        e[i] += h
        d, _, _ = point(model._with_params(np.exp(e)), spend_model)
        gm.append((np.log(np.maximum(d, 1e-300)) - log_disc) / h)
    gs = []
    for i in range(th_s.size):
        e = th_s.copy()
        e[i] += h
        sp = spend_model._with_params(np.exp(e))
        gs.append((np.log(sp.conditional_expected_spend(*spend_rows)) - log_spend) / h)
    Gm = np.array(gm)  # (k_m, n_unique_rfm)
    Gs = np.array(gs)
    var_m = np.einsum("in,ij,jn->n", Gm, model.covariance_log_, Gm)
    var_s = np.einsum("in,ij,jn->n", Gs, spend_model.covariance_log_, Gs)
    se = np.sqrt(var_m[inv] + var_s[sinv])
    z = norm.ppf(0.5 + interval / 2)
    log_v = log_disc[inv] + log_spend[sinv]
    return np.exp(log_v - z * se), np.exp(log_v + z * se)


def _draws_interval(model, spend_model, point, inv, sinv, interval, n_draws, random_state):
    rng = np.random.default_rng(random_state)
    pm = model.sample_params(n_draws, rng)
    ps = spend_model.sample_params(n_draws, rng)
    sims = np.empty((n_draws, inv.size))
    for d in range(n_draws):
        try:
            disc, _, spend = point(model._with_params(pm[d]), spend_model._with_params(ps[d]))
        except ModelError:  # e.g. a draw with q <= 1: no finite mean spend
            sims[d] = np.nan
            continue
        sims[d] = disc[inv] * spend[sinv]
    lo = 100 * (0.5 - interval / 2)
    return tuple(np.nanpercentile(sims, [lo, 100 - lo], axis=0))
