"""The report's markets section: where the customers are, what they are worth, where to
expand (from :func:`segmint.activate.markets.market_view`'s dict)."""

from __future__ import annotations

from typing import Any

from ._values import _num

#: markets shown in the report (the rest are in ``segmint markets``)
MAX_MARKETS = 15


def markets_section(view: dict[str, Any] | None) -> dict[str, Any] | None:
    """The markets section of the summary, or None without a market view.

    Each market: ``market``, ``customers``, ``share``, ``revenue_365d``,
    ``revenue_per_customer``, ``revenue_growth``, ``new_customers_90d``,
    ``high_value_share``, ``expand_score``, ``expand_rank`` (None for "other"), and
    ``top_segment`` with its share (the segment most of its customers are in).
    """
    if not view or not view.get("markets"):
        return None
    rows = []
    for m in view["markets"][:MAX_MARKETS]:
        mix = m.get("segment_mix") or {}
        top = max(mix.items(), key=lambda kv: kv[1]) if mix else (None, None)
        score = _num(m.get("expand_score"))
        rows.append(
            {
                "market": str(m["market"]),
                "customers": int(m["customers"]),
                "share": _num(m.get("share")),
                "revenue_365d": _num(m.get("revenue_365d")),
                "revenue_per_customer": _num(m.get("revenue_per_customer")),
                "revenue_growth": _num(m.get("revenue_growth")),
                "new_customers_90d": int(m.get("new_customers_90d") or 0),
                "high_value_share": _num(m.get("high_value_share")),
                "expand_score": score,
                "expand_rank": int(m["expand_rank"]) if score is not None else None,
                "top_segment": top[0],
                "top_segment_share": _num(top[1]),
            }
        )
    return {
        "by": view.get("by", "country"),
        "min_audience": view.get("min_audience"),
        "high_value": view.get("high_value", ""),
        "n_markets": len(view["markets"]),
        "markets": rows,
    }
