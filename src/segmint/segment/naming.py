"""Plain-language names and one-sentence descriptions of segments, from their profiles."""

from __future__ import annotations

import math
from typing import Any

from segmint.segment.profile import SegmentProfiles

__all__ = ["describe_segment", "name_segments", "trait_words"]

# feature -> ((adjective, noun) when high, (adjective, noun) when low); None = no word.
_VOCAB: dict[str, tuple[tuple[str | None, str | None], tuple[str | None, str | None]]] = {
    "recency_days": (("lapsed", None), ("active", None)),
    "frequency": (("frequent", "regulars"), ("one-off", "one-off buyers")),
    "monetary": (("high-value", "big spenders"), ("low-spend", "light spenders")),
    "avg_order_value": (("big-ticket", "big-basket spenders"), ("low-ticket", "bargain hunters")),
    "tenure_days": (("loyal", None), ("new", None)),
    "interpurchase_mean_days": (("infrequent", None), ("fast-returning", None)),
    "interpurchase_cv": (("irregular", None), ("steady", None)),
    "return_rate": (("return-prone", "returners"), ("no-return", None)),
    "basket_size": (("bulk", "bulk buyers"), ("small-basket", None)),
    "n_products": (("wide-range", "explorers"), ("narrow-range", None)),
    "n_categories": (("multi-category", "explorers"), ("single-category", None)),
    "top_category_share": (("focused", None), ("varied", None)),
    "spend_trend": (("growing", None), ("declining", None)),
    "attr_age": (("older", None), ("younger", None)),
}

_MONEY = {"monetary", "avg_order_value"}
_SHARES = ("cat_share_", "top_category_share", "return_rate")


def _title(slug: str) -> str:
    return " ".join(w.capitalize() for w in slug.replace("-", "_").split("_") if w)


def trait_words(feature: str, high: bool) -> tuple[str | None, str | None]:
    """Adjective and noun describing a segment that is high (or low) on ``feature``.

    Known features use a fixed vocabulary (``recency_days`` high -> "lapsed",
    ``monetary`` high -> "big spenders", ``tenure_days`` low -> "new", ...);
    ``cat_share_<x>`` high -> ("<X>-focused", "<X> fans"); ``attr_<name>`` -> "high-<name>";
    anything else -> "high <feature>" / "low <feature>".

    Examples
    --------
    >>> trait_words("recency_days", True)
    ('lapsed', None)
    >>> trait_words("cat_share_christmas", True)
    ('Christmas-focused', 'Christmas fans')
    """
    if feature in _VOCAB:
        return _VOCAB[feature][0 if high else 1]
    if feature.startswith("cat_share_"):
        cat = _title(feature[len("cat_share_") :])
        return (f"{cat}-focused", f"{cat} fans") if high else (None, None)
    if feature.startswith("attr_"):
        name = feature[len("attr_") :].replace("_", " ")
        return (f"high-{name}" if high else f"low-{name}", None)
    label = feature.replace("_", " ")
    return (f"high {label}" if high else f"low {label}", None)


def _traits(profiles: SegmentProfiles, segment: Any, min_abs: float) -> list[tuple[str, float]]:
    rows = profiles.stats.xs(segment, level="segment")["lift"]
    rows = rows[rows.abs() >= min_abs]
    order = rows.abs().sort_values(ascending=False, kind="stable").index
    return [(str(f), float(rows[f])) for f in order]


def _compose(traits: list[tuple[str, float]], n_adj: int) -> tuple[str, bool]:
    """Name from the strongest traits; returns (name, whether more traits were available)."""
    noun_i, noun = None, "customers"
    for i, (f, lift) in enumerate(traits[:3]):
        word = trait_words(f, lift > 0)[1]
        if word:
            noun_i, noun = i, word
            break
    adjs: list[str] = []
    more = False
    for i, (f, lift) in enumerate(traits):
        if i == noun_i:
            continue
        adj = trait_words(f, lift > 0)[0]
        if not adj or adj in adjs:
            continue
        if len(adjs) == n_adj:
            more = True
            break
        adjs.append(adj)
    name = " ".join([*adjs, noun])
    return name[:1].upper() + name[1:], more


def name_segments(
    profiles: SegmentProfiles,
    *,
    min_lift: float = 0.25,
    disambiguation_lift: float = 0.05,
) -> dict[Any, str]:
    """A unique plain-language name for every segment.

    The name is built from the segment's most distinctive traits (largest absolute ``lift``,
    see :func:`~segmint.segment.profile_segments`): a noun from the strongest trait that has
    one among the top three ("big spenders", "regulars", "Christmas fans"; else "customers")
    and an adjective from the next strongest ("lapsed", "new", "frequent"): e.g. "Lapsed big
    spenders". Traits weaker than ``min_lift`` are ignored, so a segment close to the
    population is "Typical customers".

    Names are unique: segments sharing a name get one more adjective from their next most
    distinctive trait (down to ``disambiguation_lift``) until the names differ; only if the
    traits run out is a number appended (``"... #2"``), in segment order.

    Parameters
    ----------
    profiles : SegmentProfiles
    min_lift : float, default=0.25
        Smallest absolute lift for a trait to appear in a base name.
    disambiguation_lift : float, default=0.05
        Smallest absolute lift for a trait used only to tell two names apart.

    Returns
    -------
    dict of segment id to str
    """
    segments = profiles.segments
    strong = {s: _traits(profiles, s, min_lift) for s in segments}
    weak = {s: _traits(profiles, s, disambiguation_lift) for s in segments}
    level = dict.fromkeys(segments, 1)
    names: dict[Any, str] = {}
    exhausted: dict[Any, bool] = {}
    for s in segments:
        if strong[s]:
            names[s], more = _compose(strong[s], 1)
        else:
            names[s], more = "Typical customers", bool(weak[s])
            level[s] = 0
        exhausted[s] = not more
    for _ in range(12):
        groups: dict[str, list[Any]] = {}
        for s in segments:
            groups.setdefault(names[s].lower(), []).append(s)
        clashes = [g for g in groups.values() if len(g) > 1]
        if not clashes:
            break
        progressed = False
        for group in clashes:
            for s in group:
                if exhausted[s]:
                    continue
                level[s] += 1
                new, more = _compose(weak[s], level[s])
                exhausted[s] = not more
                progressed = progressed or new != names[s]
                names[s] = new
        if not progressed:
            break
    seen: dict[str, int] = {}
    for s in segments:
        key = names[s].lower()
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            names[s] = f"{names[s]} #{seen[key]}"
    return names


def _fmt(x: float, feature: str) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if feature.startswith(_SHARES) or feature.endswith(("_share", "_rate")):
        return f"{x:.0%}"
    if feature.endswith("_days"):
        return f"{x:,.0f}"
    if feature == "frequency":
        return f"{x:,.1f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:,.1f}".rstrip("0").rstrip(".")
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def _phrase(feature: str, seg: float, pop: float, label: str) -> str:
    s, p = _fmt(seg, feature), _fmt(pop, feature)
    if feature == "recency_days":
        return f"they last ordered {s} days ago on average vs {p} overall"
    if feature == "frequency":
        return f"they placed {s} orders on average vs {p} overall"
    if feature == "monetary":
        return f"they spent {s} on average vs {p} overall"
    if feature == "tenure_days":
        return f"their first order was {s} days ago on average vs {p} overall"
    if feature == "avg_order_value":
        return f"their average order is {s} vs {p} overall"
    if feature == "return_rate":
        return f"they return {s} vs {p} overall"
    if feature.startswith("cat_share_") and label == feature:
        cat = _title(feature[len("cat_share_") :])
        return f"{cat} is {s} of their spend vs {p} overall"
    return f"{label} averages {s} vs {p} overall"


def describe_segment(
    profiles: SegmentProfiles,
    segment: Any,
    *,
    labels_map: dict[str, str] | None = None,
    n_features: int = 2,
) -> str:
    """One sentence on a segment: size, value share and its most distinctive features.

    Examples
    --------
    >>> import pandas as pd
    >>> from segmint.segment import profile_segments
    >>> X = pd.DataFrame({"recency_days": [10.0, 20, 300, 400], "monetary": [50.0, 60, 10, 20]})
    >>> text = describe_segment(profile_segments(X, [0, 0, 1, 1]), 1, n_features=1)
    >>> for part in text.split("; "):
    ...     print(part)
    2 customers (50%) bringing 21% of revenue
    they last ordered 350 days ago on average vs 182 overall.
    """
    row = profiles.summary.loc[segment]
    labels_map = labels_map or {}
    text = f"{int(row['size']):,} customers ({row['share']:.0%})"
    if math.isfinite(float(row["value_share"])):
        what = "revenue" if profiles.value == "monetary" else f"total {profiles.value}"
        text += f" bringing {row['value_share']:.0%} of {what}"
    stats = profiles.stats.xs(segment, level="segment")
    top = stats["lift"].abs().sort_values(ascending=False, kind="stable").index[:n_features]
    phrases = [
        _phrase(
            str(f),
            float(stats.at[f, "segment_mean"]),
            float(stats.at[f, "population_mean"]),
            labels_map.get(str(f), str(f)),
        )
        for f in top
        if abs(float(stats.at[f, "lift"])) > 0
    ]
    if phrases:
        text += "; " + ", and ".join(phrases)
    return text + "."
