"""Stability of a clustering under resampling (adjusted Rand index of refits)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state

__all__ = ["resample_stability", "stability_score"]


def resample_stability(
    X: np.ndarray,
    reference_labels: np.ndarray,
    fit_predict: Callable[[np.ndarray, int], np.ndarray],
    *,
    n_resamples: int = 5,
    sample_fraction: float = 0.8,
    random_state: Any = 0,
) -> np.ndarray:
    """Adjusted Rand index of refits on random subsamples against a reference clustering.

    Each resample draws ``sample_fraction`` of the rows without replacement, refits the model on
    them and compares its labels with ``reference_labels`` on exactly those rows (the overlap).
    ARI is invariant to label permutations, so no matching of cluster ids is needed.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data the reference clustering was computed on (already scaled).
    reference_labels : ndarray of shape (n_samples,)
        Labels to compare against.
    fit_predict : callable ``(X_subset, seed) -> labels``
        Refits the model on the subset with the given integer seed and returns its labels.
    n_resamples : int, default=5
        Number of resamples (0 returns an empty array).
    sample_fraction : float, default=0.8
        Share of rows in each resample, in (0, 1].
    random_state : int, RandomState or None, default=0
        Seeds the resampling and the refits.

    Returns
    -------
    ndarray of shape (n_resamples,)
        ARI of each refit (1 = identical partition, about 0 = chance agreement).
    """
    if not 0 < sample_fraction <= 1:
        msg = f"sample_fraction must be in (0, 1], got {sample_fraction!r}"
        raise ValueError(msg)
    rng = check_random_state(random_state)
    n = X.shape[0]
    m = max(2, int(round(sample_fraction * n)))
    scores = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = np.sort(rng.choice(n, size=min(m, n), replace=False))
        seed = int(rng.randint(np.iinfo(np.int32).max))
        labels = fit_predict(X[idx], seed)
        scores[i] = adjusted_rand_score(reference_labels[idx], labels)
    return scores


def stability_score(
    estimator: Any,
    X: Any,
    *,
    n_resamples: int = 5,
    sample_fraction: float = 0.8,
    random_state: Any = 0,
) -> float:
    """Mean ARI of refits of a clusterer on subsamples against its fit on all of ``X``.

    Parameters
    ----------
    estimator : clusterer with ``fit_predict`` and (optionally) ``random_state``
        Unfitted scikit-learn style clusterer; it is cloned, never modified.
    X : array-like of shape (n_samples, n_features)
        Data, passed to the clusterer as given.
    n_resamples, sample_fraction, random_state
        As in :func:`resample_stability`.

    Returns
    -------
    float
        Mean ARI over the resamples.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(300, centers=3, random_state=0)
    >>> stability_score(KMeans(3, n_init=1, random_state=0), X) > 0.9
    True
    """
    from sklearn.base import clone

    X = np.asarray(X)
    base = clone(estimator)
    reference = base.fit_predict(X)

    def refit(Xs: np.ndarray, seed: int) -> np.ndarray:
        est = clone(estimator)
        if "random_state" in est.get_params():
            est.set_params(random_state=seed)
        return est.fit_predict(Xs)

    scores = resample_stability(
        X,
        np.asarray(reference),
        refit,
        n_resamples=n_resamples,
        sample_fraction=sample_fraction,
        random_state=random_state,
    )
    return float(scores.mean()) if scores.size else float("nan")
