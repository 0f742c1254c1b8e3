"""Pure, numerically stable log-likelihoods of the buy-till-you-die models.

Every function takes natural parameters and per-customer arrays and returns the per-customer
log-likelihood (weights and sums are left to the caller). All work is in log space with
``gammaln``/``betaln`` and log-sum-exp, so no term over- or underflows for large frequencies.

The ``*Objective`` classes are the fitting versions: built once from *compressed* data (unique
rows plus weights), they precompute everything that does not depend on the parameters, group the
terms that depend only on the frequency by its unique values, and return the total weighted
negative log-likelihood in log-parameter space (with its analytic gradient where there is one).

References
----------
[FHL05a] Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
    the Pareto/NBD Model", Marketing Science 24(2).
[BDK07] Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models
    for customer base analysis", IJRM 24(3) (the MBG/NBD model).
[SMC87] Schmittlein, Morrison & Colombo (1987), "Counting Your Customers: Who Are They and What
    Will They Do Next?", Management Science 33(1).
[FH05] Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related
    Expressions", http://brucehardie.com/notes/009/.
[FHS10] Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time Noncontractual
    Setting", Marketing Science 29(6).
[FHL05b] Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
    Analysis", JMR 42(4); Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value",
    http://brucehardie.com/notes/025/; Colombo & Jiang (1999), JIM 13(2).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from segmint.predict._base import unique_rows, wsum

__all__ = [
    "bg_nbd_log_likelihood",
    "mbg_nbd_log_likelihood",
    "pareto_nbd_log_likelihood",
    "bgbb_log_likelihood",
    "gamma_gamma_log_likelihood",
]


# --------------------------------------------------------------------------------------------
# BG/NBD and MBG/NBD
# --------------------------------------------------------------------------------------------
# Both have the form (FHL05a eq. 6; BDK07 eq. for the MBG likelihood)
#   ln L = ln A1 + logaddexp(B2(x) - (r+x) ln(alpha+T),  B3(x) - (r+x) ln(alpha+t_x))
#   ln A1 = lnG(r+x) - lnG(r) + r ln(alpha)
#   B2 = ln B(a + i2, b + j2(x)) - ln B(a, b),  B3 = ln B(a + i3, b + j3(x)) - ln B(a, b)
# BG/NBD:  (i2, j2) = (0, x),   (i3, j3) = (1, x - 1), the second term only when x > 0.
# MBG/NBD: (i2, j2) = (0, x+1), (i3, j3) = (1, x),     the second term for every customer.
_BG_OFFSETS = {"bg": ((0, 0), (1, -1), True), "mbg": ((0, 1), (1, 0), False)}


def _two_term_ll(kind: str, r, alpha, a, b, x, t_x, T):
    (i2, j2), (i3, j3), only_repeaters = _BG_OFFSETS[kind]
    x = np.asarray(x, dtype=float)
    ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    lbab = betaln(a, b)
    ln_a2 = betaln(a + i2, b + x + j2) - lbab - (r + x) * np.log(alpha + T)
    with np.errstate(invalid="ignore", divide="ignore"):
        ln_a3 = betaln(a + i3, b + x + j3) - lbab - (r + x) * np.log(alpha + t_x)
    if only_repeaters:
        ln_a3 = np.where(x > 0, ln_a3, -np.inf)
    return ln_a1 + np.logaddexp(ln_a2, ln_a3)


def bg_nbd_log_likelihood(r, alpha, a, b, frequency, recency, T):
    """Per-customer BG/NBD log-likelihood, [FHL05a] eq. (6) in log space.

    Examples
    --------
    >>> float(bg_nbd_log_likelihood(0.243, 4.414, 0.793, 2.426, 0, 0, 38.86)) < 0
    True
    """
    return _two_term_ll("bg", r, alpha, a, b, frequency, recency, T)


def mbg_nbd_log_likelihood(r, alpha, a, b, frequency, recency, T):
    """Per-customer MBG/NBD log-likelihood ([BDK07]; dropout also possible at time 0).

    L = B(a, b+x+1)/B(a,b) * NBD-term(T) + B(a+1, b+x)/B(a,b) * NBD-term(t_x), where
    NBD-term(t) = Gamma(r+x) alpha^r / (Gamma(r) (alpha+t)^(r+x)).
    """
    return _two_term_ll("mbg", r, alpha, a, b, frequency, recency, T)


def _dbeta_ratio(a, b, i, j):
    """d/da and d/db of ln B(a+i, b+j) - ln B(a, b) (j may be an array)."""
    dab = digamma(a + b)
    s = digamma(a + b + i + j)
    da = digamma(a + i) - s - digamma(a) + dab
    db = digamma(b + j) - s - digamma(b) + dab
    return da, db


class TwoTermObjective:
    """Weighted BG/NBD or MBG/NBD negative log-likelihood with analytic gradient.

    Terms that depend on the parameters and the frequency only are computed once per unique
    frequency; only two logarithms per unique (x, t_x, T) row remain per evaluation.
    """

    has_grad = True

    def __init__(self, kind: str, x, t_x, T, w):
        (self.i2, self.j2), (self.i3, self.j3), only_rep = _BG_OFFSETS[kind]
        self.xu, self.xi = np.unique(x, return_inverse=True)
        self.x, self.t_x, self.T, self.w = x, t_x, T, w
        self.Wx = np.bincount(self.xi, weights=w, minlength=self.xu.size)
        self.sw = w.sum()
        self.has3_u = (self.xu > 0) if only_rep else np.ones(self.xu.size, dtype=bool)
        self.has3 = self.has3_u[self.xi]
        self.sum_wx = wsum(w, x)

    def __call__(self, theta):
        r, alpha, a, b = np.exp(theta)
        xu, xi, w = self.xu, self.xi, self.w
        lbab = betaln(a, b)
        g1 = gammaln(r + xu) - gammaln(r)
        b2 = betaln(a + self.i2, b + xu + self.j2) - lbab
        with np.errstate(invalid="ignore", divide="ignore"):
            b3 = np.where(self.has3_u, betaln(a + self.i3, b + xu + self.j3) - lbab, -np.inf)
        rx = r + self.x
        lT = np.log(alpha + self.T)
        ltx = np.log(alpha + self.t_x)
        a2 = b2[xi] - rx * lT
        a3 = b3[xi] - rx * ltx
        m = np.logaddexp(a2, a3)
        ll = wsum(self.Wx, g1) + self.sw * r * np.log(alpha) + wsum(w, m)
        # gradient: d ln L = dA1 + w2 dA2 + w3 dA3 with w2 + w3 = 1 (softmax weights)
        w3 = np.exp(a3 - m)
        w2 = 1.0 - w3
        ww2, ww3 = w * w2, w * w3
        W2u = np.bincount(xi, weights=ww2, minlength=xu.size)
        W3u = np.bincount(xi, weights=ww3, minlength=xu.size)
        d_r = (
            wsum(self.Wx, digamma(r + xu) - digamma(r))
            + self.sw * np.log(alpha)
            - wsum(ww2, lT)
            - wsum(ww3, ltx)
        )
        d_alpha = (
            self.sw * r / alpha
            - wsum(ww2 * rx, 1.0 / (alpha + self.T))
            - wsum(ww3 * rx, 1.0 / (alpha + self.t_x))
        )
        da2, db2 = _dbeta_ratio(a, b, self.i2, xu + self.j2)
        with np.errstate(invalid="ignore", divide="ignore"):
            da3, db3 = _dbeta_ratio(a, b, self.i3, xu + self.j3)
        da3 = np.where(self.has3_u, da3, 0.0)
        db3 = np.where(self.has3_u, db3, 0.0)
        d_a = wsum(W2u, da2) + wsum(W3u, da3)
        d_b = wsum(W2u, db2) + wsum(W3u, db3)
        grad = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -ll, -grad


# --------------------------------------------------------------------------------------------
# Pareto/NBD
# --------------------------------------------------------------------------------------------
# [FH05] (section 3, the likelihood with the A0 term; SMC87 give the original form):
#   L = Gamma(r+x) alpha^r beta^s / Gamma(r) *
#       [ 1 / ((alpha+T)^(r+x) (beta+T)^s)  +  s/(r+s+x) * A0 ]
#   alpha >= beta: A0 = F(t_x) - F(T),
#       F(t) = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t)) / (alpha+t)^(r+s+x)
#   beta > alpha:  F(t) = 2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+t)) / (beta+t)^(r+s+x)
# The branch keeps the 2F1 argument in [0, 1), where the series has positive terms and scipy's
# hyp2f1 is accurate. A0 is a difference of two positive numbers; we take
#   ln A0 = ln F(t_x) + log1p(-exp(ln F(T) - ln F(t_x)))
# (A0 = s^-1 (r+s+x) * integral_{t_x}^T (alpha+u)^-(r+x) (beta+u)^-(s+1) du >= 0, zero iff t_x = T).


def _pareto_log_f(r, alpha, s, beta, x, t):
    """ln F(t) of the A0 expression, branch chosen by alpha >= beta."""
    a1 = r + s + x
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        return np.log(hyp2f1(a1, s + 1.0, a1 + 1.0, z)) - a1 * np.log(alpha + t)
    z = (beta - alpha) / (beta + t)
    return np.log(hyp2f1(a1, r + x, a1 + 1.0, z)) - a1 * np.log(beta + t)


def _log_a0_from_f(lf_tx, lf_T):
    with np.errstate(divide="ignore"):
        return lf_tx + np.log1p(-np.minimum(np.exp(lf_T - lf_tx), 1.0))


# Where one of alpha, beta is far above the other plus T (the dropout rate barely identified,
# s and beta large), the 2F1 argument is near 1 and scipy's hyp2f1 takes 50-100x longer. There
# A0 comes from its integral instead: with near = min(alpha, beta), far = max, p and q the
# powers of (near+u) and (far+u), c = far - near and v = near + u,
#   A0 (s / (r+s+x)) = s int_{t_x}^{T} v^-p (v+c)^-q du
#                    = s c^-q sum_k binom(-q, k) c^-k int_{near+t_x}^{near+T} v^(k-p) dv.
# The terms alternate in sign and each is at most max(q, 1) (near+T)/c times the one before,
# so where that ratio is at most _SERIES_RATIO the sum is at least half its first term, and
# n terms leave an error below ratio^n of it: a block takes the terms its largest ratio needs
# for 1e-17 (at most 58).
_SERIES_RATIO = 0.5
_SERIES_BLOCK = 50_000


def _series_ratio(r, alpha, s, beta, x, T):
    """The bound on each term of the series over the one before, by row."""
    q = s + 1.0 if beta > alpha else r + x
    with np.errstate(divide="ignore"):
        return np.maximum(q, 1.0) * (min(alpha, beta) + T) / abs(beta - alpha)


def _series_rows(r, alpha, s, beta, x, T):
    """Rows (customers) whose A0 the binomial series gives to double precision."""
    return _series_ratio(r, alpha, s, beta, x, T) <= _SERIES_RATIO


def _series_log_a0(r, alpha, s, beta, x, t_x, T):
    """ln A0 by the binomial series (for the rows of :func:`_series_rows`), a block of rows at
    a time: each row holds up to 58 terms, so memory stays bounded for any customers."""
    blocks = range(0, max(x.size, 1), _SERIES_BLOCK)
    return np.concatenate(
        [
            _series_block(r, alpha, s, beta, *(a[i : i + _SERIES_BLOCK] for a in (x, t_x, T)))
            for i in blocks
        ]
    )


def _series_block(r, alpha, s, beta, x, t_x, T):
    if beta > alpha:
        near, p, q = alpha, r + x, np.full_like(x, s + 1.0)
    else:
        near, p, q = beta, np.full_like(x, s + 1.0), r + x
    log_c = np.log(abs(beta - alpha))
    v1, v2 = near + t_x, near + T
    span = np.log(v2 / v1)
    worst = _series_ratio(r, alpha, s, beta, x, T).max(initial=1e-3)
    k = np.arange(int(np.ceil(np.log(1e-17) / np.log(max(worst, 1e-3)))) + 1, dtype=float)
    # q takes few values (one where beta > alpha, one per frequency otherwise)
    q_values, q_index = np.unique(q, return_inverse=True)
    log_binomial = (gammaln(q_values[:, None] + k) - gammaln(q_values)[:, None] - gammaln(k + 1.0))[
        q_index
    ]
    e = k - p[:, None] + 1.0  # the power of v after integrating v^(k-p)
    el = e * span[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        # int v^e/e, written so that nothing overflows: (v2^e - v1^e)/e is v1^e (e^(e L) - 1)/e
        # for e < 0 and v2^e (1 - e^(-e L))/e for e > 0, both factors after v^e within (0, L]
        part = np.where(e < 0, np.expm1(el) / e, -np.expm1(-el) / e)
        part = np.where(e == 0, span[:, None], part)
        log_terms = (
            log_binomial
            - k * log_c
            + e * np.log(np.where(e < 0, v1[:, None], v2[:, None]))
            + np.log(part)
        )
        top = log_terms.max(axis=1)
        signs = np.where(k % 2 == 0, 1.0, -1.0)
        total = np.sum(signs * np.exp(log_terms - top[:, None]), axis=1)
        log_integral = -q * log_c + top + np.log(total)
    # t_x = T: no time to die unseen, A0 = 0
    log_integral = np.where(span > 0, log_integral, -np.inf)
    return np.log(r + s + x) + log_integral


def _pareto_log_a0(r, alpha, s, beta, x, t_x, T):
    x, t_x, T = (np.asarray(a, dtype=float) for a in np.broadcast_arrays(x, t_x, T))
    series = _series_rows(r, alpha, s, beta, x, T)
    out = np.empty(x.shape)
    out[series] = _series_log_a0(r, alpha, s, beta, x[series], t_x[series], T[series])
    rest = ~series
    out[rest] = _log_a0_from_f(
        _pareto_log_f(r, alpha, s, beta, x[rest], t_x[rest]),
        _pareto_log_f(r, alpha, s, beta, x[rest], T[rest]),
    )
    return out


def _pareto_terms(r, alpha, s, beta, x, t_x, T, log_a0=None):
    """(ln of the 'alive at T' term, ln of the 's/(r+s+x) A0' term), both without the prefix."""
    x = np.asarray(x, dtype=float)
    live = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    if log_a0 is None:
        log_a0 = _pareto_log_a0(r, alpha, s, beta, x, t_x, T)
    dead = np.log(s) - np.log(r + s + x) + log_a0
    return live, dead


def pareto_nbd_log_likelihood(r, alpha, s, beta, frequency, recency, T):
    """Per-customer Pareto/NBD log-likelihood ([FH05] likelihood with A0; [SMC87]).

    Examples
    --------
    >>> float(pareto_nbd_log_likelihood(0.553, 10.578, 0.606, 11.669, 2, 30.43, 38.86)) < 0
    True
    """
    x = np.asarray(frequency, dtype=float)
    live, dead = _pareto_terms(r, alpha, s, beta, x, recency, T)
    prefix = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return prefix + np.logaddexp(live, dead)


class ParetoObjective:
    """Weighted Pareto/NBD negative log-likelihood on compressed data (no analytic gradient).

    The expensive 2F1 terms depend on (x, t_x) and (x, T) only, so they are evaluated once per
    unique pair and gathered; for data recorded by day this is far fewer than the customers.
    Rows where the binomial series of :func:`_series_log_a0` converges fast (alpha and beta far
    apart, where hyp2f1 is slowest and least accurate) take the series instead.
    """

    has_grad = False

    def __init__(self, x, t_x, T, w):
        self.x, self.t_x, self.T, self.w = x, t_x, T, w
        self.xu, self.xi = np.unique(x, return_inverse=True)
        self.Wx = np.bincount(self.xi, weights=w, minlength=self.xu.size)
        self.sw = w.sum()
        k1, self.i1 = unique_rows(x, t_x)
        k2, self.i2 = unique_rows(x, T)
        self.k1, self.k2 = k1, k2
        self.n_hyp = k1[0].size + k2[0].size

    def __call__(self, theta):
        r, alpha, s, beta = np.exp(theta)
        series = _series_rows(r, alpha, s, beta, self.x, self.T)
        log_a0 = np.empty(self.x.shape)
        if series.any():
            log_a0[series] = _series_log_a0(
                r, alpha, s, beta, self.x[series], self.t_x[series], self.T[series]
            )
        if not series.all():
            rest = ~series
            log_a0[rest] = _log_a0_from_f(
                self._log_f(r, alpha, s, beta, self.k1, self.i1, rest),
                self._log_f(r, alpha, s, beta, self.k2, self.i2, rest),
            )
        live, dead = _pareto_terms(r, alpha, s, beta, self.x, self.t_x, self.T, log_a0)
        ll = (
            wsum(self.Wx, gammaln(r + self.xu) - gammaln(r))
            + self.sw * (r * np.log(alpha) + s * np.log(beta))
            + wsum(self.w, np.logaddexp(live, dead))
        )
        return -ll

    @staticmethod
    def _log_f(r, alpha, s, beta, keys, index, rows):
        """ln F at the unique (x, t) pairs that ``rows`` use, gathered for those rows."""
        used = np.unique(index[rows])
        values = np.empty(keys[0].size)
        values[used] = _pareto_log_f(r, alpha, s, beta, keys[0][used], keys[1][used])
        return values[index[rows]]


# --------------------------------------------------------------------------------------------
# BG/BB
# --------------------------------------------------------------------------------------------
# [FHS10] eq. (5):
#   L(alpha, beta, gamma, delta | x, t_x, n) =
#       B(alpha+x, beta+n-x)/B(alpha,beta) * B(gamma, delta+n)/B(gamma,delta)
#     + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i)/B(alpha,beta)
#                           * B(gamma+1, delta+t_x+i)/B(gamma,delta)


def bgbb_log_likelihood(alpha, beta, gamma, delta, frequency, recency, n_periods):
    """Per-customer BG/BB log-likelihood, [FHS10] eq. (5), summed with log-sum-exp."""
    x = np.atleast_1d(np.asarray(frequency, dtype=float))
    tx = np.atleast_1d(np.asarray(recency, dtype=float))
    n = np.atleast_1d(np.asarray(n_periods, dtype=float))
    x, tx, n = np.broadcast_arrays(x, tx, n)
    lbab = betaln(alpha, beta)
    lbgd = betaln(gamma, delta)
    first = betaln(alpha + x, beta + n - x) - lbab + betaln(gamma, delta + n) - lbgd
    kmax = int(np.max(n - tx)) if x.size else 0
    if kmax == 0:
        return first
    i = np.arange(kmax)[None, :]
    valid = i < (n - tx)[:, None]
    terms = (
        betaln(alpha + x[:, None], beta + tx[:, None] - x[:, None] + i)
        - lbab
        + betaln(gamma + 1.0, delta + tx[:, None] + i)
        - lbgd
    )
    terms = np.where(valid, terms, -np.inf)
    mx = np.maximum(first, terms.max(axis=1))
    total = np.exp(first - mx) + np.exp(terms - mx[:, None]).sum(axis=1)
    return mx + np.log(total)


class BGBBObjective:
    """Weighted BG/BB negative log-likelihood on compressed (x, t_x, n) rows."""

    has_grad = False

    def __init__(self, x, t_x, n, w):
        self.x, self.t_x, self.n, self.w = x, t_x, n, w

    def __call__(self, theta):
        al, be, ga, de = np.exp(theta)
        return -wsum(self.w, bgbb_log_likelihood(al, be, ga, de, self.x, self.t_x, self.n))


# --------------------------------------------------------------------------------------------
# Gamma-Gamma spend
# --------------------------------------------------------------------------------------------
# [FHL05b] / Fader & Hardie (2013): with z ~ Gamma(p, nu), nu ~ Gamma(q, gamma), the average
# z_bar = m of x transactions has density
#   f(m | p, q, gamma, x) = Gamma(px+q) / (Gamma(px) Gamma(q)) *
#                           gamma^q m^(px-1) x^(px) / (gamma + m x)^(px+q)


def gamma_gamma_log_likelihood(p, q, gamma, frequency, monetary_value):
    """Per-customer Gamma-Gamma log-likelihood of the average spend (frequency > 0 only)."""
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + m * x)
    )


class GammaGammaObjective:
    """Weighted Gamma-Gamma negative log-likelihood with analytic gradient."""

    has_grad = True

    def __init__(self, x, m, w):
        self.x, self.m, self.w = x, m, w
        self.lm = np.log(m)
        self.lx = np.log(x)
        self.mx = m * x
        self.sw = w.sum()
        self.xlmx = w * x * (self.lm + self.lx)
        self.wlm = wsum(w, self.lm)

    def __call__(self, theta):
        p, q, g = np.exp(theta)
        x, w = self.x, self.w
        px = p * x
        lg = np.log(g + self.mx)
        ll = (
            wsum(w, gammaln(px + q) - gammaln(px) - (px + q) * lg)
            + p * float(self.xlmx.sum())
            - self.wlm
            + self.sw * (q * np.log(g) - gammaln(q))
        )
        dpq = digamma(px + q)
        d_p = wsum(w * x, dpq - digamma(px) - lg) + float(self.xlmx.sum())
        d_q = wsum(w, dpq - lg) + self.sw * (np.log(g) - digamma(q))
        d_g = self.sw * q / g - wsum(w, (px + q) / (g + self.mx))
        grad = np.array([d_p * p, d_q * q, d_g * g])
        return -ll, -grad
