"""Summary sections on micro-segments and on the stored evaluations of a run.

- micro-segments: under the segment most of their customers are in, the largest (name, size,
  share of them in that segment, value share, rule) and how many more there are;
- evaluations (``segmint evaluate``): per evaluation, the groupings with their value and
  interest eta², the best per column and level, and whether the segments beat the baselines
  by issue 10's criteria.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ._values import _int, _num, _text

#: micro-segments listed per segment; the rest are counted
MAX_MICRO_ROWS = 20

#: the groupings of ``segmint evaluate`` (pipeline/_evaluate.py): plain words, and what they are
_GROUPINGS = {
    "ML segments": ("Segments", "segmint's segments, found on the data before the cut-off"),
    "micro-segments": ("Micro-segments", "segmint's micro-segments: tastes across all customers"),
    "RFM ladder": (
        "RFM score ladder",
        "the sum of the recency, frequency and spend quintile scores, cut into as many "
        "equal-sized groups",
    ),
    "k-means log RFM": (
        "k-means on log R/F/M",
        "k-means on standardised log recency, frequency and spend",
    ),
    "k-means log RFM + categories": (
        "k-means on log R/F/M + category shares",
        "k-means on standardised log recency, frequency and spend plus past category shares",
    ),
}
#: the value baselines segments must keep 95% of, and whose interest they must double
_VALUE_BASELINES = ("RFM ladder", "k-means log RFM")
_MICRO_LEVEL = "micro-segments"


def _micro_segments(
    micro: pd.DataFrame | None, rows: list[dict[str, Any]], min_audience: int = 1
) -> dict[str, Any] | None:
    """The largest micro-segments (at most ``MAX_MICRO_ROWS``) centred in each segment (most of
    their customers are in it) and the rest's count; those under ``min_audience`` customers
    are counted, never described (they could single people out)."""
    if micro is None or micro.empty:
        return None
    small = micro["size"] < min_audience
    n_small = int(small.sum())
    micro = micro[~small]
    by_segment = {sid: g for sid, g in micro.groupby("segment_id", sort=False)}
    sections = []
    for seg in rows:
        found = by_segment.get(seg["segment_id"])
        if found is None:
            continue
        found = found.sort_values(["size", "micro_segment_id"], ascending=[False, True])
        shown = []
        for m in found.head(MAX_MICRO_ROWS).to_dict("records"):
            shown.append(
                {
                    "micro_segment_id": _text(m["micro_segment_id"]),
                    "name": _text(m["name"]),
                    "size": _int(m["size"]) or 0,
                    "segment_share": _num(m.get("segment_share")),
                    "value_share": _num(m.get("value_share")),
                    "rule": _text(m["rule"]),
                    "rule_fidelity": _num(m.get("rule_fidelity")),
                }
            )
        sections.append(
            {
                "segment_id": seg["segment_id"],
                "name": seg["name"],
                "color": seg["color"],
                "n_total": len(found),
                "n_more": max(0, len(found) - MAX_MICRO_ROWS),
                "rows": shown,
            }
        )
    if not sections and not n_small:
        return None
    return {
        "n_total": int(len(micro)) + n_small,
        "n_small": n_small,
        "min_audience": min_audience,
        "segments": sections,
    }


def _verdict(levels: list[dict[str, Any]], period: str) -> dict[str, Any]:
    """Whether the segments meet the criteria, with one plain sentence per criterion."""
    checks: list[tuple[bool, str]] = []
    seg_level = next((lv for lv in levels if lv["level"] != _MICRO_LEVEL), None)
    micro_level = next((lv for lv in levels if lv["level"] == _MICRO_LEVEL), None)
    if seg_level is not None:
        ours = seg_level["ours"]
        base = {r["grouping"]: r for r in seg_level["rows"] if not r["ours"]}
        value_base = [base[b] for b in _VALUE_BASELINES if b in base]
        best = max((r["value"] for r in value_base if r["value"] is not None), default=None)
        if ours["value"] is not None and best:
            share = ours["value"] / best
            checks.append(
                (
                    share >= 0.95,
                    f"segments explain {share:.0%} of the {period} spend that the best of "
                    "the RFM score ladder and k-means on log R/F/M explains (95% needed)",
                )
            )
        if ours["interest"] is not None:
            for r in value_base:
                if r["interest"]:
                    ratio = ours["interest"] / r["interest"]
                    checks.append(
                        (
                            ratio >= 2,
                            f"they explain {ratio:.1f}x the {period} product mix that the "
                            f"{r['label']} explains (2x needed)",
                        )
                    )
        dominated = [
            r["label"]
            for r in base.values()
            if r["value"] is not None
            and ours["value"] is not None
            and r["value"] > ours["value"]
            and (r["interest"] or 0) > (ours["interest"] or 0)
        ]
        checks.append(
            (
                not dominated,
                "no baseline is better on both"
                if not dominated
                else f"{', '.join(dominated)} is better on both",
            )
        )
    if micro_level is not None and micro_level["ours"]["interest"] is not None:
        ours = micro_level["ours"]["interest"]
        beaten = [r for r in micro_level["rows"] if not r["ours"] and r["interest"] is not None]
        losing = [r["label"] for r in beaten if r["interest"] >= ours]
        checks.append(
            (
                not losing,
                f"micro-segments explain more of the product mix than every baseline with "
                f"{micro_level['ours']['n_groups']} groups"
                if not losing
                else f"micro-segments explain less of the product mix than {', '.join(losing)}",
            )
        )
    return {
        "passes": all(ok for ok, _ in checks) if checks else None,
        "checks": [{"ok": ok, "text": text} for ok, text in checks],
    }


def _evaluation(name: str, result: Mapping[str, Any]) -> dict[str, Any] | None:
    groupings = result.get("groupings") or []
    if not groupings:
        return None
    levels: list[dict[str, Any]] = []
    for g in groupings:
        level = _text(g.get("level"))
        grouping = _text(g.get("grouping"))
        label, about = _GROUPINGS.get(grouping, (grouping, grouping))
        row = {
            "grouping": grouping,
            "label": label,
            "about": about,
            "ours": g.get("grouping") == level,
            "n_groups": _int(g.get("n_groups")),
            "value": _num(g.get("value_eta2")),
            "interest": _num(g.get("interest_eta2")),
        }
        found = next((lv for lv in levels if lv["level"] == level), None)
        if found is None:
            found = {"level": level, "rows": [], "ours": None}
            levels.append(found)
        found["rows"].append(row)
        if row["ours"]:
            found["ours"] = row
    for lv in levels:
        for key in ("value", "interest"):
            scores = [r[key] for r in lv["rows"] if r[key] is not None]
            top = max(scores, default=None)
            for r in lv["rows"]:
                r.setdefault("best", [])
                if top is not None and r[key] == top:
                    r["best"].append(key)
    levels = [lv for lv in levels if lv["ours"] is not None]
    horizon = _int(result.get("horizon_days"))
    period = "next-quarter" if horizon == 90 else f"next {horizon}-day"
    return {
        "name": name,
        "cutoff": _text(result.get("cutoff"))[:10],
        "horizon_days": horizon,
        "period": period,
        "n_customers": _int(result.get("n_customers")),
        "n_buyers": _int(result.get("n_buyers")),
        "n_categories": _int(result.get("n_categories")),
        "has_interest": any(r["interest"] is not None for lv in levels for r in lv["rows"]),
        "levels": levels,
        "verdict": _verdict(levels, period),
    }


def _evaluations(evaluations: Mapping[str, Mapping[str, Any]] | None) -> list[dict] | None:
    """Every stored evaluation of the run (name -> result of ``segmint evaluate``), by name."""
    found = [_evaluation(name, r) for name, r in sorted((evaluations or {}).items())]
    found = [e for e in found if e is not None]
    return found or None
