"""Pareto/NBD estimator ([SMC87], likelihood and expressions from [FH05]).

See :mod:`segmint.predict.likelihoods` for the references.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, expit, gammaln, hyp2f1

from segmint.predict._base import BTYDModel
from segmint.predict._validation import check_rfm
from segmint.predict.likelihoods import (
    ParetoObjective,
    _pareto_terms,
    pareto_nbd_log_likelihood,
)
from segmint.predict.simulate import simulate_pareto_nbd

__all__ = ["ParetoNBD"]


class ParetoNBD(BTYDModel):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    While alive, purchases are Poisson with rate lambda ~ Gamma(r, alpha); lifetimes are
    exponential with rate mu ~ Gamma(s, beta).

    The likelihood's 2F1 terms are evaluated once per unique (frequency, recency) and
    (frequency, T) pair, and the gradient is by forward differences in log space.

    Parameters
    ----------
    max_iter, tol, warm_start_rows
        As for :class:`~segmint.predict.BetaGeoNBD`.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta``.
    standard_errors_, covariance_log_, log_likelihood_, n_iter_, converged_

    Examples
    --------
    >>> from segmint.predict import ParetoNBD
    >>> m = ParetoNBD.from_params({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
    >>> round(float(m.expected_purchases_unconditional(39.0)), 3)
    1.213
    """

    _param_names = ("r", "alpha", "s", "beta")
    _no_repeat_message = (
        "frequency is 0 for all customers: the repeat-purchase rate cannot be identified"
    )
    _check_data = staticmethod(check_rfm)

    def fit(self, frequency, recency, T, weights=None):
        """Fit by maximum likelihood; same arguments as :meth:`BetaGeoNBD.fit`."""
        return self._fit((frequency, recency, T), weights)

    def _make_objective(self, x, tx, T, w):
        return ParetoObjective(x, tx, T, w)

    def _start(self, x, tx, T, w):
        rate = max(float(np.dot(w, x)), 1.0) / max(float(np.dot(w, T)), 1e-8)
        mean_T = float(np.dot(w, T) / w.sum())
        return np.array([1.0, 1.0 / rate, 1.0, max(mean_T, 1e-3)])

    def _diverged_message(self, name, value):
        base = super()._diverged_message(name, value)
        if name in ("s", "beta") and value > 1:
            return (
                f"{base}: dropout is not identifiable — either too few lapsed customers or no "
                "heterogeneity in lifetimes (s and beta grow together)"
            )
        if name in ("r", "alpha") and value > 1:
            return (
                f"{base}: purchase rates show no heterogeneity across customers (r and alpha "
                "grow together)"
            )
        return base

    def log_likelihood(self, frequency, recency, T):
        """Per-customer log-likelihood at the fitted parameters."""
        x, tx, TT = check_rfm(frequency, recency, T)
        return pareto_nbd_log_likelihood(*self._p(), x, tx, TT)

    def p_alive(self, frequency, recency, T):
        """P(alive at T | x, t_x, T) = alive-term / (alive-term + s/(r+s+x) A0) ([FH05])."""
        x, tx, TT = check_rfm(frequency, recency, T)
        live, dead = _pareto_terms(*self._p(), x, tx, TT)
        return expit(live - dead)

    def expected_purchases(self, t, frequency, recency, T):
        """Expected purchases in (T, T+t] given history ([SMC87]; [FH05]).

        E = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive);
        the s -> 1 limit is (r+x)(beta+T)/(alpha+T) ln((beta+T+t)/(beta+T)) P(alive).
        """
        x, tx, TT = check_rfm(frequency, recency, T)
        r, alpha, s, beta = self._p()
        t = np.asarray(t, dtype=float)
        return (
            (r + x) / (alpha + TT) * _lifetime_integral(s, beta + TT, t) * self.p_alive(x, tx, TT)
        )

    def expected_purchases_unconditional(self, t):
        """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] for a new customer."""
        r, alpha, s, beta = self._p()
        return r / alpha * _lifetime_integral(s, beta, np.asarray(t, dtype=float))

    def prob_k_purchases(self, k, t):
        """P(X(t) = k) for a new customer ([FH05], the expression for P(X(t) = x)).

        P = Gamma(r+k)/(Gamma(r) k!) (alpha/(alpha+t))^r (t/(alpha+t))^k (beta/(beta+t))^s
          + alpha^r beta^s B(r+k, s+1)/B(r, s) [B1 - sum_{i=0}^{k} Gamma(r+s+i)/Gamma(r+s)
            t^i / i! B2(i)],
        with B1, B2 the 2F1 expressions of the note (branch on alpha >= beta). ``k`` must be a
        scalar integer; ``t`` may be an array.
        """
        r, alpha, s, beta = self._p()
        k = int(k)
        t = np.asarray(t, dtype=float)
        c = r + s + k + 1.0
        first = (
            np.exp(
                gammaln(r + k)
                - gammaln(r)
                - gammaln(k + 1.0)
                + r * (np.log(alpha) - np.log(alpha + t))
                + k * (np.log(t) - np.log(alpha + t))
                + s * (np.log(beta) - np.log(beta + t))
            )
            if k > 0
            else np.exp(
                r * (np.log(alpha) - np.log(alpha + t)) + s * (np.log(beta) - np.log(beta + t))
            )
        )
        if alpha >= beta:
            big, b_arg = alpha, s + 1.0
        else:
            big, b_arg = beta, r + k
        diff = abs(alpha - beta)
        lb1 = np.log(hyp2f1(r + s, b_arg, c, diff / big)) - (r + s) * np.log(big)
        terms = []
        for i in range(k + 1):
            with np.errstate(divide="ignore"):
                lt = i * np.log(t) if i > 0 else np.zeros_like(t)
            terms.append(
                gammaln(r + s + i)
                - gammaln(r + s)
                + lt
                - gammaln(i + 1.0)
                + np.log(hyp2f1(r + s + i, b_arg, c, diff / (big + t)))
                - (r + s + i) * np.log(big + t)
            )
        from scipy.special import logsumexp

        lb2 = logsumexp(np.stack(terms), axis=0)
        with np.errstate(divide="ignore"):
            bracket = np.exp(lb1) * -np.expm1(np.minimum(lb2 - lb1, 0.0))
        pref = np.exp(r * np.log(alpha) + s * np.log(beta) + betaln(r + k, s + 1.0) - betaln(r, s))
        return first + pref * bracket

    def simulate(self, n_customers, T, random_state=None, return_latent=False):
        """Simulate customers from the fitted parameters."""
        params = dict(zip(self._param_names, self._p(), strict=True))
        return simulate_pareto_nbd(
            n_customers, T, **params, random_state=random_state, return_latent=return_latent
        )


def _lifetime_integral(s, b0, t):
    """integral_0^t (b0/(b0+u))^s ... = b0/(s-1) [1 - (b0/(b0+t))^(s-1)], stable near s = 1."""
    ln_ratio = np.log(b0) - np.log(b0 + t)  # <= 0
    sm1 = s - 1.0
    if abs(sm1) < 1e-8:
        return -b0 * ln_ratio
    return b0 / sm1 * -np.expm1(sm1 * ln_ratio)
