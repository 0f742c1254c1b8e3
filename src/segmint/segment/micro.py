"""Micro-segments described: name, rule, size, value share, profile, and the segment most of
their customers are in.

A micro-segment is a taste found across all customers, not a split of one segment (see
:class:`~segmint.segment.Segmenter`), so it is profiled against all customers, its name says
what sets it apart ("Christmas fans", "Kitchen fans & light spenders") and its rule separates it
from everyone else. Every word of the name comes from a trait that its profile shows
(:func:`~segmint.segment.naming.name_traits`). Its customers may sit in several segments; it
records the one most of them are in and that share, so "this segment, and within it this
taste" is still one query away.

Built for thousands of micro-segments over millions of customers: the profiles are group-by
aggregates (every row is read once per statistic, whatever the number of micro-segments), and
the rules come from surrogate trees fitted on at most ``tree_sample`` rows and measured on at
most ``rule_sample`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from segmint.segment._validation import as_labels, to_python
from segmint.segment.describe import JsonDescription
from segmint.segment.naming import TYPICAL, name_traits, untaken
from segmint.segment.profile import prepare_features, profile_segments
from segmint.segment.rules import segment_rules

__all__ = ["ALL_CUSTOMERS", "MicroSegmentDescription", "describe_micro_segments"]

#: the rule of the only micro-segment when the customers are not split
ALL_CUSTOMERS = "all customers"


@dataclass
class MicroSegmentDescription(JsonDescription):
    """One micro-segment, described against all customers.

    Attributes
    ----------
    micro_segment_id : str
    segment_id : int
        The segment most of its customers are in.
    name : str
        From the traits that set it apart from all customers.
    rule : str
        What separates it from the other customers.
    rule_fidelity, rule_precision : float
        Recall and precision of the rule among all customers (on the rule sample).
    size : int
    share : float
        Share of all customers.
    segment_share : float
        Share of its customers who are in ``segment_id``.
    value_share : float or None
        Share of all customers' total of the value column.
    top_features : list of dict
        What distinguishes it: ``feature``, ``lift`` (standardised difference from all
        customers), ``ratio``, ``segment_mean`` (the micro-segment's) and ``population_mean``;
        strongest first.
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


def _rule_rows(codes: np.ndarray, limit: int, rng: np.random.RandomState, floor: int = 30):
    """Rows on which the micro-segments' rules are found and measured: all of them up to
    ``limit``, else a random ``limit`` plus, for a micro-segment left with fewer than ``floor``
    rows in the sample, enough of its own to reach ``floor``."""
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


def _explained(
    frame: pd.DataFrame,
    labels: np.ndarray,
    sample: np.ndarray,
    *,
    n_top_features: int,
    rule_features: int,
    max_depth: int,
    labels_map: dict[str, str] | None,
    tree_sample: int,
    rng: np.random.RandomState,
    taken: Iterable[str],
) -> tuple[dict, dict, dict]:
    """The micro-segments against all customers: their names (with the traits behind them),
    distinguishing features and rules, each by micro-segment id."""
    profiles = profile_segments(frame, labels, value=None)
    ranked = profiles.top_features_by_segment(max(n_top_features, rule_features))
    rules = segment_rules(
        frame.iloc[sample],
        labels[sample],
        max_depth=max_depth,
        labels_map=labels_map,
        sample_size=tree_sample,
        columns={m: [f["feature"] for f in found[:rule_features]] for m, found in ranked.items()},
        random_state=rng,
    )
    top = {m: found[:n_top_features] for m, found in ranked.items()}
    return name_traits(profiles, taken=taken), top, rules


def describe_micro_segments(
    features: Any,
    segment_labels: Any,
    micro_labels: Any,
    *,
    value: str | None = "monetary",
    labels_map: dict[str, str] | None = None,
    n_top_features: int = 3,
    max_depth: int = 3,
    rule_sample: int = 20_000,
    tree_sample: int = 1_000,
    rule_features: int = 6,
    random_state: Any = 0,
    segment_names: Iterable[str] = (),
) -> list[MicroSegmentDescription]:
    """Name, profile and explain every micro-segment against all customers.

    Parameters
    ----------
    features : table of shape (n_customers, n_features)
        Features in original units (see :func:`~segmint.segment.describe_segments`).
    segment_labels : array-like of shape (n_customers,)
        Segment of each row.
    micro_labels : array-like of shape (n_customers,)
        Micro-segment of each row (e.g. ``Segmenter.micro_labels_``).
    value : str or None, default="monetary"
        Column defining ``value_share``.
    labels_map : dict of str to str, optional
        Readable feature labels for the rules.
    n_top_features : int, default=3
        Distinguishing features listed per micro-segment.
    max_depth : int, default=3
        Most conditions in a rule.
    rule_sample : int, default=20000
        Rows on which rules are found and measured (all when fewer).
    tree_sample : int, default=1000
        Rows each surrogate tree is fitted on (half members where possible).
    rule_features : int, default=6
        A rule uses only the features that most distinguish its micro-segment (this many):
        it reads like the name, and thousands of trees stay fast.
    random_state : int, RandomState or None, default=0
    segment_names : iterable of str, optional
        The segments' names: no micro-segment is given one of them (a name that would be is
        told apart by its next most distinctive trait, or numbered), so a name selects one
        group.

    Returns
    -------
    list of MicroSegmentDescription
        By descending size.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"recency_days": [10.0, 12, 12, 10, 300, 320],
    ...                   "monetary": [900.0, 950, 90, 95, 900, 60]})
    >>> out = describe_micro_segments(
    ...     X, [0, 0, 0, 0, 1, 1], ["m0", "m0", "m1", "m1", "m0", "m1"])
    >>> [(d.micro_segment_id, d.name, d.segment_id, round(d.segment_share, 2)) for d in out]
    [('m0', 'Big spenders', 0, 0.67), ('m1', 'Light spenders', 0, 0.67)]
    """
    frame = prepare_features(features)
    n = frame.shape[0]
    seg = np.asarray(as_labels(segment_labels, n))
    micro = np.asarray(as_labels(micro_labels, n)).astype(str)
    rng = check_random_state(random_state)
    taken = {str(name).lower() for name in segment_names}
    ids, codes = np.unique(micro, return_inverse=True)
    sizes = np.bincount(codes, minlength=ids.size)
    segments, seg_codes = np.unique(seg, return_inverse=True)
    # customers of each micro-segment per segment, without a table of rows x segments
    cells = np.bincount(codes * segments.size + seg_codes, minlength=ids.size * segments.size)
    cells = cells.reshape(ids.size, segments.size)
    has_value = value is not None and value in frame.columns
    sums = np.zeros(ids.size)
    total = float("nan")
    if has_value:
        values = frame[value].to_numpy(dtype=np.float64)
        sums = np.bincount(codes, weights=np.nan_to_num(values), minlength=ids.size)
        total = float(np.nansum(values))
    if ids.size == 1:  # not split: everyone
        everyone = untaken(TYPICAL, taken)
        named, top, rules = {ids[0]: (everyone, [])}, {ids[0]: []}, {}
    else:
        named, top, rules = _explained(
            frame,
            micro,
            _rule_rows(codes, rule_sample, rng),
            n_top_features=n_top_features,
            rule_features=rule_features,
            max_depth=max_depth,
            labels_map=labels_map,
            tree_sample=tree_sample,
            rng=rng,
            taken=taken,
        )
    means = frame.groupby(codes).mean()
    out: list[MicroSegmentDescription] = []
    for code in np.argsort(-sizes, kind="stable"):
        mid = ids[code]
        rule = rules.get(mid)
        main = int(cells[code].argmax())
        out.append(
            MicroSegmentDescription(
                micro_segment_id=str(mid),
                segment_id=to_python(segments[main]),
                name=named[mid][0],
                rule=rule.text if rule is not None else ALL_CUSTOMERS,
                rule_fidelity=float(rule.fidelity) if rule is not None else 1.0,
                rule_precision=float(rule.precision) if rule is not None else 1.0,
                size=int(sizes[code]),
                share=float(sizes[code] / n),
                segment_share=float(cells[code, main] / sizes[code]),
                value_share=float(sums[code] / total) if has_value and total > 0 else None,
                top_features=top[mid],
                profile={str(k): to_python(v) for k, v in means.loc[code].items()},
            )
        )
    return out
