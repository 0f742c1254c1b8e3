"""One call from features and labels to named, described and explained segments."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmint.segment._validation import as_labels, to_python
from segmint.segment.naming import describe_segment, name_traits
from segmint.segment.profile import prepare_features, profile_segments
from segmint.segment.rules import segment_rules

__all__ = ["SegmentDescription", "describe_segments"]


class JsonDescription:
    """``to_dict`` for a description dataclass with ``top_features`` and ``profile`` fields."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (numpy scalars converted, NaN as None)."""
        out = asdict(self)
        for key, val in out.items():
            if key not in ("top_features", "profile"):
                out[key] = to_python(val)
        out["profile"] = {k: to_python(v) for k, v in self.profile.items()}
        out["top_features"] = [{k: to_python(v) for k, v in d.items()} for d in self.top_features]
        return out


@dataclass
class SegmentDescription(JsonDescription):
    """Everything a person needs to know about one segment.

    Attributes
    ----------
    segment_id : int or str
    name : str
        Unique plain-language name (see :func:`~segmint.segment.name_segments`).
    description : str
        One sentence: size, value share and the most distinctive features.
    rule : str
        Readable rule (see :func:`~segmint.segment.segment_rules`).
    rule_fidelity : float
        Share of the segment's members the rule covers.
    rule_precision : float
        Share of the customers covered by the rule who are members.
    size : int
    share : float
        Share of all customers.
    value_share : float or None
        Share of the total of the value column (None without one).
    top_features : list of dict
        ``feature``, ``lift`` (standardised difference), ``ratio``, ``segment_mean``,
        ``population_mean``; strongest first.
    profile : dict of str to float
        Mean of every feature in the segment (original units).
    """

    segment_id: Any
    name: str
    description: str
    rule: str
    rule_fidelity: float
    rule_precision: float
    size: int
    share: float
    value_share: float | None
    top_features: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)


#: a rule on the features a segment's name speaks of may cover this much less of the segment,
#: or be this much less precise, than the best rule on any feature, and still be preferred
RULE_IN_NAME_SLACK = 0.05


def _rules_in_their_names_words(
    frame: pd.DataFrame, labels: np.ndarray, named: dict, **options: Any
) -> dict:
    """Each segment's rule, on the features its name comes from when that costs little.

    A name says "Return-prone Bath fans"; a rule that speaks only of order counts would leave
    the reader wondering which to trust. The rule on the name's features is kept when it is
    within ``RULE_IN_NAME_SLACK`` of the best rule on every feature in fidelity and precision.
    """
    free = segment_rules(frame, labels, **options)
    spoken = {s: [feature for feature, _ in traits] for s, (_, traits) in named.items() if traits}
    if not spoken:
        return free
    in_words = segment_rules(frame, labels, columns=spoken, **options)
    return {
        s: in_words[s]
        if s in spoken
        and in_words[s].fidelity >= rule.fidelity - RULE_IN_NAME_SLACK
        and in_words[s].precision >= rule.precision - RULE_IN_NAME_SLACK
        else rule
        for s, rule in free.items()
    }


def describe_segments(
    features: Any,
    labels: Any,
    *,
    value: str | None = "monetary",
    labels_map: dict[str, str] | None = None,
    n_top_features: int = 5,
    max_depth: int = 3,
    random_state: Any = 0,
) -> list[SegmentDescription]:
    """Name, describe, profile and explain every segment.

    Parameters
    ----------
    features : table of shape (n_customers, n_features)
        Features in original units (pandas/polars/pyarrow), indexed by customer or with a
        ``customer_id`` column.
    labels : array-like of shape (n_customers,)
        Segment of each row (same order), e.g. ``Segmenter.labels_``.
    value : str or None, default="monetary"
        Column defining ``value_share``.
    labels_map : dict of str to str, optional
        Readable feature labels for rules and descriptions.
    n_top_features : int, default=5
        Number of distinguishing features listed per segment.
    max_depth : int, default=3
        Depth of the surrogate trees, i.e. the most conditions in a rule.
    random_state : int, RandomState or None, default=0

    Returns
    -------
    list of SegmentDescription
        Sorted by segment id.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"recency_days": [10.0, 20, 30, 300, 350, 400],
    ...                   "monetary": [50.0, 60, 55, 900, 950, 1000]})
    >>> out = describe_segments(X, [0, 0, 0, 1, 1, 1])
    >>> out[1].name, out[1].rule
    ('Lapsed big spenders', 'monetary > 500')
    """
    frame = prepare_features(features)
    lab = as_labels(labels, frame.shape[0])
    profiles = profile_segments(frame, lab, value=value)
    named = name_traits(profiles)
    names = {s: name for s, (name, _) in named.items()}
    rules = _rules_in_their_names_words(
        frame, lab, named, max_depth=max_depth, labels_map=labels_map, random_state=random_state
    )
    out = []
    for seg in profiles.segments:
        row = profiles.summary.loc[seg]
        rule = rules[seg]
        means = profiles.stats.xs(seg, level="segment")["segment_mean"]
        out.append(
            SegmentDescription(
                segment_id=to_python(seg),
                name=names[seg],
                description=describe_segment(profiles, seg, labels_map=labels_map),
                rule=rule.text,
                rule_fidelity=float(rule.fidelity),
                rule_precision=float(rule.precision),
                size=int(row["size"]),
                share=float(row["share"]),
                value_share=to_python(float(row["value_share"])),
                top_features=profiles.top_features(seg, n_top_features),
                profile={str(k): to_python(v) for k, v in means.items()},
            )
        )
    return out
