"""Gamma-Gamma model of average spend per transaction ([FHL05b]; Colombo & Jiang 1999)."""

from __future__ import annotations

import warnings

import numpy as np

from segmint.errors import ModelError
from segmint.predict._base import BTYDModel
from segmint.predict._validation import check_spend
from segmint.predict.likelihoods import GammaGammaObjective, gamma_gamma_log_likelihood
from segmint.predict.simulate import simulate_gamma_gamma

__all__ = ["GammaGamma"]


class GammaGamma(BTYDModel):
    """Gamma-Gamma spend model.

    Each transaction's value is Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers; the
    model is fitted to each repeat buyer's average spend per repeat transaction.

    ``fit(frequency, monetary_value, weights=None)``: customers with frequency 0 carry no spend
    information and are left out of the fit (with a warning saying how many).

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``gamma``.
    standard_errors_, covariance_log_, log_likelihood_, n_iter_, converged_

    Examples
    --------
    >>> from segmint.predict import GammaGamma
    >>> m = GammaGamma.from_params({"p": 6.25, "q": 3.74, "gamma": 15.44})
    >>> m.conditional_expected_spend([0, 2], [0.0, 30.0]).round(2).tolist()
    [35.22, 30.94]
    """

    _param_names = ("p", "q", "gamma")
    _no_repeat_message = (
        "frequency is 0 for all customers: the Gamma-Gamma model needs repeat buyers' average spend"
    )
    _check_data = staticmethod(check_spend)

    def fit(self, frequency, monetary_value, weights=None):
        """Fit by maximum likelihood on compressed (frequency, monetary_value) rows."""
        return self._fit((frequency, monetary_value), weights)

    def _fit_rows(self, frequency, w):
        """Only repeat buyers carry spend information; the others are left out, with a warning."""
        rep = (frequency > 0) & (w > 0)
        n_zero = int(np.count_nonzero((frequency == 0) & (w > 0)))
        if n_zero:
            warnings.warn(
                f"GammaGamma: {n_zero} customers with frequency 0 were left out of the fit "
                "(they have no repeat-transaction spend)",
                UserWarning,
                stacklevel=4,
            )
        return rep

    def _make_objective(self, x, m, w):
        return GammaGammaObjective(x, m, w)

    def _start(self, x, m, w):
        mean = float(np.dot(w, m) / w.sum())
        return np.array([1.0, 2.0, mean])

    def _diverged_message(self, name, value):
        base = super()._diverged_message(name, value)
        if name in ("q", "gamma") and value > 1:
            return (
                f"{base}: average spend shows no heterogeneity across customers (q and gamma "
                "grow together)"
            )
        return base

    def log_likelihood(self, frequency, monetary_value):
        """Per-customer log-likelihood of the average spend (frequency > 0)."""
        x, m = check_spend(frequency, monetary_value)
        return gamma_gamma_log_likelihood(*self._p(), x, m)

    def conditional_expected_spend(self, frequency, monetary_value):
        """E[spend per transaction | x, m_x] = (p(gamma + x m_x)) / (p x + q - 1) ([FHL05b]).

        A weighted average of the population mean p gamma / (q - 1) and the customer's own
        average; customers with frequency 0 get the population mean. Requires q > 1.
        """
        x, m = check_spend(frequency, monetary_value)
        p, q, g = self._p()
        if q <= 1:
            raise ModelError(
                f"q = {q:.3g} <= 1: the population mean spend p*gamma/(q-1) does not exist"
            )
        return p * (g + x * m) / (p * x + q - 1.0)

    def expected_spend_unconditional(self):
        """Population mean spend per transaction, p gamma / (q - 1)."""
        p, q, g = self._p()
        return p * g / (q - 1.0) if q > 1 else float("inf")

    def simulate(self, frequency, random_state=None, return_latent=False):
        """Simulate average spend for the given frequencies from the fitted parameters."""
        params = dict(zip(self._param_names, self._p(), strict=True))
        return simulate_gamma_gamma(
            frequency, **params, random_state=random_state, return_latent=return_latent
        )
