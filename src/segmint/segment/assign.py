"""The one assignment kernel: scaled rows -> segment, membership probabilities, micro-segment.

A fitted segmentation is a :class:`SegmentGeometry` (segment centres, the k-means
soft-assignment variance or the Gaussian mixture with its relabelling, and the micro-segments'
taste groups and centres). :func:`assign` is the only code that turns scaled rows into
assignments: :class:`~segmint.segment.Segmenter` (for its training rows and for ``predict``),
:class:`~segmint.segment.LiveSegmenter` and the live service all call it, so a saved model
assigns exactly as the fitted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sklearn.mixture import GaussianMixture

from segmint.errors import ModelError
from segmint.segment._validation import as_numeric_frame, check_feature_names

__all__ = [
    "AssignMixin",
    "Assignment",
    "SegmentGeometry",
    "assign",
    "kmeans_soft_assignments",
    "nearest",
    "sq_distances",
]


def sq_distances(Z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances, shape (n_samples, n_centers), computed without a 3-d array."""
    d = (Z * Z).sum(axis=1)[:, None] - 2.0 * (Z @ centers.T) + (centers * centers).sum(axis=1)
    np.maximum(d, 0.0, out=d)
    return d


#: rows per block in :func:`nearest`: a block's distances to 2,000 centres take 512 MiB
_NEAREST_BLOCK = 32_768


def nearest(Z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centre, in blocks of rows so memory stays bounded however
    many rows and centres there are (micro-segments: thousands of centres, a million rows)."""
    out = np.empty(Z.shape[0], dtype=np.intp)
    for start in range(0, Z.shape[0], _NEAREST_BLOCK):
        block = Z[start : start + _NEAREST_BLOCK]
        out[start : start + block.shape[0]] = sq_distances(block, centers).argmin(axis=1)
    return out


def _softmax_of_distances(d: np.ndarray, within_variance: float) -> np.ndarray:
    logits = -d / (2.0 * max(within_variance, 1e-12))
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def kmeans_soft_assignments(
    Z: np.ndarray, centers: np.ndarray, within_variance: float
) -> np.ndarray:
    """Soft assignment of rows to k-means centres.

    ``p_ik = softmax_k(-||z_i - c_k||^2 / (2 * sigma^2))`` where ``sigma^2`` is the pooled
    within-cluster variance per dimension (``inertia / (n_samples * n_features)``). This is the
    posterior of a mixture of equal-weight spherical Gaussians with that variance centred on the
    k-means centres: a row half-way between two centres gets about 0.5 each, a row at a centre
    far from the others gets nearly 1.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        Scaled features.
    centers : ndarray of shape (n_clusters, n_features)
    within_variance : float
        ``sigma^2`` above (must be positive).

    Returns
    -------
    ndarray of shape (n_samples, n_clusters)
        Rows sum to 1.
    """
    return _softmax_of_distances(sq_distances(Z, centers), within_variance)


@dataclass(frozen=True, eq=False)
class SegmentGeometry:
    """What a fitted segmentation needs to assign rows, in scaled space.

    Parameters
    ----------
    centers : ndarray of shape (n_segments, n_features)
        Segment centres, in segment order (0 = largest segment).
    within_variance : float or None
        k-means: the pooled within-segment variance of the soft assignments. None for gmm.
    gmm : GaussianMixture or None
        The fitted mixture, in its own component order.
    order : ndarray of int or None
        gmm only: ``order[segment] = component``.
    micro_groups : ndarray of shape (n_groups, n_micro_dims) or None
        Centres of the taste groups micro-segments are found in; None when the model has no
        micro-segments.
    micro_centers : dict of int to ndarray, or None
        Micro-segment centres of each taste group (one row: the group is not split).
    micro_dims : ndarray of int or None
        Columns of the space the micro-centres live in (the interest block of a
        :class:`~segmint.segment.space.UsefulSpace`); None: all columns.
    segment_dims : ndarray of int or None
        Columns of the space the segment centres live in; None: all columns (every model
        fitted now; runs stored before segments were found on the expected next mix keep
        theirs, and are still assigned with it).
    """

    centers: np.ndarray
    within_variance: float | None = None
    gmm: GaussianMixture | None = None
    order: np.ndarray | None = None
    micro_groups: np.ndarray | None = None
    micro_centers: dict[int, np.ndarray] | None = None
    micro_dims: np.ndarray | None = None
    segment_dims: np.ndarray | None = None

    @property
    def relabel(self) -> np.ndarray:
        """gmm component -> segment id (the inverse of ``order``)."""
        relabel = np.empty_like(self.order)
        relabel[self.order] = np.arange(self.order.size)
        return relabel


class Assignment(NamedTuple):
    """Result of :func:`assign`."""

    segment_id: np.ndarray
    """int array, shape (n_samples,)"""
    proba: np.ndarray
    """membership probabilities, shape (n_samples, n_segments)"""
    micro_segment_id: np.ndarray | None
    """object array of ``"m<i>"`` strings, or None without micro-segments"""

    @property
    def confidence(self) -> np.ndarray:
        """Highest membership probability of each row."""
        return self.proba.max(axis=1)


def columns(Z: np.ndarray, dims: np.ndarray | None) -> np.ndarray:
    """``Z[:, dims]`` (all of ``Z`` for None), a view when ``dims`` is a run of columns.

    A space's blocks are runs of columns; at a million rows a copy of one costs hundreds of MB.
    """
    if dims is None:
        return Z
    if dims.size and np.array_equal(dims, np.arange(dims[0], dims[0] + dims.size)):
        return Z[:, int(dims[0]) : int(dims[0]) + dims.size]
    return Z[:, dims]


def assign(geometry: SegmentGeometry, Z: np.ndarray, *, micro: bool = True) -> Assignment:
    """Assign scaled rows to segments (and micro-segments).

    k-means: the nearest centre, and :func:`kmeans_soft_assignments` from the same distances.
    gmm: the most probable component, relabelled to segment order, and the mixture posterior.
    Micro-segment, whatever the segment: the nearest taste group, then the nearest micro-centre
    within it (on the geometry's ``micro_dims``), as ``"m<i>"``, numbered group by group.

    Parameters
    ----------
    geometry : SegmentGeometry
    Z : ndarray of shape (n_samples, n_features)
        Scaled features (the output of the segmenter's scaler).
    micro : bool, default=True
        Also assign micro-segments (when the geometry has them).

    Returns
    -------
    Assignment
    """
    Zseg = columns(Z, geometry.segment_dims)
    if geometry.gmm is not None:
        raw = geometry.gmm.predict_proba(Zseg)
        labels = geometry.relabel[raw.argmax(axis=1)]
        proba = raw[:, geometry.order]
    else:
        d = sq_distances(Zseg, geometry.centers)
        labels = d.argmin(axis=1)
        proba = _softmax_of_distances(d, float(geometry.within_variance))
    micro_ids = None
    if micro and geometry.micro_centers is not None:
        micro_ids = _micro_ids(columns(Z, geometry.micro_dims), geometry)
    return Assignment(labels, proba, micro_ids)


def _micro_ids(Z: np.ndarray, geometry: SegmentGeometry) -> np.ndarray:
    group = nearest(Z, geometry.micro_groups)
    micro = np.zeros(Z.shape[0], dtype=np.intp)
    offset = 0
    for g in range(geometry.micro_groups.shape[0]):
        centers = geometry.micro_centers[g]
        mask = group == g
        if mask.any():
            micro[mask] = offset + (nearest(Z[mask], centers) if centers.shape[0] > 1 else 0)
        offset += centers.shape[0]
    return np.char.add("m", micro.astype(str)).astype(object)


class AssignMixin:
    """The public assignment methods, written once for the fitted and the reloaded segmenter.

    A subclass provides ``_fitted()``, which checks that it is fitted and returns its scaler
    and :class:`SegmentGeometry`, and the ``feature_names_in_`` / ``n_features_in_`` that
    :func:`~segmint.segment._validation.check_feature_names` compares ``X`` against.
    """

    def _fitted(self) -> tuple[Any, SegmentGeometry]:
        raise NotImplementedError

    def _assign(self, X: Any, *, micro: bool = True) -> Assignment:
        Z = self.transform(X)
        return assign(self._fitted()[1], Z, micro=micro)

    def transform(self, X: Any) -> np.ndarray:
        """Scaled features (the space the segments live in).

        Parameters
        ----------
        X : table or array-like of shape (n_samples, n_features)
            Features in original units; a table is aligned by column name.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        scaler, _ = self._fitted()
        frame, had_names = as_numeric_frame(X)
        frame = check_feature_names(self, frame, had_names)
        return np.asarray(scaler.transform(frame), dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Segment of each row (nearest centre for k-means, most probable component for gmm).

        Parameters
        ----------
        X : table or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of int of shape (n_samples,)
        """
        return self._assign(X, micro=False).segment_id

    def predict_proba(self, X: Any) -> np.ndarray:
        """Membership probabilities per segment.

        gmm: the mixture posterior. k-means: :func:`kmeans_soft_assignments`, a softmax of
        negative squared distances scaled by the pooled within-segment variance.

        Parameters
        ----------
        X : table or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_segments)
        """
        return self._assign(X, micro=False).proba

    def confidence(self, X: Any) -> np.ndarray:
        """Highest membership probability of each row (see :meth:`predict_proba`)."""
        return self._assign(X, micro=False).confidence

    def predict_micro(self, X: Any) -> np.ndarray:
        """Micro-segment id (``"m<i>"``, whatever the segment) of each row.

        Raises
        ------
        ModelError
            When the model was fitted without micro-segments.
        """
        if self._fitted()[1].micro_centers is None:
            raise ModelError("this segmenter was fitted without micro-segments")
        return self._assign(X).micro_segment_id
