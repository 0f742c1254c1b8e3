"""Exact, vectorised simulators for the buy-till-you-die models (one draw per customer).

Each returns a dict of arrays: ``frequency``, ``recency``, ``T`` (``n_periods`` for BG/BB) and,
with ``return_latent=True``, the customer's latent values and whether they are still alive at
the end of observation. Time starts at each customer's first purchase.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "simulate_bg_nbd",
    "simulate_mbg_nbd",
    "simulate_pareto_nbd",
    "simulate_bgbb",
    "simulate_gamma_gamma",
]


def _T(T, n_customers):
    T = np.broadcast_to(np.asarray(T, dtype=float), (n_customers,)).copy()
    if np.any(T < 0):
        raise ValueError("T must be >= 0")
    return T


def _last_event_time(rng, n_events, x, horizon):
    """Time of the x-th of n_events uniform events on [0, horizon] (0 when x = 0).

    The x-th order statistic of n uniforms is Beta(x, n - x + 1).
    """
    out = np.zeros_like(horizon)
    pos = x > 0
    out[pos] = horizon[pos] * rng.beta(x[pos], n_events[pos] - x[pos] + 1)
    return out


def _geo_nbd(n_customers, T, r, alpha, a, b, random_state, return_latent, modified):
    rng = np.random.default_rng(random_state)
    T = _T(T, n_customers)
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    p = rng.beta(a, b, n_customers)
    # number of repeat purchases after which the customer drops out:
    # BG/NBD drops after purchase j >= 1 w.p. p(1-p)^(j-1); MBG/NBD also at time 0.
    k = rng.geometric(p) - (1 if modified else 0)
    n_events = rng.poisson(lam * T)
    x = np.minimum(k, n_events).astype(float)
    recency = _last_event_time(rng, n_events.astype(float), x, T)
    out = {"frequency": x, "recency": recency, "T": T}
    if return_latent:
        out.update(**{"lambda": lam, "p": p, "alive": n_events < k})
    return out


def simulate_bg_nbd(
    n_customers, T, *, r, alpha, a, b, random_state=None, return_latent=False
) -> dict[str, np.ndarray]:
    """Simulate BG/NBD customers ([FHL05a] section 3 assumptions).

    Examples
    --------
    >>> d = simulate_bg_nbd(5, 10.0, r=0.5, alpha=2, a=1, b=3, random_state=0)
    >>> sorted(d)
    ['T', 'frequency', 'recency']
    """
    return _geo_nbd(n_customers, T, r, alpha, a, b, random_state, return_latent, False)


def simulate_mbg_nbd(
    n_customers, T, *, r, alpha, a, b, random_state=None, return_latent=False
) -> dict[str, np.ndarray]:
    """Simulate MBG/NBD customers (dropout also possible right after the first purchase)."""
    return _geo_nbd(n_customers, T, r, alpha, a, b, random_state, return_latent, True)


def simulate_pareto_nbd(
    n_customers, T, *, r, alpha, s, beta, random_state=None, return_latent=False
) -> dict[str, np.ndarray]:
    """Simulate Pareto/NBD customers: Poisson(lambda) purchases until an Exp(mu) lifetime."""
    rng = np.random.default_rng(random_state)
    T = _T(T, n_customers)
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    mu = rng.gamma(s, 1.0 / beta, n_customers)
    tau = rng.exponential(1.0 / mu)
    active = np.minimum(tau, T)
    x = rng.poisson(lam * active).astype(float)
    recency = _last_event_time(rng, x, x, active)
    out = {"frequency": x, "recency": recency, "T": T}
    if return_latent:
        out.update(**{"lambda": lam, "mu": mu, "lifetime": tau, "alive": tau > T})
    return out


def simulate_bgbb(
    n_customers, n_periods, *, alpha, beta, gamma, delta, random_state=None, return_latent=False
) -> dict[str, np.ndarray]:
    """Simulate BG/BB customers over ``n_periods`` transaction opportunities ([FHS10]).

    While alive a customer transacts with probability p at each opportunity; before each
    opportunity an alive customer dies with probability theta.
    """
    rng = np.random.default_rng(random_state)
    n = np.broadcast_to(np.asarray(n_periods, dtype=int), (n_customers,)).copy()
    p = rng.beta(alpha, beta, n_customers)
    theta = rng.beta(gamma, delta, n_customers)
    alive = np.ones(n_customers, dtype=bool)
    x = np.zeros(n_customers)
    t_x = np.zeros(n_customers)
    for t in range(1, int(n.max(initial=0)) + 1):
        inside = t <= n
        alive &= ~(inside & (rng.random(n_customers) < theta))
        buy = inside & alive & (rng.random(n_customers) < p)
        x += buy
        t_x[buy] = t
    out = {"frequency": x, "recency": t_x, "n_periods": n.astype(float)}
    if return_latent:
        out.update(**{"p": p, "theta": theta, "alive": alive})
    return out


def simulate_gamma_gamma(
    frequency, *, p, q, gamma, random_state=None, return_latent=False
) -> dict[str, np.ndarray]:
    """Simulate average spend per transaction for customers with the given frequencies.

    nu ~ Gamma(q, rate gamma); each transaction ~ Gamma(p, rate nu), so the mean of x of them
    is Gamma(p x, rate x nu). Customers with frequency 0 get monetary_value 0.
    """
    rng = np.random.default_rng(random_state)
    x = np.asarray(frequency, dtype=float)
    nu = rng.gamma(q, 1.0 / gamma, x.shape)
    m = np.zeros_like(x)
    pos = x > 0
    m[pos] = rng.gamma(p * x[pos], 1.0 / (x[pos] * nu[pos]))
    out = {"frequency": x, "monetary_value": m}
    if return_latent:
        out["expected_spend"] = p / nu
    return out
