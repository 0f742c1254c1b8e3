"""Micro-segments described within their segment: name, rule, size, value share and profile.

A micro-segment is profiled against its parent segment, not against all customers, so its name
says what sets it apart from its siblings ("Loyal big spenders · Christmas fans") and its rule
separates it from them. Every word after the "·" comes from a trait that the micro-segment's
profile shows against its segment (:func:`~segmint.segment.naming.name_traits`).

Built for thousands of micro-segments over millions of customers: the profiles are group-by
aggregates over each segment's rows (every row is read once per statistic, whatever the number
of micro-segments), and the rules come from surrogate trees fitted on at most ``tree_sample``
rows and measured on at most ``rule_sample`` rows of the segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from segmint.errors import DataValidationError
from segmint.segment._validation import as_labels, to_python
from segmint.segment.describe import JsonDescription
from segmint.segment.naming import TYPICAL, name_traits
from segmint.segment.profile import prepare_features, profile_segments
from segmint.segment.rules import segment_rules

__all__ = [
    "SEPARATOR",
    "WHOLE_SEGMENT",
    "MicroSegmentDescription",
    "describe_micro_segments",
    "within_name",
]

#: between the parent's name and what distinguishes the micro-segment within it
SEPARATOR = " · "
#: the rule of the only micro-segment of a segment that is not split
WHOLE_SEGMENT = "the whole segment"


@dataclass
class MicroSegmentDescription(JsonDescription):
    """One micro-segment, described relative to its segment.

    Attributes
    ----------
    micro_segment_id : str
    segment_id : int
    name : str
        ``"<segment name> · <traits within the segment>"``; the segment's own name when it
        has a single micro-segment.
    rule : str
        What separates it from the other micro-segments of its segment (read within it).
    rule_fidelity, rule_precision : float
        Recall and precision of the rule among the segment's customers (on the rule sample).
    size : int
    share : float
        Share of all customers.
    segment_share : float
        Share of its segment's customers.
    value_share : float or None
        Share of all customers' total of the value column.
    top_features : list of dict
        What distinguishes it within the segment: ``feature``, ``lift`` (standardised
        difference from the segment), ``ratio``, ``segment_mean`` (the micro-segment's) and
        ``population_mean`` (the segment's); strongest first.
    profile : dict of str to float
        Mean of every feature (original units).
    """

    micro_segment_id: str
    segment_id: int
    name: str
    rule: str
    rule_fidelity: float
    rule_precision: float
    size: int
    share: float
    segment_share: float
    value_share: float | None
    top_features: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)


def within_name(name: str) -> str:
    """The part of a micro-segment's name after the "·", from its name among its siblings
    (:func:`~segmint.segment.naming.name_traits`): "Typical customers" reads "typical" there
    ("Lapsed customers · typical", not "Lapsed customers · Typical customers")."""
    return "typical" + name[len(TYPICAL) :] if name.startswith(TYPICAL) else name


def _rule_rows(codes: np.ndarray, limit: int, rng: np.random.RandomState, floor: int = 30):
    """Rows of one segment on which its micro-segments' rules are found and measured: all of
    them up to ``limit``, else a random ``limit`` plus, for a micro-segment left with fewer
    than ``floor`` rows in the sample, enough of its own to reach ``floor``."""
    n = codes.size
    if n <= limit:
        return np.arange(n)
    take = np.zeros(n, dtype=bool)
    take[rng.choice(n, limit, replace=False)] = True
    have = np.bincount(codes[take], minlength=codes.max() + 1)
    full = np.bincount(codes, minlength=codes.max() + 1)
    for code in np.flatnonzero(have < np.minimum(full, floor)):
        rows = np.flatnonzero((codes == code) & ~take)
        take[rng.choice(rows, min(floor - have[code], rows.size), replace=False)] = True
    return np.flatnonzero(take)


def _within(
    sub: pd.DataFrame,
    labels: np.ndarray,
    sample: np.ndarray,
    *,
    n_top_features: int,
    rule_features: int,
    max_depth: int,
    labels_map: dict[str, str] | None,
    tree_sample: int,
    rng: np.random.RandomState,
) -> tuple[dict, dict, dict]:
    """One segment's micro-segments against the segment: their names (with the traits behind
    them), distinguishing features and rules, each by micro-segment id."""
    profiles = profile_segments(sub, labels, value=None)
    ranked = profiles.top_features_by_segment(max(n_top_features, rule_features))
    rules = segment_rules(
        sub.iloc[sample],
        labels[sample],
        max_depth=max_depth,
        labels_map=labels_map,
        sample_size=tree_sample,
        columns={m: [f["feature"] for f in found[:rule_features]] for m, found in ranked.items()},
        random_state=rng,
    )
    top = {m: found[:n_top_features] for m, found in ranked.items()}
    return name_traits(profiles), top, rules


def describe_micro_segments(
    features: Any,
    segment_labels: Any,
    micro_labels: Any,
    segment_names: dict[Any, str],
    *,
    value: str | None = "monetary",
    labels_map: dict[str, str] | None = None,
    n_top_features: int = 3,
    max_depth: int = 3,
    rule_sample: int = 20_000,
    tree_sample: int = 1_000,
    rule_features: int = 6,
    random_state: Any = 0,
) -> list[MicroSegmentDescription]:
    """Name, profile and explain every micro-segment within its segment.

    Parameters
    ----------
    features : table of shape (n_customers, n_features)
        Features in original units (see :func:`~segmint.segment.describe_segments`).
    segment_labels : array-like of shape (n_customers,)
        Segment of each row.
    micro_labels : array-like of shape (n_customers,)
        Micro-segment of each row (e.g. ``Segmenter.micro_labels_``); each belongs to one
        segment.
    segment_names : dict
        Segment id -> its name, the first part of each micro-segment's name.
    value : str or None, default="monetary"
        Column defining ``value_share``.
    labels_map : dict of str to str, optional
        Readable feature labels for the rules.
    n_top_features : int, default=3
        Distinguishing features listed per micro-segment.
    max_depth : int, default=3
        Most conditions in a rule.
    rule_sample : int, default=20000
        Rows of each segment on which rules are found and measured (all when fewer).
    tree_sample : int, default=1000
        Rows each surrogate tree is fitted on (half members where possible).
    rule_features : int, default=6
        A rule uses only the features that most distinguish its micro-segment within the
        segment (this many): it reads like the name, and thousands of trees stay fast.
    random_state : int, RandomState or None, default=0

    Returns
    -------
    list of MicroSegmentDescription
        By segment, then by descending size.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"recency_days": [10.0, 12, 12, 10, 300, 320],
    ...                   "monetary": [900.0, 950, 90, 95, 50, 60]})
    >>> out = describe_micro_segments(
    ...     X, [0, 0, 0, 0, 1, 1], ["0.0", "0.0", "0.1", "0.1", "1.0", "1.0"],
    ...     {0: "Active customers", 1: "Lapsed customers"})
    >>> [(d.name, d.rule) for d in out][:2]
    [('Active customers · Big spenders', 'monetary > 500'), \
('Active customers · Light spenders', 'monetary <= 500')]
    """
    frame = prepare_features(features)
    n = frame.shape[0]
    seg = as_labels(segment_labels, n)
    micro = np.asarray(as_labels(micro_labels, n)).astype(str)
    rng = check_random_state(random_state)
    has_value = value is not None and value in frame.columns
    value_col = frame[value].to_numpy() if has_value else None
    total = float(np.nansum(value_col)) if has_value else float("nan")
    out: list[MicroSegmentDescription] = []
    order = np.argsort(seg, kind="stable")  # each segment's rows once, not one scan per segment
    parents, starts = np.unique(seg[order], return_index=True)
    for parent, rows in zip(parents, np.split(order, starts[1:]), strict=True):
        if parent not in segment_names:
            raise DataValidationError(f"segment {to_python(parent)!r} has no name in segment_names")
        labels = micro[rows]
        ids, codes = np.unique(labels, return_inverse=True)
        sub = frame.iloc[rows]
        values = pd.Series(value_col[rows] if has_value else np.zeros(rows.size))
        sums = values.groupby(codes).sum().to_numpy()
        sizes = np.bincount(codes)
        name = segment_names[parent]
        if ids.size == 1:  # not split: the segment itself
            named, top, rules = {ids[0]: ("", [])}, {ids[0]: []}, {}
        else:
            named, top, rules = _within(
                sub,
                labels,
                _rule_rows(codes, rule_sample, rng),
                n_top_features=n_top_features,
                rule_features=rule_features,
                max_depth=max_depth,
                labels_map=labels_map,
                tree_sample=tree_sample,
                rng=rng,
            )
        means = sub.groupby(codes).mean()
        for code in np.argsort(-sizes, kind="stable"):
            mid = ids[code]
            rule = rules.get(mid)
            own = within_name(named[mid][0])
            out.append(
                MicroSegmentDescription(
                    micro_segment_id=str(mid),
                    segment_id=to_python(parent),
                    name=f"{name}{SEPARATOR}{own}" if own else name,
                    rule=rule.text if rule is not None else WHOLE_SEGMENT,
                    rule_fidelity=float(rule.fidelity) if rule is not None else 1.0,
                    rule_precision=float(rule.precision) if rule is not None else 1.0,
                    size=int(sizes[code]),
                    share=sizes[code] / n,
                    segment_share=sizes[code] / rows.size,
                    value_share=float(sums[code] / total) if has_value and total > 0 else None,
                    top_features=top[mid],
                    profile={str(k): to_python(v) for k, v in means.loc[code].items()},
                )
            )
    return out
