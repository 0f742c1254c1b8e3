"""Segment profiles: size, value share, feature means/medians and lift against the population."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import DataValidationError
from segmint.segment._validation import as_labels, as_numeric_frame, to_python

__all__ = ["SegmentProfiles", "profile_segments", "prepare_features"]

ID_COLUMN = "customer_id"


def prepare_features(features: Any) -> pd.DataFrame:
    """Numeric feature frame from a table; a ``customer_id`` column becomes the index."""
    if hasattr(features, "columns") and not isinstance(features, pd.DataFrame):
        from segmint.segment._validation import _to_pandas

        features, _ = _to_pandas(features)
    if isinstance(features, pd.DataFrame) and ID_COLUMN in features.columns:
        features = features.set_index(ID_COLUMN)
    frame, _ = as_numeric_frame(features, what="features")
    return frame


@dataclass
class SegmentProfiles:
    """Profiles of every segment.

    Attributes
    ----------
    summary : pandas.DataFrame
        Indexed by segment id (sorted): ``size``, ``share`` (of customers), ``value_share``
        (segment's share of the total of the value column; NaN without one or when the total
        is not positive) and ``value_mean``.
    stats : pandas.DataFrame
        One row per (segment, feature): ``segment_mean``, ``segment_median``,
        ``population_mean``, ``population_median`` (original units, missing values skipped),
        ``lift`` and ``ratio`` (see :func:`profile_segments`).
    value : str or None
        The value column used for ``value_share``.
    """

    summary: pd.DataFrame
    stats: pd.DataFrame
    value: str | None

    @property
    def segments(self) -> list[Any]:
        """Segment ids, sorted."""
        return list(self.summary.index)

    def table(self, column: str = "lift") -> pd.DataFrame:
        """Wide table segment x feature of one statistic (e.g. ``"lift"``, ``"segment_mean"``)."""
        return self.stats[column].unstack("feature")

    def top_features(
        self, segment: Any, n: int = 5, *, min_abs_lift: float = 0.0
    ) -> list[dict[str, Any]]:
        """The ``n`` features that most distinguish ``segment`` (largest absolute lift).

        Returns
        -------
        list of dict
            ``feature``, ``lift``, ``ratio``, ``segment_mean``, ``population_mean`` (plain
            Python numbers, None for undefined values), strongest first.
        """
        return self.top_features_by_segment(n, min_abs_lift=min_abs_lift, segments=[segment])[
            segment
        ]

    def top_features_by_segment(
        self, n: int = 5, *, min_abs_lift: float = 0.0, segments: list[Any] | None = None
    ) -> dict[Any, list[dict[str, Any]]]:
        """:meth:`top_features` of every segment (or of ``segments``) in one pass."""
        stats = self.stats if segments is None else self.stats.loc[segments]
        stats = stats.assign(strength=stats["lift"].abs())
        stats = stats[stats["strength"] >= min_abs_lift]
        # stable sort within each segment: ties keep the feature order
        order = np.lexsort((-stats["strength"].to_numpy(),))
        ranked = stats.iloc[order].sort_index(level="segment", sort_remaining=False, kind="stable")
        ranked = ranked.groupby(level="segment", sort=False).head(n)
        keys = ("lift", "ratio", "segment_mean", "population_mean")
        out: dict[Any, list[dict[str, Any]]] = {s: [] for s in (segments or self.segments)}
        columns = [ranked[k].to_numpy() for k in keys]
        for i, (seg, feature) in enumerate(ranked.index):
            item = {"feature": str(feature)}
            item.update({k: to_python(c[i]) for k, c in zip(keys, columns, strict=True)})
            out[seg].append(item)
        return out


def profile_segments(
    features: Any,
    labels: Any,
    *,
    value: str | None = "monetary",
    winsorize: tuple[float, float] = (0.01, 0.99),
) -> SegmentProfiles:
    """Profile each segment against the whole population.

    Parameters
    ----------
    features : table of shape (n_customers, n_features)
        Features in original units (pandas/polars/pyarrow; a ``customer_id`` column is used as
        the index and not profiled).
    labels : array-like of shape (n_customers,)
        Segment of each row (ints or strings), in the same row order.
    value : str or None, default="monetary"
        Column whose total defines ``value_share``; ignored (NaN shares) when absent.
    winsorize : tuple of float, default=(0.01, 0.99)
        Population quantiles at which values are clipped when computing ``lift`` only.

    Returns
    -------
    SegmentProfiles

    Notes
    -----
    ``lift`` is a standardised mean difference::

        lift = (mean_seg(w(x)) - mean_pop(w(x))) / std_pop(w(x))

    where ``w`` clips ``x`` to the population's ``winsorize`` quantiles. It is defined for
    negative and zero-mean features (e.g. ``spend_trend``), is comparable across features, and a
    few extreme customers cannot dominate it. 0 means "like the population", +1 means one
    population standard deviation above. ``ratio`` is the plain ratio of means
    ``mean_seg(x) / mean_pop(x)``, given only for features with no negative values and a
    positive population mean (NaN otherwise); it reads well in prose ("2.3x the average
    spend") but is not used for ranking.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"monetary": [10.0, 20.0, 300.0, 400.0]})
    >>> p = profile_segments(X, [0, 0, 1, 1])
    >>> p.summary["value_share"].round(2).tolist()
    [0.04, 0.96]
    """
    frame = prepare_features(features)
    lab = as_labels(labels, frame.shape[0])
    values = frame.to_numpy()
    cols = list(frame.columns)
    if values.shape[0] < 1:
        msg = "features is empty"
        raise DataValidationError(msg)
    with warnings.catch_warnings():
        # all-missing features give NaN statistics; that is the intended result
        warnings.simplefilter("ignore", RuntimeWarning)
        pop_mean = np.nanmean(values, axis=0)
        pop_median = np.nanmedian(values, axis=0)
        lo_q, hi_q = np.nanquantile(values, list(winsorize), axis=0)
        wins = np.clip(values, lo_q, hi_q)
        w_mean = np.nanmean(wins, axis=0)
        w_std = np.nanstd(wins, axis=0)
        nonneg = np.nanmin(values, axis=0) >= 0
    w_std = np.where(w_std > 0, w_std, np.nan)

    key = pd.Index(lab, name="segment")
    grouped = pd.DataFrame(values, columns=cols).groupby(key.to_numpy(), sort=True)
    seg_mean = grouped.mean()
    seg_median = grouped.median()
    seg_w = pd.DataFrame(wins, columns=cols).groupby(key.to_numpy(), sort=True).mean()
    lift = (seg_w - w_mean) / w_std
    lift = lift.fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = seg_mean / np.where(nonneg & (pop_mean > 0), pop_mean, np.nan)

    segments = seg_mean.index
    n_seg = len(segments)
    stats = pd.DataFrame(
        {
            "segment_mean": seg_mean.to_numpy().ravel(),
            "segment_median": seg_median.to_numpy().ravel(),
            "population_mean": np.tile(pop_mean, n_seg),
            "population_median": np.tile(pop_median, n_seg),
            "lift": lift.to_numpy().ravel(),
            "ratio": ratio.to_numpy().ravel(),
        },
        index=pd.MultiIndex.from_product([segments, cols], names=["segment", "feature"]),
    )

    sizes = grouped.size()
    summary = pd.DataFrame({"size": sizes.astype(np.int64), "share": sizes / frame.shape[0]})
    summary.index.name = "segment"
    if value is not None and value in frame.columns:
        v = frame[value].to_numpy()
        total = np.nansum(v)
        seg_total = pd.Series(v).groupby(key.to_numpy(), sort=True).sum()
        summary["value_share"] = seg_total / total if total > 0 else np.nan
        summary["value_mean"] = seg_mean[value]
        used_value: str | None = value
    else:
        summary["value_share"] = np.nan
        summary["value_mean"] = np.nan
        used_value = None
    return SegmentProfiles(summary=summary, stats=stats, value=used_value)
