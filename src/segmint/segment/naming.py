"""Plain-language names and one-sentence descriptions of segments, from their profiles."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from segmint.features.labels import (
    INDICATOR_SEPARATOR,
    SOURCE_PREFIXES,
    coverage_column,
    is_share,
)
from segmint.segment.profile import SegmentProfiles

__all__ = [
    "describe_segment",
    "name_segments",
    "name_traits",
    "trait_holds",
    "trait_words",
]

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
    "customer_value": (("high-value", None), ("low-value", None)),
    # sources beyond purchases: only the traits a marketer would name a group by
    "has_web": (("online", None), ("offline", None)),
    "has_chats": (("support-contacting", None), ("never-contacting", None)),
    "has_devices": (("connected-device", "device users"), ("no-device", None)),
    "has_social": ((None, None), (None, None)),
    "web_sessions": (("frequent-visit", "frequent visitors"), ("rare-visit", None)),
    "web_session_minutes": (("long-visit", "researchers"), ("quick-visit", None)),
    "web_product_views": (("product-browsing", "browsers"), (None, None)),
    "web_search_share": (("searching", "searchers"), (None, None)),
    "web_cart_abandonment": (("cart-abandoning", "cart abandoners"), (None, None)),
    "web_conversion": (("converting", None), ("rarely-converting", None)),
    "web_mobile_share": (("mobile", "mobile browsers"), (None, None)),
    "web_desktop_share": (("desktop", "desktop browsers"), (None, None)),
    "web_app_share": (("app", "app users"), (None, None)),
    "web_night_share": (("night", "night browsers"), (None, None)),
    "web_morning_share": (("morning", None), (None, None)),
    "web_weekend_share": (("weekend", None), (None, None)),
    "chat_conversations": (("support-heavy", None), (None, None)),
    "chat_complaint_share": (("complaining", "complainers"), (None, None)),
    "chat_sentiment": (("happy", None), ("unhappy", None)),
    "chat_unresolved_share": (("unanswered", None), (None, None)),
    "chat_escalation_share": (("escalating", None), (None, None)),
    "device_minutes_per_day": (("heavy-device", "heavy device users"), ("light-device", None)),
    "device_active_day_share": (("daily-device", None), (None, None)),
    "device_fault_rate": (("fault-hit", None), (None, None)),
    "social_likes": (("liking", None), (None, None)),
    "social_shares": (("sharing", "social sharers"), (None, None)),
    "social_mentions": (("mentioning", None), (None, None)),
    "social_reviews": (("reviewing", "reviewers"), (None, None)),
    "social_sentiment": (("positive", None), ("negative", None)),
}

#: the name of a segment with no trait strong enough to name it
TYPICAL = "Typical customers"

_MONEY = {"monetary", "avg_order_value"}


def _title(slug: str) -> str:
    return " ".join(w.capitalize() for w in slug.replace("-", "_").split("_") if w)


def trait_words(feature: str, high: bool) -> tuple[str | None, str | None]:
    """Adjective and noun describing a segment that is high (or low) on ``feature``.

    Known features use a fixed vocabulary (``recency_days`` high -> "lapsed",
    ``monetary`` high -> "big spenders", ``tenure_days`` low -> "new", ...);
    ``cat_share_<x>`` high -> ("<X>-focused", "<X> fans"); a numeric ``attr_<name>`` ->
    "high-<name>" (or "high <two words>"); anything else -> "high <feature>" / "low
    <feature>". The words of 0/1 attributes depend on the profile (see ``_indicator_words``).

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
    if feature.startswith(SOURCE_PREFIXES):
        # sources' columns without words of their own name nobody ("low device features")
        return (None, None)
    if feature.startswith("attr_"):
        name = feature[len("attr_") :].replace("_", " ")
        joiner = " " if " " in name else "-"
        return (f"high{joiner}{name}" if high else f"low{joiner}{name}", None)
    label = feature.replace("_", " ")
    return (f"high {label}" if high else f"low {label}", None)


def _indicator_words(feature: str, high: bool) -> tuple[str | None, str | None]:
    # a one-hot column attr_<key>__<value> reads "<value> <key>" ("month to month contract");
    # a value that already names its subject stands alone ("no internet service"), a code
    # follows its key ("region 3"); a plain 0/1 attribute is its name or "no <name>"
    key, sep, value = feature[len("attr_") :].partition(INDICATOR_SEPARATOR)
    key = key.replace("_", " ")
    if not sep:
        return (key if high else f"no {key}", None)
    value = value.replace("_", " ")
    if value.isdigit():
        return (f"{key} {value}", None)
    if value.startswith("no ") or key in value:
        return (value, None)
    return (f"{value} {key}", None)


def _is_indicator(row: Mapping[str, Any]) -> bool:
    return (
        all(float(row[c]) in (0.0, 1.0) for c in ("segment_median", "population_median"))
        and 0.0 <= float(row["population_mean"]) <= 1.0
    )


def trait_holds(
    feature: str, high: bool, stats: pd.DataFrame, *, trend_window_days: float = 90.0
) -> bool:
    """Whether a segment's profile shows the trait a name word claims.

    ``stats`` is one segment's rows of :attr:`SegmentProfiles.stats` (indexed by feature).
    Every trait needs the segment's mean on its side of the population's and its median not
    on the other side; some words also need absolute evidence:

    - "single-category" / "one-off": median 1 (at most) and mean at most 1.5;
      "multi-category" / "frequent": median at least 2;
    - "<X> fans": the share of spend on X at least 1.5 times everyone's and 5 points above;
    - "return-prone": at least 5% of spend returned and twice everyone's rate;
      "no-return": under 1%;
    - "lapsed": median 90+ days since the last order; "active": median at most 90;
    - "new": median first order at most 90 days ago; "loyal": at least 180;
    - "growing" / "declining": the trend itself positive / negative, and history covering
      both trend windows (median tenure at least ``2 * trend_window_days``);
    - a source's trait ("night browsers"): most of the segment covered by the source;
    - an attribute value ("Horeca channel"), a 0/1 attribute ("paperless billing") or a
      source's coverage ("connected-device"): held by most of the segment; "no <attribute>":
      held by most customers but not by most of the segment; never "low" for an attribute
      value.
    """
    if feature not in stats.index:
        return False
    if not _covered(feature, lambda c: float(stats["segment_mean"].get(c, 0.0))):
        return False
    tenure = float(stats["segment_median"].get("tenure_days", math.nan))
    return _holds(feature, high, stats.loc[feature], tenure, trend_window_days)


def _covered(feature: str, segment_mean: Callable[[str], float]) -> bool:
    """Whether most of the segment is covered by the source of ``feature`` (any other
    feature: True): a source's trait speaks for the customers it covers, so for most of the
    segment or not at all."""
    coverage = coverage_column(feature)
    return coverage is None or segment_mean(coverage) >= 0.5


def _holds(
    feature: str, high: bool, row: Mapping[str, Any], tenure: float, trend_window_days: float
) -> bool:
    """:func:`trait_holds` on one feature's statistics (``tenure``: the median tenure)."""
    mean, med = float(row["segment_mean"]), float(row["segment_median"])
    pop_mean, pop_med = float(row["population_mean"]), float(row["population_median"])
    if not all(math.isfinite(v) for v in (mean, med, pop_mean, pop_med)):
        return False
    relative = (
        (mean > pop_mean and med >= pop_med) if high else (mean < pop_mean and med <= pop_med)
    )
    if not relative:
        return False
    if feature in ("n_categories", "frequency"):
        return med >= 2 if high else (med <= 1 and mean <= 1.5)
    if feature.startswith("cat_share_"):
        return high and mean >= 1.5 * pop_mean and mean >= pop_mean + 0.05
    if feature == "return_rate":
        return mean >= max(0.05, 2 * pop_mean) if high else mean < 0.01
    if feature == "recency_days":
        return med >= 90 if high else med <= 90
    if feature == "tenure_days":
        return med >= 180 if high else med <= 90
    if feature == "spend_trend":
        return (mean > 0 if high else mean < 0) and tenure >= 2 * trend_window_days
    if feature.startswith("has_") or (feature.startswith("attr_") and _is_indicator(row)):
        if high:
            return mean >= 0.5
        # "no <name>" only where most customers have it and most of the segment does not
        return INDICATOR_SEPARATOR not in feature and mean < 0.5 <= pop_mean
    return True


def _words(feature: str, high: bool, row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if feature.startswith("attr_") and feature not in _VOCAB and _is_indicator(row):
        return _indicator_words(feature, high)
    return trait_words(feature, high)


Trait = tuple[str, bool]


def _traits(
    profiles: SegmentProfiles, segment: Any, min_abs: float, trend_window_days: float
) -> list[tuple[Trait, tuple[str | None, str | None], float]]:
    """The segment's checked traits, strongest first, each with its (adjective, noun) and
    absolute lift."""
    stats = profiles.stats.xs(segment, level="segment")
    # plain dicts: thousands of micro-segments are named, and pandas row access per feature
    # and segment costs more than the checks themselves
    names = list(stats.columns)
    values = stats.to_numpy()
    rows = {f: dict(zip(names, v, strict=True)) for f, v in zip(stats.index, values, strict=True)}
    tenure = float(rows.get("tenure_days", {}).get("segment_median", math.nan))
    lifts = stats["lift"]
    lifts = lifts[lifts.abs() >= min_abs]
    order = lifts.abs().sort_values(ascending=False, kind="stable").index
    out = []
    for f in order:
        row = rows[f]
        high = bool(row["lift"] > 0)
        covered = _covered(str(f), lambda c: float(rows.get(c, {}).get("segment_mean", 0.0)))
        if covered and _holds(str(f), high, row, tenure, trend_window_days):
            out.append(((str(f), high), _words(str(f), high, row), abs(float(row["lift"]))))
    return out


def _compose(
    traits: list[tuple[Trait, tuple[str | None, str | None], float]], n_adj: int
) -> tuple[str, list[Trait], bool]:
    """Name from the strongest traits: (name, traits used, whether more were available)."""
    noun_i, noun = None, "customers"
    for i, (_, (_, word), _) in enumerate(traits[:3]):
        if word:
            noun_i, noun = i, word
            break
    used: list[Trait] = [traits[noun_i][0]] if noun_i is not None else []
    adjs: list[str] = []
    more = False
    for i, (trait, (adj, _), _) in enumerate(traits):
        if i == noun_i or not adj or adj in adjs:
            continue
        if len(adjs) == n_adj:
            more = True
            break
        adjs.append(adj)
        used.append(trait)
    # attribute phrases ("month to month contract") are listed, single words are stacked
    listed = any(f.startswith("attr_") for f, _ in used) and any(" " in a for a in adjs)
    name = (", " if listed else " ").join(adjs)
    name = f"{name} {noun}" if name else noun
    return name[:1].upper() + name[1:], used, more


def name_segments(
    profiles: SegmentProfiles,
    *,
    min_lift: float = 0.25,
    disambiguation_lift: float = 0.05,
    trend_window_days: float = 90.0,
) -> dict[Any, str]:
    """A unique plain-language name for every segment.

    The name is built from the segment's most distinctive traits (largest absolute ``lift``,
    see :func:`~segmint.segment.profile_segments`) that its profile shows
    (:func:`trait_holds`): a noun from the strongest trait that has one among the top three
    ("big spenders", "regulars", "Christmas fans"; else "customers") and an adjective from
    the next strongest ("lapsed", "new", "frequent"): e.g. "Lapsed big spenders". Traits
    weaker than ``min_lift`` are ignored, so a segment close to the population is "Typical
    customers".

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
    trend_window_days : float, default=90
        Window of ``spend_trend``; trend words need history covering two of them.

    Returns
    -------
    dict of segment id to str
    """
    named = name_traits(
        profiles,
        min_lift=min_lift,
        disambiguation_lift=disambiguation_lift,
        trend_window_days=trend_window_days,
    )
    return {s: name for s, (name, _) in named.items()}


def name_traits(
    profiles: SegmentProfiles,
    *,
    min_lift: float = 0.25,
    disambiguation_lift: float = 0.05,
    trend_window_days: float = 90.0,
    taken: Iterable[str] = (),
) -> dict[Any, tuple[str, list[Trait]]]:
    """Every segment's name (see :func:`name_segments`) and the traits its words come from.

    ``taken``: names given elsewhere in the run (the segments', when naming micro-segments),
    which no name here repeats (ignoring case): a name that would is told apart as two
    segments' names are.

    Returns
    -------
    dict of segment id to (name, list of (feature, high))
        Each word of the name, except "customers", "Typical" and a "#n" suffix, comes from
        :func:`trait_words` (or the attribute-value wording) of one listed trait, and
        :func:`trait_holds` is true for every listed trait.
    """
    segments = profiles.segments
    lowest = min(min_lift, disambiguation_lift)
    found = {s: _traits(profiles, s, lowest, trend_window_days) for s in segments}
    strong = {s: [t for t in found[s] if t[2] >= min_lift] for s in segments}
    weak = {s: [t for t in found[s] if t[2] >= disambiguation_lift] for s in segments}
    level = dict.fromkeys(segments, 1)
    names: dict[Any, str] = {}
    used: dict[Any, list[Trait]] = {}
    exhausted: dict[Any, bool] = {}
    for s in segments:
        if strong[s]:
            names[s], used[s], more = _compose(strong[s], 1)
        else:
            names[s], used[s], more = TYPICAL, [], bool(weak[s])
            level[s] = 0
        exhausted[s] = not more
    taken = {name.lower() for name in taken}
    for _ in range(12):
        groups: dict[str, list[Any]] = {}
        for s in segments:
            groups.setdefault(names[s].lower(), []).append(s)
        clashes = [g for key, g in groups.items() if len(g) > 1 or key in taken]
        if not clashes:
            break
        progressed = False
        for group in clashes:
            for s in group:
                if exhausted[s]:
                    continue
                level[s] += 1
                new, used[s], more = _compose(weak[s], level[s])
                exhausted[s] = not more
                progressed = progressed or new != names[s]
                names[s] = new
        if not progressed:
            break
    given = set(taken)
    for s in segments:
        names[s] = untaken(names[s], given)
        given.add(names[s].lower())
    return {s: (names[s], used[s]) for s in segments}


def untaken(name: str, taken: set[str]) -> str:
    """``name``, else ``name #2``, ``#3``, ...: the first not in ``taken`` (lower-case names).

    Examples
    --------
    >>> untaken("Big spenders", {"big spenders", "big spenders #2"})
    'Big spenders #3'
    """
    number, out = 1, name
    while out.lower() in taken:
        number += 1
        out = f"{name} #{number}"
    return out


def _fmt(x: float, feature: str) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if is_share(feature):
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


def _phrase(feature: str, seg: float, pop: float, label: str, share: bool = False) -> str:
    if share:  # a 0/1 attribute: the share of customers holding it
        return f"{label}: {seg:.0%} vs {pop:.0%} overall"
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
        value = labels_map.get(profiles.value, profiles.value)
        total = "" if value.startswith("total") else "total "
        what = "revenue" if profiles.value == "monetary" else f"{total}{value}"
        text += f" bringing {row['value_share']:.0%} of {what}"
    stats = profiles.stats.xs(segment, level="segment")
    top = stats["lift"].abs().sort_values(ascending=False, kind="stable").index[:n_features]
    phrases = [
        _phrase(
            str(f),
            float(stats.at[f, "segment_mean"]),
            float(stats.at[f, "population_mean"]),
            labels_map.get(str(f), str(f)),
            str(f).startswith("attr_") and _is_indicator(stats.loc[f]),
        )
        for f in top
        if abs(float(stats.at[f, "lift"])) > 0
    ]
    if phrases:
        text += "; " + ", and ".join(phrases)
    return text + "."
