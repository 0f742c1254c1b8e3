"""BG/BB estimator for discrete transaction opportunities ([FHS10]).

See :mod:`segmint.predict.likelihoods` for the references.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, gammaln

from segmint.predict._base import BTYDModel
from segmint.predict._validation import check_bgbb
from segmint.predict.likelihoods import BGBBObjective, bgbb_log_likelihood
from segmint.predict.simulate import simulate_bgbb

__all__ = ["BetaGeoBetaBinom"]


class BetaGeoBetaBinom(BTYDModel):
    """BG/BB model (Fader, Hardie & Shang 2010) for discrete transaction opportunities.

    While alive a customer transacts at each opportunity with probability p ~ Beta(alpha, beta)
    and dies before each opportunity with probability theta ~ Beta(gamma, delta).

    ``fit(frequency, recency, n_periods)``: frequency = transactions in the n_periods
    opportunities after the first, recency = the opportunity of the last one (0 if none).

    Attributes
    ----------
    params_ : dict
        ``alpha``, ``beta``, ``gamma``, ``delta``.
    standard_errors_, covariance_log_, log_likelihood_, n_iter_, converged_

    Examples
    --------
    >>> from segmint.predict import BetaGeoBetaBinom
    >>> m = BetaGeoBetaBinom.from_params(
    ...     {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
    >>> round(float(m.expected_purchases_unconditional(6)), 3)
    2.22
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _no_repeat_message = (
        "frequency is 0 for all customers: the transaction probability cannot be identified"
    )
    _check_data = staticmethod(check_bgbb)

    def fit(self, frequency, recency, n_periods, weights=None):
        """Fit by maximum likelihood on compressed (frequency, recency, n_periods) rows."""
        return self._fit((frequency, recency, n_periods), weights)

    def _make_objective(self, x, tx, n, w):
        return BGBBObjective(x, tx, n, w)

    def _start(self, x, tx, n, w):
        return np.array([1.0, 1.0, 1.0, 1.0])

    def _diverged_message(self, name, value):
        base = super()._diverged_message(name, value)
        if name == "delta" and value > 1:
            return f"{base}: dropout is not identifiable — too few lapsed customers"
        if name in ("gamma", "delta"):
            return f"{base}: no heterogeneity in dropout is detectable"
        return f"{base}: no heterogeneity in the transaction probability is detectable"

    def log_likelihood(self, frequency, recency, n_periods):
        """Per-customer log-likelihood, [FHS10] eq. (5)."""
        x, tx, n = check_bgbb(frequency, recency, n_periods)
        return bgbb_log_likelihood(*self._p(), x, tx, n)

    def p_alive(self, frequency, recency, n_periods):
        """P(alive at opportunity n+1 | x, t_x, n), [FHS10] eq. (11)."""
        x, tx, n = check_bgbb(frequency, recency, n_periods)
        al, be, ga, de = self._p()
        num = betaln(al + x, be + n - x) - betaln(al, be) + betaln(ga, de + n + 1) - betaln(ga, de)
        return np.exp(num - bgbb_log_likelihood(al, be, ga, de, x, tx, n))

    def expected_purchases(self, t, frequency, recency, n_periods):
        """Expected transactions in the next ``t`` opportunities given history, [FHS10] eq. (13)."""
        x, tx, n = check_bgbb(frequency, recency, n_periods)
        al, be, ga, de = self._p()
        t = np.asarray(t, dtype=float)
        ll = bgbb_log_likelihood(al, be, ga, de, x, tx, n)
        lead = betaln(al + x + 1, be + n - x) - betaln(al, be) - ll
        return np.exp(lead) * _future(ga, de, n, t)

    def expected_purchases_unconditional(self, n):
        """E[X(n)] for a new customer over n opportunities, [FHS10] eq. (7)."""
        al, be, ga, de = self._p()
        return al / (al + be) * _future(ga, de, 0.0, np.asarray(n, dtype=float))

    def prob_k_purchases(self, k, n):
        """P(X(n) = k) for a new customer over n opportunities, [FHS10] eq. (6).

        ``k`` and ``n`` are scalar integers.
        """
        al, be, ga, de = self._p()
        k, n = int(k), int(n)
        if k > n or k < 0:
            return 0.0
        lbab, lbgd = betaln(al, be), betaln(ga, de)

        def lchoose(a, b):
            return gammaln(a + 1.0) - gammaln(b + 1.0) - gammaln(a - b + 1.0)

        terms = [lchoose(n, k) + betaln(al + k, be + n - k) - lbab + betaln(ga, de + n) - lbgd]
        for i in range(k, n):
            terms.append(
                lchoose(i, k) + betaln(al + k, be + i - k) - lbab + betaln(ga + 1, de + i) - lbgd
            )
        return float(np.exp(np.logaddexp.reduce(terms)))

    def simulate(self, n_customers, n_periods, random_state=None, return_latent=False):
        """Simulate customers from the fitted parameters."""
        params = dict(zip(self._param_names, self._p(), strict=True))
        return simulate_bgbb(
            n_customers,
            n_periods,
            **params,
            random_state=random_state,
            return_latent=return_latent,
        )


def _future(ga, de, n, t):
    """delta/(gamma-1) Gamma(gamma+delta)/Gamma(1+delta) *
    [Gamma(1+delta+n)/Gamma(gamma+delta+n) - Gamma(1+delta+n+t)/Gamma(gamma+delta+n+t)]."""
    c = np.log(de) - np.log(abs(ga - 1.0)) + gammaln(ga + de) - gammaln(1.0 + de)
    u = gammaln(1.0 + de + n) - gammaln(ga + de + n)
    v = gammaln(1.0 + de + n + t) - gammaln(ga + de + n + t)
    # u > v when gamma > 1, u < v when gamma < 1; the sign cancels with |gamma - 1|
    return np.exp(c + np.maximum(u, v)) * -np.expm1(-np.abs(u - v))
