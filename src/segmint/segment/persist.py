"""Fitted segmenters as plain JSON-ready dicts, and a small live model rebuilt from them.

A :class:`~segmint.segment.Segmenter` is saved with :func:`segmenter_to_dict` (numbers and
strings only, never a pickle) and loaded with :func:`segmenter_from_dict` as a
:class:`LiveSegmenter`, whose ``predict``, ``predict_proba``, ``confidence`` and
``predict_micro`` give exactly the fitted model's results on the same rows: the scaler and the
Gaussian mixture are rebuilt as the same scikit-learn/segmint classes with the saved fitted
state, and Python's ``json`` writes floats with ``repr``, which round-trips every float64
exactly.

Only the default scaler (:class:`~segmint.segment.FeatureScaler`) can be saved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.mixture import GaussianMixture

from segmint.errors import ModelError
from segmint.segment.assign import Assignment, AssignMixin, SegmentGeometry, assign
from segmint.segment.cluster import Segmenter
from segmint.segment.scaling import FeatureScaler
from segmint.segment.space import InterestMap, UsefulSpace

__all__ = ["FORMAT", "LiveSegmenter", "segmenter_from_dict", "segmenter_to_dict"]

#: value of the ``"format"`` key of a saved segmenter
FORMAT = "segmint.segmenter"
_VERSION = 2


def _floats(a: Any) -> Any:
    return np.asarray(a, dtype=np.float64).tolist()


def segmenter_to_dict(model: Segmenter, *, metadata: dict | None = None) -> dict:
    """Save a fitted segmenter as a JSON-serialisable dict.

    Parameters
    ----------
    model : Segmenter
        A fitted segmenter whose scaler is a :class:`FeatureScaler` (the default).
    metadata : dict, optional
        JSON-serialisable extras stored under ``"metadata"`` (for example the run id, the
        ``as_of`` date, or the category behind each ``cat_share_*`` column).

    Returns
    -------
    dict
        Keys ``format``, ``version``, ``method``, ``n_segments``, ``feature_names``,
        ``scaler`` (``scaling``, ``clip``, ``transforms``, ``impute_values``, ``center``,
        ``scale``), ``cluster_centers``, ``within_variance`` (the soft-assignment variance of
        k-means, None for gmm), ``gmm`` (``covariance_type``, ``weights``, ``means``,
        ``covariances``, ``precisions_cholesky`` in the mixture's own component order and
        ``order``, new segment id -> component; None for k-means), ``micro_groups`` (taste
        group centres), ``micro_centers`` (taste group as a string -> centres; both None
        without micro-segments) and ``metadata``.

    Raises
    ------
    ModelError
        When the model is not fitted or uses a scaler other than ``FeatureScaler``.
    """
    if not hasattr(model, "labels_"):
        raise ModelError("the segmenter is not fitted; call fit before saving it")
    scaler = model.scaler_
    if type(scaler) not in (FeatureScaler, UsefulSpace):
        raise ModelError(
            "only FeatureScaler and UsefulSpace can be saved, this segmenter uses "
            f"{type(scaler).__name__}"
        )
    names = [str(n) for n in model._feature_names]
    gmm = None
    if model.method_ == "gmm":
        m = model.model_
        gmm = {
            "covariance_type": m.covariance_type,
            "weights": _floats(m.weights_),
            "means": _floats(m.means_),
            "covariances": _floats(m.covariances_),
            "precisions_cholesky": _floats(m.precisions_cholesky_),
            "order": [int(i) for i in model.geometry_.order],
        }
    micro = groups = None
    if hasattr(model, "micro_centers_"):
        micro = {str(int(s)): _floats(c) for s, c in model.micro_centers_.items()}
        groups = _floats(model.micro_groups_)
    dims = model.geometry_.micro_dims
    within = model.geometry_.within_variance
    return {
        "format": FORMAT,
        "version": _VERSION,
        "method": model.method_,
        "n_segments": int(model.n_segments_),
        "feature_names": names,
        "had_names": hasattr(model, "feature_names_in_"),
        "scaler": {
            "scaling": scaler.scaling,
            "clip": None if scaler.clip is None else float(scaler.clip),
            "transforms": {n: scaler.transforms_[n] for n in names},
            "impute_values": {n: float(scaler.impute_values_[n]) for n in names},
            "center": _floats(scaler.center_),
            "scale": _floats(scaler.scale_),
            **_space(scaler),
        },
        "cluster_centers": _floats(model.cluster_centers_),
        "within_variance": within,
        "gmm": gmm,
        "micro_groups": groups,
        "micro_centers": micro,
        "micro_dims": None if dims is None else [int(i) for i in dims],
        "metadata": dict(metadata or {}),
    }


def _dims(stored: list | None) -> np.ndarray | None:
    return None if stored is None else np.asarray(stored, dtype=np.intp)


def _space(scaler: FeatureScaler) -> dict:
    """A :class:`UsefulSpace`'s projection (nothing for a plain scaler)."""
    if not isinstance(scaler, UsefulSpace):
        return {}
    imap = scaler.interest_map if hasattr(scaler, "interest_center_") else None
    learned = {}
    if imap is not None:
        learned = {
            "interest_map": {
                "inputs": list(imap.inputs),
                "outputs": list(imap.outputs),
                "weights": _floats(imap.weights),
                "intercept": _floats(imap.intercept),
                "center": _floats(scaler.interest_center_),
                "scale": float(scaler.interest_scale_),
            }
        }
    return {
        "projection": _floats(scaler.projection_),
        "space_names": list(scaler.space_names_),
        "interest_dims": [int(i) for i in scaler.interest_dims_],
        **learned,
    }


def _rebuild_scaler(d: dict, names: list[str], had_names: bool) -> FeatureScaler:
    if "projection" in d:
        scaler = UsefulSpace(scaling=d["scaling"], clip=d["clip"])
        scaler.projection_ = np.asarray(d["projection"], dtype=np.float64).reshape(len(names), -1)
        scaler.space_names_ = list(d["space_names"])
        scaler.interest_dims_ = np.asarray(d["interest_dims"], dtype=np.intp)
        if "interest_map" in d:
            m = d["interest_map"]
            scaler.interest_map = InterestMap(
                tuple(m["inputs"]),
                tuple(m["outputs"]),
                np.asarray(m["weights"], dtype=np.float64).reshape(2 * len(m["inputs"]), -1),
                np.asarray(m["intercept"], dtype=np.float64),
            )
            scaler.interest_center_ = np.asarray(m["center"], dtype=np.float64)
            scaler.interest_scale_ = float(m["scale"])
            scaler._learned_interest(list(names))
    else:
        scaler = FeatureScaler(scaling=d["scaling"], clip=d["clip"])
    scaler.transforms_ = {n: d["transforms"][n] for n in names}
    scaler.impute_values_ = {n: float(d["impute_values"][n]) for n in names}
    scaler._impute = np.array([scaler.impute_values_[n] for n in names], dtype=np.float64)
    scaler._feature_names = list(names)
    scaler.n_features_in_ = len(names)
    if had_names:
        scaler.feature_names_in_ = np.asarray(names, dtype=object)
    scaler.center_ = np.asarray(d["center"], dtype=np.float64)
    scaler.scale_ = np.asarray(d["scale"], dtype=np.float64)
    return scaler


def _rebuild_gmm(d: dict, n_features: int) -> GaussianMixture:
    weights = np.asarray(d["weights"], dtype=np.float64)
    gm = GaussianMixture(n_components=weights.size, covariance_type=d["covariance_type"])
    gm.weights_ = weights
    gm.means_ = np.asarray(d["means"], dtype=np.float64)
    gm.covariances_ = np.asarray(d["covariances"], dtype=np.float64)
    gm.precisions_cholesky_ = np.asarray(d["precisions_cholesky"], dtype=np.float64)
    pc = gm.precisions_cholesky_
    if gm.covariance_type == "full":
        gm.precisions_ = np.einsum("kij,klj->kil", pc, pc)
    elif gm.covariance_type == "tied":
        gm.precisions_ = pc @ pc.T
    else:
        gm.precisions_ = pc**2
    gm.n_features_in_ = n_features
    gm.converged_ = True
    gm.n_iter_ = 0
    gm.lower_bound_ = float("nan")
    return gm


class LiveSegmenter(AssignMixin):
    """A saved segmenter, rebuilt for assignment only (see :func:`segmenter_from_dict`).

    Parameters
    ----------
    d : dict
        A dict made by :func:`segmenter_to_dict` (possibly through JSON).

    Attributes
    ----------
    method : str
        ``"kmeans"``, ``"minibatch"`` or ``"gmm"``.
    n_segments : int
    feature_names : list of str
        The columns ``X`` must have (in this order when ``X`` is an array).
    cluster_centers : ndarray of shape (n_segments, n_features)
        Segment centres in scaled space.
    micro_groups : ndarray or None
        Centres of the micro-segments' taste groups (None also for a model saved before
        micro-segments were found across segments: its micro-segments are not assigned).
    micro_centers : dict of int to ndarray or None
        Micro-segment centres per taste group.
    metadata : dict
    scaler : FeatureScaler
        The fitted scaler, rebuilt.
    geometry : SegmentGeometry
        The saved assignment geometry; every method assigns through
        :func:`segmint.segment.assign.assign`, the kernel the fitted model uses.
    """

    def __init__(self, d: dict) -> None:
        if d.get("format") != FORMAT:
            raise ModelError(f"not a saved segmenter (format {d.get('format')!r})")
        if int(d.get("version", 0)) > _VERSION:
            raise ModelError(f"saved segmenter version {d['version']} is newer than supported")
        self._dict = d
        self.method = str(d["method"])
        self.n_segments = int(d["n_segments"])
        self.feature_names = [str(n) for n in d["feature_names"]]
        self._feature_names = self.feature_names
        if d.get("had_names", True):
            self.feature_names_in_ = np.asarray(self.feature_names, dtype=object)
        self.n_features_in_ = len(self.feature_names)
        self.scaler = _rebuild_scaler(d["scaler"], self.feature_names, d.get("had_names", True))
        self.cluster_centers = np.asarray(d["cluster_centers"], dtype=np.float64).reshape(
            self.n_segments, -1
        )
        self.within_variance = d.get("within_variance")
        # micro-segments nested in segments (version 1) are not assigned by this version
        micro, groups = d.get("micro_centers"), d.get("micro_groups")
        self.micro_centers = self.micro_groups = None
        if micro is not None and groups is not None:
            self.micro_centers = {
                int(s): np.asarray(c, dtype=np.float64).reshape(len(c), -1)
                for s, c in micro.items()
            }
            self.micro_groups = np.asarray(groups, dtype=np.float64).reshape(len(groups), -1)
        self.metadata = dict(d.get("metadata") or {})
        gmm = d["gmm"] if self.method == "gmm" else None
        self.geometry = SegmentGeometry(
            self.cluster_centers,
            within_variance=None if gmm else float(self.within_variance),
            gmm=_rebuild_gmm(gmm, self.cluster_centers.shape[1]) if gmm else None,
            order=np.asarray(gmm["order"], dtype=np.intp) if gmm else None,
            micro_groups=self.micro_groups,
            micro_centers=self.micro_centers,
            micro_dims=_dims(d.get("micro_dims")),
            # runs stored before segments were found on the expected next mix
            segment_dims=_dims(d.get("segment_dims")),
        )

    def __repr__(self) -> str:
        return (
            f"LiveSegmenter(method={self.method!r}, n_segments={self.n_segments}, "
            f"n_features={self.n_features_in_})"
        )

    def to_dict(self) -> dict:
        """The dict this model was built from."""
        return self._dict

    def _fitted(self) -> tuple[FeatureScaler, SegmentGeometry]:
        return self.scaler, self.geometry

    def assign_values(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`assign` on raw feature values already in ``feature_names`` order, unchecked.

        The live service builds its rows in the model's column order, so the per-call name
        checks of :meth:`assign` (about 10 ms on a frame) are skipped on the event path.

        Parameters
        ----------
        values : ndarray of shape (n_samples, n_features)

        Returns
        -------
        dict
            As :meth:`assign`.
        """
        Z = self.scaler._transform_values(np.asarray(values, np.float64))
        return _as_dict(assign(self.geometry, Z))

    def assign(self, X: Any) -> dict[str, np.ndarray]:
        """Segment, confidence and (when available) micro-segment of each row in one pass.

        Parameters
        ----------
        X : table or array-like of shape (n_samples, n_features)

        Returns
        -------
        dict
            ``segment_id`` (int array), ``confidence`` (float array) and
            ``micro_segment_id`` (object array of str, or None without micro-segments).
        """
        return _as_dict(self._assign(X))


def _as_dict(found: Assignment) -> dict[str, np.ndarray]:
    return {
        "segment_id": found.segment_id,
        "confidence": found.confidence,
        "micro_segment_id": found.micro_segment_id,
    }


def segmenter_from_dict(d: dict) -> LiveSegmenter:
    """Rebuild a saved segmenter for live assignment.

    Parameters
    ----------
    d : dict
        Made by :func:`segmenter_to_dict` (possibly after a JSON round trip).

    Returns
    -------
    LiveSegmenter
        Gives the same ``predict``, ``predict_proba``, ``confidence`` and ``predict_micro`` as
        the saved model on the same rows.

    Raises
    ------
    ModelError
        When ``d`` is not a saved segmenter or comes from a newer version.
    """
    return LiveSegmenter(d)
