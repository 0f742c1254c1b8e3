"""Segmenter: scaling, automatic choice of the number of segments, final fit, micro-segments.

Model selection runs on a random sample (``selection_sample`` rows) for speed; the final model is
fitted on all rows, started from the centres (or mixture parameters) found on the sample, so it
converges in a few passes over the full data.

The rules that choose k live in :mod:`segmint.segment.selection`, and assignment (fit's
training rows, ``predict``, probabilities, micro-segments) in :mod:`segmint.segment.assign`,
which the reloaded :class:`~segmint.segment.LiveSegmenter` shares.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from segmint.errors import DataValidationError
from segmint.segment._validation import as_numeric_frame
from segmint.segment.assign import (
    AssignMixin,
    SegmentGeometry,
    assign,
    columns,
    nearest,
    sq_distances,
)
from segmint.segment.scaling import FeatureScaler
from segmint.segment.selection import SEED_MAX, choose_k, sample_silhouette
from segmint.segment.stability import resample_stability

__all__ = ["AUTO_MINIBATCH_ROWS", "Segmenter"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]

_METHODS = ("auto", "kmeans", "minibatch", "gmm")
#: k-means starts per taste group's micro-segments (one when there are hundreds of them)
MICRO_STARTS = 4
#: rows in the smallest micro-segment, by default
MICRO_MIN_SIZE = 10
#: most micro-segments found by one k-means (more: a two-level tree), by default
MICRO_FLAT_MAX = 500


def _mean(Z: np.ndarray) -> np.ndarray:
    return Z.mean(axis=0, keepdims=True)


#: ``method="auto"`` uses MiniBatchKMeans for the final fit above this many rows (see Segmenter).
AUTO_MINIBATCH_ROWS = 500_000


class Segmenter(AssignMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Customer segmentation with an automatic number of segments.

    ``fit`` scales the features (:class:`~segmint.segment.FeatureScaler`), selects the number of
    segments on a random sample, fits the final model on all rows, relabels segments by
    descending size (segment 0 is the largest), measures stability and optionally finds
    micro-segments: tastes across all customers.

    Selection of k (when ``n_segments`` is None):

    - k-means (``"kmeans"``, ``"minibatch"``): the k with the highest silhouette on the sample;
      every k whose silhouette is within ``tie_tolerance`` of the best is a tie, broken by the
      higher stability, then by the smaller k.
    - ``"gmm"``: the k with the lowest BIC on the sample.

    Parameters
    ----------
    method : {"auto", "kmeans", "minibatch", "gmm"}, default="auto"
        Clustering model. Selection always uses ``KMeans`` on the sample for the k-means
        methods; they differ in the final fit on all rows, which starts from the sample centres.
        ``"kmeans"``: full-batch Lloyd. ``"minibatch"``: ``MiniBatchKMeans`` with
        ``batch_size`` rows per batch. ``"auto"``: ``"minibatch"`` above
        ``AUTO_MINIBATCH_ROWS`` (500,000) rows, else ``"kmeans"``. Measured on a shared 2-core
        machine, 15 features, k=8, started from sample centres: on weakly separated data Lloyd
        needed 54 iterations at 1M rows (4.6 s) and 94 at 3M (16 s), while mini-batches of 16k
        converged in one epoch (1.5 s, 1.7 s) with inertia 0.04% higher; on well separated
        blobs Lloyd converged in 2 iterations (0.7 s at 1M) and mini-batch took 2.5 s. Below
        a few hundred thousand rows both take well under a second. ``"gmm"`` is a Gaussian
        mixture with ``covariance_type`` covariances.
    n_segments : int or None, default=None
        Fixed number of segments; None selects it from ``k_range``.
    n_segments_reason : str or None, default=None
        Why ``n_segments`` is what it is, when a caller fixed it by a rule of its own
        (``selection_reason_``; None: "fixed by n_segments").
    k_range : tuple of (int, int), default=(2, 10)
        Smallest and largest k tried (inclusive).
    selection_sample : int, default=20000
        Rows sampled for model selection and stability (all rows when fewer).
    silhouette_sample : int, default=5000
        Rows of the selection sample on which silhouettes are computed (quadratic cost).
    n_stability_resamples : int, default=5
        Refits on 80% subsamples used to measure stability (0 disables stability).
    tie_tolerance : float, default=0.01
        Silhouette difference below which two k are considered tied (k-means).
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Covariance of the Gaussian mixture (``method="gmm"``).
    n_init : int, default=10
        Initialisations per fit on the sample (the final fit starts from the sample solution).
    max_iter : int, default=300
        Maximum iterations of each fit.
    batch_size : int, default=16384
        Mini-batch size for ``method="minibatch"``.
    scaler : transformer or None, default=None
        Transformer applied before clustering; None uses ``FeatureScaler()``. Cloned in fit.
    micro_segments : bool, default=False
        Also find micro-segments of about ``micro_size`` rows: tastes across all customers,
        not splits of each segment (k-means on the interest columns of a
        :class:`~segmint.segment.space.UsefulSpace` scaler when it has them, else on every
        column). Up to ``micro_flat_max`` of them are one k-means; more are fitted as a
        two-level tree, so a million rows and thousands of micro-segments stay cheap: about
        ``sqrt(n_micro)`` taste groups, then each group split into micro-segments. Nested in
        value segments they re-found the same tastes in every segment and carried about the
        interest signal of k-means on log R/F/M plus past shares with as many groups (9-13 of
        20 Online Retail cut-offs above it); across the base, more (see the README's Measured
        section).
    micro_size : int or None, default=None
        Rows per micro-segment aimed at; None: ``max(micro_min_size, 0.5 * sqrt(n_samples))``,
        so their number grows with the data (measured: 61-117 at about 3,000 Online Retail
        customers, after small clusters are folded; at a million synthetic customers fitted
        on a 200,000 sample, the pipeline sets it so the count is the whole base's: 1,973).
    micro_min_size : int, default=10
        Smallest micro-segment: smaller clusters are folded into their nearest sibling. A
        niche of ten customers is small enough to act on one by one and large enough to be
        a pattern (measured when micro-segments were nested in segments: on six Online
        Retail cut-offs a minimum of 10 carried 103% of the interest signal of k-means on log
        R/F/M plus past shares with as many groups on average, 20 carried 101%).
    micro_flat_max : int, default=500
        Most micro-segments found by one k-means over all rows; beyond it, the tree. The tree
        is an approximation (each taste group is split on its own): on Online Retail's twenty
        cut-offs under three seeds (61-117 micro-segments), one k-means carried more of the
        next quarter's interest signal than k-means on log R/F/M plus past shares with as
        many groups at 60 of 60 (108-109% on average), the tree at 54 (104-106%). One k-means
        costs rows x micro-segments per iteration: measured 1.1-1.9 s at 500 (62,500 rows
        of 20 dimensions, one core); at 600, 1.7 s against the tree's 1.5 s.
    k_usefulness : dict of int to float or None, default=None
        A score per k (higher is better) measured outside, e.g. how well segments found on an
        earlier cut-off explained the period after it against the RFM baselines
        (:func:`segmint.segment.usefulness.usefulness_by_k`). When given, k is the one with
        the best silhouette among those that met the bar (score >= 1; when none did, within
        ``selection.NEAR_USEFUL`` of the best score).
    callback : callable or None, default=None
        ``callback(step, done, total)`` called as work progresses; steps are ``"scale"``,
        ``"select"``, ``"fit"``, ``"stability"`` and ``"micro"``.
    random_state : int, RandomState or None, default=0
        Seeds sampling and every fit; an int gives identical results run to run.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Segment of each training row, 0 = largest segment.
    n_segments_ : int
        Number of segments of the final model.
    cluster_centers_ : ndarray of shape (n_segments_, n_features)
        Segment centres (k-means centres, or mixture means) in scaled space.
    confidence_ : ndarray of shape (n_samples,)
        Highest membership probability of each training row (see :meth:`predict_proba`).
    scaler_ : transformer
        The fitted scaler.
    model_ : estimator
        The fitted clustering model (its own label order; use ``predict``).
    method_ : str
        The method used (``"auto"`` resolved).
    n_iter_ : int
        Iterations (or epochs) of the final fit on all rows.
    selection_ : pandas.DataFrame
        One row per k tried: ``k``, ``silhouette`` (on the sample), ``bic`` (gmm only),
        ``inertia`` (k-means only, on the sample), ``stability`` (mean ARI of refits on
        subsamples of the sample against the fit on the whole sample), ``chosen`` and
        ``reason`` (why that k, on the chosen row).
    selection_reason_ : str
        Why ``n_segments_`` was chosen.
    stability_ : float
        Mean adjusted Rand index between refits on ``n_stability_resamples`` 80% subsamples of
        the selection sample and the final labels of the same rows (NaN when disabled).
    stability_scores_ : ndarray
        The individual ARIs behind ``stability_``.
    micro_labels_ : ndarray of str of shape (n_samples,)
        Micro-segment ids ``"m<i>"`` (only with ``micro_segments=True``), 0-based, by taste
        group (largest first), then by descending size within the group.
    micro_groups_ : ndarray of shape (n_groups, n_dims)
        Centres of the taste groups the micro-segments are found in, in scaled space.
    micro_centers_ : dict of int to ndarray
        Micro-segment centres per taste group, in scaled space.
    geometry_ : SegmentGeometry
        Everything assignment needs (centres, soft-assignment variance or mixture and its
        relabelling, micro-centres); :func:`segmint.segment.assign.assign` gives ``predict``,
        ``predict_proba`` and ``predict_micro`` from it.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had column names.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from segmint.segment import Segmenter
    >>> X, _ = make_blobs(2000, n_features=4, centers=3, random_state=1)
    >>> seg = Segmenter(k_range=(2, 6), random_state=0).fit(X)
    >>> seg.n_segments_
    3
    """

    def __init__(
        self,
        *,
        method: str = "auto",
        n_segments: int | None = None,
        n_segments_reason: str | None = None,
        k_range: tuple[int, int] = (2, 10),
        selection_sample: int = 20_000,
        silhouette_sample: int = 5_000,
        n_stability_resamples: int = 5,
        tie_tolerance: float = 0.01,
        covariance_type: str = "full",
        n_init: int = 10,
        max_iter: int = 300,
        batch_size: int = 16_384,
        scaler: Any = None,
        micro_segments: bool = False,
        micro_size: int | None = None,
        micro_min_size: int = MICRO_MIN_SIZE,
        micro_flat_max: int = MICRO_FLAT_MAX,
        k_usefulness: dict[int, float] | None = None,
        callback: ProgressCallback | None = None,
        random_state: Any = 0,
    ) -> None:
        self.method = method
        self.n_segments = n_segments
        self.n_segments_reason = n_segments_reason
        self.k_range = k_range
        self.selection_sample = selection_sample
        self.silhouette_sample = silhouette_sample
        self.n_stability_resamples = n_stability_resamples
        self.tie_tolerance = tie_tolerance
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.scaler = scaler
        self.micro_segments = micro_segments
        self.micro_size = micro_size
        self.micro_min_size = micro_min_size
        self.micro_flat_max = micro_flat_max
        self.k_usefulness = k_usefulness
        self.callback = callback
        self.random_state = random_state

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        def positive_int(name: str, value: Any, low: int = 1) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                msg = f"{name} must be an integer >= {low}, got {value!r}"
                raise ValueError(msg)

        if self.method not in _METHODS:
            msg = f"method must be one of {_METHODS}, got {self.method!r}"
            raise ValueError(msg)
        if self.n_segments is not None:
            positive_int("n_segments", self.n_segments, 1)
        for name in ("k_range",):
            rng = getattr(self, name)
            if (
                not isinstance(rng, (tuple, list))
                or len(rng) != 2
                or not all(isinstance(v, (int, np.integer)) for v in rng)
                or rng[0] < 2
                or rng[1] < rng[0]
            ):
                msg = f"{name} must be a pair (low, high) of integers with 2 <= low <= high"
                raise ValueError(msg + f", got {rng!r}")
        positive_int("selection_sample", self.selection_sample, 10)
        positive_int("silhouette_sample", self.silhouette_sample, 10)
        positive_int("n_stability_resamples", self.n_stability_resamples, 0)
        positive_int("n_init", self.n_init, 1)
        positive_int("max_iter", self.max_iter, 1)
        positive_int("batch_size", self.batch_size, 1)
        positive_int("micro_min_size", self.micro_min_size, 1)
        positive_int("micro_flat_max", self.micro_flat_max, 1)
        if self.micro_size is not None:
            positive_int("micro_size", self.micro_size, 1)
        if self.covariance_type not in ("full", "tied", "diag", "spherical"):
            msg = (
                "covariance_type must be full, tied, diag or spherical, "
                f"got {self.covariance_type!r}"
            )
            raise ValueError(msg)
        if self.callback is not None and not callable(self.callback):
            msg = "callback must be callable(step, done, total) or None"
            raise ValueError(msg)

    def _progress(self, step: str, done: int, total: int) -> None:
        if self.callback is not None:
            self.callback(step, done, total)

    # ------------------------------------------------------------------ models
    def _make_model(
        self, k: int, seed: int, *, init: Any = None, full: bool = False, n_init: int | None = None
    ) -> Any:
        method = self.method_
        n_init = self.n_init if n_init is None else n_init
        if method == "gmm":
            kwargs: dict[str, Any] = {}
            if init is not None:
                kwargs = {
                    "weights_init": init.weights_,
                    "means_init": init.means_,
                    "precisions_init": init.precisions_,
                }
            return GaussianMixture(
                n_components=k,
                covariance_type=self.covariance_type,
                n_init=1 if init is not None else n_init,
                max_iter=self.max_iter,
                reg_covar=1e-5,
                random_state=seed,
                **kwargs,
            )
        if method == "minibatch" and full:
            return MiniBatchKMeans(
                n_clusters=k,
                init=init.cluster_centers_ if init is not None else "k-means++",
                n_init=1 if init is not None else n_init,
                batch_size=self.batch_size,
                max_iter=self.max_iter,
                random_state=seed,
            )
        return KMeans(
            n_clusters=k,
            init=init.cluster_centers_ if init is not None else "k-means++",
            n_init=1 if init is not None else n_init,
            max_iter=self.max_iter,
            random_state=seed,
        )

    def _stability(self, Zs: np.ndarray, reference: np.ndarray, k: int, seed: int) -> np.ndarray:
        if self.n_stability_resamples == 0:
            return np.empty(0)

        def refit(Xs: np.ndarray, s: int) -> np.ndarray:
            return self._make_model(k, s, n_init=1).fit(Xs).predict(Xs)

        return resample_stability(
            Zs, reference, refit, n_resamples=self.n_stability_resamples, random_state=seed
        )

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> Segmenter:
        """Scale ``X``, choose the number of segments, fit the final model on all rows.

        Parameters
        ----------
        X : table or array-like of shape (n_samples, n_features)
            Numeric customer features in original units (pandas, polars, pyarrow or numpy);
            NaN is imputed by the scaler.
        y : ignored

        Returns
        -------
        self : Segmenter

        Raises
        ------
        DataValidationError
            Empty input, fewer than 2 rows, non-numeric or infinite values, more segments
            requested than rows.
        """
        self._check_params()
        frame, had_names = as_numeric_frame(X, min_rows=2)
        n = frame.shape[0]
        if self.n_segments is not None and self.n_segments > n:
            msg = f"n_segments={self.n_segments} is more than the {n} rows of X"
            raise DataValidationError(msg)
        if self.method == "auto":
            self.method_ = "minibatch" if n > AUTO_MINIBATCH_ROWS else "kmeans"
        else:
            self.method_ = self.method
        rng = check_random_state(self.random_state)

        self._progress("scale", 0, 1)
        self.scaler_ = clone(self.scaler) if self.scaler is not None else FeatureScaler()
        Z = np.asarray(self.scaler_.fit_transform(frame), dtype=np.float64)
        self._feature_names = list(frame.columns)
        self.n_features_in_ = frame.shape[1]
        if had_names:
            self.feature_names_in_ = np.asarray(self._feature_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._progress("scale", 1, 1)

        if n > self.selection_sample:
            sample_idx = np.sort(rng.choice(n, self.selection_sample, replace=False))
        else:
            sample_idx = np.arange(n)
        Zs = Z[sample_idx]
        n_distinct = np.unique(Zs, axis=0).shape[0] if Zs.shape[0] <= 50_000 else Zs.shape[0]

        if self.n_segments is not None:
            ks = [int(self.n_segments)]
        else:
            lo, hi = self.k_range
            hi = min(hi, n_distinct - 1, Zs.shape[0] - 1)
            if hi < 2:
                msg = (
                    f"X has only {n_distinct} distinct row(s) after scaling; "
                    "at least 3 are needed to choose the number of segments"
                )
                raise DataValidationError(msg)
            ks = list(range(min(lo, hi), hi + 1))

        # Fits on the sample are small: one thread avoids OpenMP/BLAS start-up and contention
        # costs that dominate at this size (measured 10-20x slower on a busy 2-core machine).
        with threadpool_limits(limits=1):
            rows, sample_models = self._select(Zs, ks, rng)
        k, reason = choose_k(
            rows,
            gmm=self.method_ == "gmm",
            tie_tolerance=self.tie_tolerance,
            usefulness=self.k_usefulness,
            fixed_reason=self.n_segments_reason,
        )
        for row in rows:
            row["chosen"] = row["k"] == k
            row["reason"] = reason if row["k"] == k else ""
        self.selection_ = pd.DataFrame(
            rows,
            columns=[
                "k",
                "silhouette",
                "bic",
                "inertia",
                "stability",
                "usefulness",
                "chosen",
                "reason",
            ],
        )
        self.selection_reason_ = reason
        logger.info("segmenter: %s", reason)

        self._progress("fit", 0, 1)
        seed = int(rng.randint(SEED_MAX))
        if sample_idx.size == n and self.method_ != "minibatch":
            model = sample_models[k]
        else:
            model = self._make_model(k, seed, init=sample_models[k], full=True).fit(Z)
        self.model_ = model
        self.n_iter_ = int(getattr(model, "n_iter_", 0))
        self._finalise(Z, model, k)
        self._progress("fit", 1, 1)

        self._progress("stability", 0, 1)
        with threadpool_limits(limits=1):
            scores = self._stability(Zs, self.labels_[sample_idx], k, int(rng.randint(SEED_MAX)))
        self.stability_scores_ = scores
        self.stability_ = float(scores.mean()) if scores.size else float("nan")
        self._progress("stability", 1, 1)

        if self.micro_segments:
            self._fit_micro(Z, int(rng.randint(SEED_MAX)))
        return self

    def _select(
        self, Zs: np.ndarray, ks: list[int], rng: np.random.RandomState
    ) -> tuple[list[dict[str, Any]], dict[int, Any]]:
        rows: list[dict[str, Any]] = []
        models: dict[int, Any] = {}
        for i, k in enumerate(ks):
            self._progress("select", i, len(ks))
            seed, sil_seed, stab_seed = (int(s) for s in rng.randint(SEED_MAX, size=3))
            model = self._make_model(k, seed).fit(Zs)
            labels = model.predict(Zs)
            models[k] = model
            stab = self._stability(Zs, labels, k, stab_seed) if len(ks) > 1 else np.empty(0)
            rows.append(
                {
                    "k": k,
                    "silhouette": sample_silhouette(Zs, labels, self.silhouette_sample, sil_seed),
                    "bic": float(model.bic(Zs)) if self.method_ == "gmm" else float("nan"),
                    "inertia": float(model.inertia_) if hasattr(model, "inertia_") else np.nan,
                    "stability": float(stab.mean()) if stab.size else float("nan"),
                    "usefulness": float((self.k_usefulness or {}).get(k, np.nan)),
                }
            )
        self._progress("select", len(ks), len(ks))
        return rows, models

    def _finalise(self, Z: np.ndarray, model: Any, k: int) -> None:
        """Relabel by descending size, then assign the training rows with the shared kernel."""
        raw = model.predict_proba(Z).argmax(axis=1) if self.method_ == "gmm" else model.predict(Z)
        counts = np.bincount(raw, minlength=k)
        order = np.argsort(-counts, kind="stable")  # new id -> model id
        if (counts == 0).any():
            logger.warning("segmenter: %d of %d segments are empty", int((counts == 0).sum()), k)
        self.n_segments_ = k
        if self.method_ == "gmm":
            self.cluster_centers_ = model.means_[order].copy()
            self.geometry_ = SegmentGeometry(self.cluster_centers_, gmm=model, order=order)
        else:
            self.cluster_centers_ = model.cluster_centers_[order].copy()
            inertia = float(sq_distances(Z, self.cluster_centers_).min(axis=1).sum())
            within = inertia / (Z.shape[0] * Z.shape[1]) or 1.0
            self.geometry_ = SegmentGeometry(self.cluster_centers_, within_variance=within)
        found = assign(self.geometry_, Z)
        self.labels_ = found.segment_id
        self.confidence_ = found.confidence

    # ------------------------------------------------------------------ micro
    def _fit_micro(self, Z: np.ndarray, seed: int) -> None:
        rng = np.random.RandomState(seed)
        dims = getattr(self.scaler_, "interest_dims_", None)
        dims = dims if dims is not None and dims.size else None
        Zm = columns(Z, dims)
        n = Zm.shape[0]
        unit = self.micro_size or max(self.micro_min_size, round(0.5 * np.sqrt(n)))
        wanted = min(n / unit, n // self.micro_min_size)
        n_groups = 1 if wanted <= self.micro_flat_max else round(np.sqrt(wanted))
        with threadpool_limits(limits=1):
            groups = self._micro_centers(Zm, n_groups, rng) if n_groups > 1 else _mean(Zm)
        group_of = nearest(Zm, groups)
        centers: dict[int, np.ndarray] = {}
        for g in range(groups.shape[0]):
            self._progress("micro", g, groups.shape[0])
            idx = np.flatnonzero(group_of == g)
            n_micro = min(round(idx.size / unit), idx.size // self.micro_min_size)
            if n_micro < 2:  # one micro-segment: the group itself
                centers[g] = _mean(Zm[idx]) if idx.size else groups[g : g + 1].copy()
                continue
            with threadpool_limits(limits=1):
                centers[g] = self._micro_centers(Zm[idx], n_micro, rng)
        self._progress("micro", groups.shape[0], groups.shape[0])
        self.micro_groups_ = groups
        self.micro_centers_ = centers
        self.geometry_ = replace(
            self.geometry_, micro_groups=groups, micro_centers=centers, micro_dims=dims
        )
        self.micro_labels_ = assign(self.geometry_, Z).micro_segment_id

    def _micro_centers(self, Zseg: np.ndarray, n_micro: int, rng: np.random.RandomState):
        """Centres of ``n_micro`` clusters of rows, largest first, none below the minimum size.

        Fitted on a sample (k-means centres settle long before all rows are seen: 100 rows per
        micro-segment, 30 when there are hundreds, one start then, as each start costs rows x
        centres per iteration), then every row assigned; a cluster smaller than
        ``micro_min_size`` is dropped, the remaining centres move to their new members (a few
        k-means iterations), and every row goes to the nearest of them.
        """
        many = n_micro > 100
        limit = (30 if many else 100) * n_micro
        sub = rng.choice(Zseg.shape[0], limit, replace=False) if Zseg.shape[0] > limit else None
        fit_rows = Zseg if sub is None else Zseg[sub]
        seed = int(rng.randint(SEED_MAX))
        km = KMeans(n_micro, n_init=1 if many else MICRO_STARTS, max_iter=100, random_state=seed)
        centres = km.fit(fit_rows).cluster_centers_
        for moves in (3, 2, 1, 0):  # dropping a cluster grows its neighbours
            counts = np.bincount(nearest(Zseg, centres), minlength=len(centres))
            keep = counts >= self.micro_min_size
            if keep.all() or not keep.any():
                break
            centres = centres[keep]
            if moves:  # the survivors move to where their new members are
                km = KMeans(len(centres), init=centres, n_init=1, max_iter=20)
                centres = km.fit(fit_rows).cluster_centers_
            # else they stay put: with fixed centres, survivors only gain rows
        counts = np.bincount(nearest(Zseg, centres), minlength=len(centres))
        return centres[np.argsort(-counts, kind="stable")].copy()

    # ------------------------------------------------------------------ inference
    def _fitted(self) -> tuple[Any, SegmentGeometry]:
        check_is_fitted(self, "labels_")
        return self.scaler_, self.geometry_

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the columns of :meth:`transform` (the scaler's output names)."""
        scaler, _ = self._fitted()
        return np.asarray(scaler.get_feature_names_out(), dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
