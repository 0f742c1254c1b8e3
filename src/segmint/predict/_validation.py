"""Input checks shared by the buy-till-you-die models (arrays in, clear errors out)."""

from __future__ import annotations

import numpy as np

from segmint.errors import DataValidationError

__all__ = ["as_1d", "check_rfm", "check_weights", "check_spend", "check_bgbb"]


def as_1d(name: str, values: object) -> np.ndarray:
    """Return ``values`` as a 1-D float array, or raise naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"{name} must be numeric ({exc})", column=name) from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise DataValidationError(
            f"{name} must be one-dimensional, got shape {arr.shape}", column=name
        )
    return arr


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_finite(name: str, arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first(bad)
        raise DataValidationError(
            f"{name} has a missing or infinite value at index {i} ({arr[i]!r})", column=name
        )


def _check_lengths(named: dict[str, np.ndarray]) -> int:
    lengths = {k: v.shape[0] for k, v in named.items()}
    first = next(iter(lengths))
    n = lengths[first]
    for k, m in lengths.items():
        if m != n:
            raise DataValidationError(
                f"{k} has {m} values but {first} has {n}: all inputs must have one value per "
                "customer",
                column=k,
            )
    if n == 0:
        raise DataValidationError("no customers: the input arrays are empty", column=first)
    return n


def _check_frequency(frequency: np.ndarray) -> None:
    _check_finite("frequency", frequency)
    neg = frequency < 0
    if neg.any():
        i = _first(neg)
        raise DataValidationError(
            f"frequency must be >= 0; first offending index {i} (frequency={frequency[i]:g})",
            column="frequency",
        )
    frac = frequency != np.round(frequency)
    if frac.any():
        i = _first(frac)
        raise DataValidationError(
            "frequency must be a whole number of repeat purchases; first offending index "
            f"{i} (frequency={frequency[i]:g})",
            column="frequency",
        )


def check_rfm(
    frequency: object, recency: object, T: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate continuous-time (frequency, recency, T) arrays.

    Rules (as in lifetimes' ``_check_inputs``): finite values, equal non-zero length, integer
    ``frequency >= 0``, ``0 <= recency <= T``, and ``recency == 0`` when ``frequency == 0``.
    """
    x = as_1d("frequency", frequency)
    tx = as_1d("recency", recency)
    TT = as_1d("T", T)
    _check_lengths({"frequency": x, "recency": tx, "T": TT})
    _check_frequency(x)
    _check_finite("recency", tx)
    _check_finite("T", TT)
    neg = tx < 0
    if neg.any():
        i = _first(neg)
        raise DataValidationError(
            f"recency must be >= 0; first offending index {i} (recency={tx[i]:g})",
            column="recency",
        )
    neg = TT < 0
    if neg.any():
        i = _first(neg)
        raise DataValidationError(
            f"T must be >= 0; first offending index {i} (T={TT[i]:g})", column="T"
        )
    late = tx > TT
    if late.any():
        i = _first(late)
        raise DataValidationError(
            "recency must be <= T (the last purchase cannot be after the end of observation); "
            f"first offending index {i} (recency={tx[i]:g}, T={TT[i]:g})",
            column="recency",
        )
    ghost = (x == 0) & (tx != 0)
    if ghost.any():
        i = _first(ghost)
        raise DataValidationError(
            "recency must be 0 when frequency is 0 (no repeat purchase, so no time of last "
            f"repeat purchase); first offending index {i} (recency={tx[i]:g})",
            column="recency",
        )
    return x, tx, TT


def check_bgbb(
    frequency: object, recency: object, n_periods: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate discrete-time (frequency, recency, n_periods) arrays for BG/BB.

    ``recency`` is the period index of the last transaction (0 when none), so all three are
    integers with ``frequency <= recency <= n_periods``.
    """
    x = as_1d("frequency", frequency)
    tx = as_1d("recency", recency)
    n = as_1d("n_periods", n_periods)
    _check_lengths({"frequency": x, "recency": tx, "n_periods": n})
    _check_frequency(x)
    for name, arr in (("recency", tx), ("n_periods", n)):
        _check_finite(name, arr)
        bad = (arr < 0) | (arr != np.round(arr))
        if bad.any():
            i = _first(bad)
            raise DataValidationError(
                f"{name} must be a whole number >= 0; first offending index {i} "
                f"({name}={arr[i]:g})",
                column=name,
            )
    late = tx > n
    if late.any():
        i = _first(late)
        raise DataValidationError(
            f"recency must be <= n_periods; first offending index {i} (recency={tx[i]:g}, "
            f"n_periods={n[i]:g})",
            column="recency",
        )
    many = x > tx
    if many.any():
        i = _first(many)
        raise DataValidationError(
            "frequency must be <= recency (at most one transaction per period, the last one "
            f"in period recency); first offending index {i} (frequency={x[i]:g}, "
            f"recency={tx[i]:g})",
            column="frequency",
        )
    ghost = (x == 0) & (tx != 0)
    if ghost.any():
        i = _first(ghost)
        raise DataValidationError(
            f"recency must be 0 when frequency is 0; first offending index {i} (recency={tx[i]:g})",
            column="recency",
        )
    return x, tx, n


def check_spend(frequency: object, monetary_value: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate (frequency, monetary_value) for the Gamma-Gamma model."""
    x = as_1d("frequency", frequency)
    m = as_1d("monetary_value", monetary_value)
    _check_lengths({"frequency": x, "monetary_value": m})
    _check_frequency(x)
    _check_finite("monetary_value", m)
    bad = (x > 0) & (m <= 0)
    if bad.any():
        i = _first(bad)
        raise DataValidationError(
            "monetary_value must be > 0 for customers with repeat purchases (the Gamma-Gamma "
            f"model has positive spend); first offending index {i} (monetary_value={m[i]:g})",
            column="monetary_value",
        )
    return x, m


def check_weights(weights: object, n: int) -> np.ndarray:
    """Validate optional per-row weights (counts of identical customers)."""
    if weights is None:
        return np.ones(n)
    w = as_1d("weights", weights)
    if w.shape[0] != n:
        raise DataValidationError(
            f"weights has {w.shape[0]} values but there are {n} customers", column="weights"
        )
    _check_finite("weights", w)
    neg = w < 0
    if neg.any():
        i = _first(neg)
        raise DataValidationError(
            f"weights must be >= 0; first offending index {i} (weights={w[i]:g})",
            column="weights",
        )
    if w.sum() <= 0:
        raise DataValidationError("weights sum to 0: nothing to fit", column="weights")
    return w
