"""Shared fitting machinery: compression, optimisation in log space, Hessian, diagnostics.

:class:`BTYDModel` is the scikit-learn estimator every buy-till-you-die model derives from, as
lifetimes' ``BaseFitter``: ``__init__`` stores the optimiser settings, and the one ``_fit``
preamble (check the inputs, compress identical rows into weights, optimise) serves every
model, whose public ``fit`` only names its own columns.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from segmint.errors import ModelError
from segmint.predict._validation import check_weights

__all__ = ["BTYDModel", "compress", "unique_rows", "wsum"]

LOG_LOWER = np.log(1e-8)
LOG_UPPER = np.log(1e8)
_DIVERGED = 1e7  # a parameter beyond this (or below 1/this) has run to the optimiser's bound


def unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of equal-length 1-D columns and the inverse index (a lexsort, no void view).

    Much faster than ``np.unique(..., axis=0)`` on millions of rows.
    """
    n = columns[0].shape[0]
    order = np.lexsort(columns[::-1])
    sorted_cols = [c[order] for c in columns]
    new = np.empty(n, dtype=bool)
    new[:1] = True
    if n > 1:
        diff = np.zeros(n - 1, dtype=bool)
        for c in sorted_cols:
            diff |= c[1:] != c[:-1]
        new[1:] = diff
    group = np.cumsum(new) - 1
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = group
    return [c[new] for c in sorted_cols], inverse


def compress(*columns: np.ndarray, weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Collapse identical rows of ``columns`` into unique rows with summed weights.

    Returns the unique columns and their weights; rows with zero weight are dropped.
    """
    keep = weights > 0
    if keep.all():
        cols = list(columns)
        wk = weights
    else:
        cols = [c[keep] for c in columns]
        wk = weights[keep]
    uniq, inv = unique_rows(*cols)
    w = np.bincount(inv, weights=wk, minlength=uniq[0].shape[0])
    return uniq, w


def wsum(w: np.ndarray, a: np.ndarray) -> float:
    """Weighted sum without BLAS (OpenBLAS threading makes ``np.dot`` erratic on small hosts)."""
    return float(np.einsum("i,i->", w, a))


def _numeric_grad(f: Callable[[np.ndarray], float], theta: np.ndarray, f0: float, h: float):
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        g[i] = (f(theta + e) - f0) / h
    return g


def numeric_hessian(objective, theta: np.ndarray) -> np.ndarray:
    """Hessian of the total negative log-likelihood at ``theta`` (log space).

    Central differences of the analytic gradient where there is one, otherwise second
    differences of the function.
    """
    k = theta.size
    H = np.empty((k, k))
    if objective.has_grad:
        h = 1e-5
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            H[:, j] = (objective(theta + e)[1] - objective(theta - e)[1]) / (2 * h)
    else:
        h = 1e-4
        f0 = objective(theta)
        fp = np.empty(k)
        fm = np.empty(k)
        for i in range(k):
            e = np.zeros(k)
            e[i] = h
            fp[i] = objective(theta + e)
            fm[i] = objective(theta - e)
            H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h**2
        for i in range(k):
            for j in range(i + 1, k):
                ei = np.zeros(k)
                ej = np.zeros(k)
                ei[i] = h
                ej[j] = h
                fpp = objective(theta + ei + ej)
                fmm = objective(theta - ei - ej)
                # f(+,+) + f(-,-) - f(+i) - f(-i) - f(+j) - f(-j) + 2 f0 = 2 h^2 H_ij
                H[i, j] = H[j, i] = (fpp + fmm - fp[i] - fm[i] - fp[j] - fm[j] + 2 * f0) / (
                    2 * h**2
                )
    return 0.5 * (H + H.T)


class BTYDModel(BaseEstimator):
    """Base class: scikit-learn estimator whose subclasses add only their math.

    Subclasses define ``_param_names``, ``_check_data(*columns)`` (validated float arrays,
    frequency first), ``_no_repeat_message``, ``_make_objective(*data, w)``,
    ``_start(*data, w)`` and ``_diverged_message(name, value)``; their ``fit`` calls
    :meth:`_fit`. Fitted attributes end in ``_``; before ``fit`` (or :meth:`from_params`)
    every prediction raises :class:`sklearn.exceptions.NotFittedError`.
    """

    _param_names: tuple[str, ...] = ()
    _no_repeat_message = "frequency is 0 for all customers: the model cannot be identified"

    def __init__(self, *, max_iter: int = 1000, tol: float = 1e-12, warm_start_rows: int = 50_000):
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start_rows = warm_start_rows

    # ---- construction from known parameters ------------------------------------------------
    @classmethod
    def from_params(cls, params: dict[str, float], **kwargs):
        """Return a model with the given parameters, as if fitted (no standard errors).

        Examples
        --------
        >>> from segmint.predict import BetaGeoNBD
        >>> m = BetaGeoNBD.from_params({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> round(float(m.p_alive(0, 0, 38.86)[0]), 3)
        1.0
        """
        model = cls(**kwargs)
        missing = [k for k in cls._param_names if k not in params]
        if missing:
            raise ModelError(f"{cls.__name__}.from_params is missing parameters {missing}")
        model.params_ = {k: float(params[k]) for k in cls._param_names}
        for k, v in model.params_.items():
            if not (np.isfinite(v) and v > 0):
                raise ModelError(f"parameter {k} must be a positive number, got {v!r}")
        model.standard_errors_ = {k: float("nan") for k in cls._param_names}
        model.covariance_log_ = None
        model.log_likelihood_ = float("nan")
        model.n_iter_ = 0
        model.converged_ = True
        return model

    def _p(self) -> tuple[float, ...]:
        check_is_fitted(self, "params_")
        return tuple(self.params_[k] for k in self._param_names)

    # ---- the shared fit preamble -----------------------------------------------------------
    def _fit(self, columns: tuple, weights) -> BTYDModel:
        """Check ``columns``, compress identical rows into weights, fit by maximum likelihood."""
        data = self._check_data(*columns)
        w = check_weights(weights, data[0].size)
        if not np.any((data[0] > 0) & (w > 0)):
            raise ModelError(self._no_repeat_message)
        keep = self._fit_rows(data[0], w)
        if not keep.all():
            data, w = [c[keep] for c in data], w[keep]
        data, w = compress(*data, weights=w)
        self.n_customers_ = float(w.sum())
        self.n_unique_ = int(data[0].size)
        return self._fit_compressed(data, w, None)

    def _fit_rows(self, frequency: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Rows that enter the likelihood: all of them, except where a model overrides this."""
        return np.ones(frequency.size, dtype=bool)

    # ---- the generic fit -------------------------------------------------------------------
    def _fit_compressed(self, data: list[np.ndarray], w: np.ndarray, theta0: np.ndarray | None):
        objective = self._make_objective(*data, w)
        n_total = float(w.sum())
        if theta0 is None:
            theta0 = np.log(self._start(*data, w))
            if data[0].size > self.warm_start_rows:
                # A fit on a random subset of the unique rows gives starting values close to
                # the optimum, so the full fit needs only a few iterations.
                rng = np.random.default_rng(0)
                idx = np.sort(rng.choice(data[0].size, self.warm_start_rows, replace=False))
                sub = self._make_objective(*[d[idx] for d in data], w[idx])
                res0 = self._minimise(sub, theta0, float(w[idx].sum()))
                if np.all(np.isfinite(res0.x)):
                    theta0 = np.clip(res0.x, LOG_LOWER + 1.0, LOG_UPPER - 1.0)
        res = self._minimise(objective, theta0, n_total)
        theta = res.x
        value = objective(theta)
        nll = value[0] if objective.has_grad else value
        if not np.isfinite(nll):
            raise ModelError(
                f"{type(self).__name__}: the log-likelihood is not finite at the optimiser's "
                f"end point ({res.message}); the data may not fit this model"
            )
        self._diagnose(theta, res, objective, n_total)
        self.params_ = dict(zip(self._param_names, np.exp(theta).tolist(), strict=True))
        self.log_likelihood_ = -float(nll)
        self.n_iter_ = int(res.nit)
        self._set_standard_errors(objective, theta)
        self._check_identified()
        return self

    def _check_identified(self) -> None:
        """Raise for model-specific degenerate optima; warn on huge relative standard errors."""
        weak = [
            f"{k} (relative SE {self.standard_errors_[k] / v:.3g})"
            for k, v in self.params_.items()
            if np.isfinite(self.standard_errors_[k]) and self.standard_errors_[k] > 10 * v
        ]
        if weak:
            warnings.warn(
                f"{type(self).__name__}: parameters poorly identified by this data: "
                + ", ".join(weak),
                RuntimeWarning,
                stacklevel=5,
            )

    def _minimise(self, objective, theta0: np.ndarray, n_total: float):
        scale = 1.0 / n_total
        if objective.has_grad:

            def fun(th):
                f, g = objective(th)
                return f * scale, g * scale

            jac = True
            gtol = 1e-9
        else:
            h = 1e-7

            def fun(th):
                f0 = objective(th)
                if not np.isfinite(f0):
                    return np.inf, np.zeros_like(th)
                return f0 * scale, _numeric_grad(objective, th, f0, h) * scale

            jac = True
            gtol = 1e-6
        bounds = [(LOG_LOWER, LOG_UPPER)] * theta0.size
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            res = minimize(
                fun,
                theta0,
                jac=jac,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": self.max_iter, "ftol": self.tol, "gtol": gtol, "maxls": 50},
            )
        return res

    def _diagnose(self, theta, res, objective, n_total) -> None:
        name = type(self).__name__
        values = np.exp(theta)
        problems = []
        for k, v in zip(self._param_names, values, strict=True):
            if v > _DIVERGED or v < 1.0 / _DIVERGED:
                problems.append(self._diverged_message(k, float(v)))
        if problems:
            self.converged_ = False
            raise ModelError(f"{name} cannot be fitted to this data: " + "; ".join(problems))
        _, g = (
            objective(theta)
            if objective.has_grad
            else (None, _numeric_grad(objective, theta, objective(theta), 1e-6))
        )
        grad_norm = float(np.max(np.abs(g))) / n_total
        # L-BFGS-B often ends with ABNORMAL_TERMINATION_IN_LNSRCH when it is already at the
        # optimum to machine precision; judge convergence by the gradient instead.
        self.converged_ = bool(res.success or grad_norm < 1e-4)
        if not self.converged_:
            raise ModelError(
                f"{name} did not converge after {res.nit} iterations: the optimiser reports "
                f"{res.message!r} and the largest gradient component per customer is "
                f"{grad_norm:.2g}; parameters at stop: "
                + ", ".join(f"{k}={v:.4g}" for k, v in zip(self._param_names, values, strict=True))
            )

    def _set_standard_errors(self, objective, theta) -> None:
        H = numeric_hessian(objective, theta)
        names = self._param_names
        try:
            eig = np.linalg.eigvalsh(H)
            if eig.min() <= 0:
                raise np.linalg.LinAlgError
            cov = np.linalg.inv(H)
        except np.linalg.LinAlgError:
            warnings.warn(
                f"{type(self).__name__}: the Hessian of the log-likelihood is not positive "
                "definite at the optimum, so some parameters are not identified by this data; "
                "standard errors are set to NaN",
                RuntimeWarning,
                stacklevel=5,
            )
            self.covariance_log_ = None
            self.standard_errors_ = {k: float("nan") for k in names}
            return
        self.covariance_log_ = cov
        se_log = np.sqrt(np.diag(cov))
        # delta method: se(theta) = theta * se(log theta)
        self.standard_errors_ = {
            k: float(np.exp(t) * s) for k, t, s in zip(names, theta, se_log, strict=True)
        }

    def _diverged_message(self, name: str, value: float) -> str:
        direction = "diverged to" if value > 1 else "collapsed to"
        return f"parameter {name} {direction} {value:.3g}"

    def summary(self) -> dict[str, dict[str, float]]:
        """Parameters with standard errors and 95% intervals (on the log scale, back-transformed).

        Returns
        -------
        dict
            ``{name: {"estimate", "se", "lower_95", "upper_95"}}``.
        """
        check_is_fitted(self, "params_")
        out = {}
        for k in self._param_names:
            v = self.params_[k]
            se = self.standard_errors_[k]
            s = se / v
            out[k] = {
                "estimate": v,
                "se": se,
                "lower_95": v * float(np.exp(-1.959964 * s)),
                "upper_95": v * float(np.exp(1.959964 * s)),
            }
        return out

    def sample_params(self, n_draws: int, random_state=None) -> np.ndarray:
        """Draws of the parameters from the asymptotic normal of the log-parameters.

        Returns an array of shape (n_draws, n_params) in natural units, columns in the order of
        ``params_``.
        """
        check_is_fitted(self, "params_")
        if self.covariance_log_ is None:
            raise ModelError(
                f"{type(self).__name__} has no parameter covariance (from_params or a singular "
                "Hessian), so parameter uncertainty cannot be sampled"
            )
        rng = np.random.default_rng(random_state)
        mean = np.log(np.array(self._p()))
        return np.exp(rng.multivariate_normal(mean, self.covariance_log_, size=n_draws))

    def _with_params(self, values) -> BTYDModel:
        params = dict(zip(self._param_names, values, strict=True))
        return type(self).from_params(params, **self.get_params())
