"""Customers moving between the segments of two runs, as a flow (Sankey) diagram in SVG."""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup, escape

from ._format import fmt_int, fmt_pct
from ._summarize import PALETTE
from ._svg import _f, _text

__all__ = ["flow_chart", "flows_from_comparison"]

_CHAR_W = 7.0  # width of one 12px character, generously: labels are never cut
_NODE_W = 14
_GAP = 10
_MIN_BAND = 1.0
_NEW_GONE = "#9ca3af"


def flows_from_comparison(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``compare_runs``'s frame (from_segment, to_segment, customers) as flow dicts."""
    return [
        {"from": str(r.from_segment), "to": str(r.to_segment), "customers": int(r.customers)}
        for r in frame.itertuples(index=False)
        if int(r.customers) > 0
    ]


def _order(flows: list[dict], side: str) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for f in flows:
        totals[f[side]] = totals.get(f[side], 0) + f["customers"]
    # the largest first; customers only in the other run ("(not in run N)") last
    return sorted(totals.items(), key=lambda kv: (kv[0].startswith("("), -kv[1], kv[0]))


def flow_chart(flows: list[dict[str, Any]], *, title: str) -> Markup:
    """Stacked segment bars for each run, joined by bands as wide as the customers who moved.

    Each band says on hover how many customers went from which segment to which; the chart's
    description says how many stayed in a segment of the same name.
    """
    flows = [f for f in flows if f["customers"] > 0]
    total = sum(f["customers"] for f in flows)
    left, right = _order(flows, "from"), _order(flows, "to")
    stayed = sum(f["customers"] for f in flows if f["from"] == f["to"])
    labels_l = [f"{name} ({fmt_int(n)})" for name, n in left]
    labels_r = [f"{name} ({fmt_int(n)})" for name, n in right]
    left_w = _CHAR_W * max((len(s) for s in labels_l), default=4) + 16
    right_w = _CHAR_W * max((len(s) for s in labels_r), default=4) + 16
    middle = 360
    width = left_w + 2 * _NODE_W + middle + right_w
    rows = max(len(left), len(right), 1)
    height = max(320.0, 34.0 * rows)
    top = 28
    usable = height - (rows - 1) * _GAP
    scale = usable / total if total else 0.0
    colours = {
        name: (_NEW_GONE if name.startswith("(") else PALETTE[i % len(PALETTE)])
        for i, (name, _) in enumerate(left + [r for r in right if r[0] not in dict(left)])
    }

    def positions(nodes: list[tuple[str, int]]) -> dict[str, float]:
        out, y = {}, float(top)
        for name, n in nodes:
            out[name] = y
            y += max(n * scale, _MIN_BAND) + _GAP
        return out

    y_left, y_right = positions(left), positions(right)
    x0 = left_w + _NODE_W
    x1 = x0 + middle
    mid = (x0 + x1) / 2
    desc = (
        f"{fmt_int(total)} customers; {fmt_pct(stayed / total if total else 0)} stayed in a "
        f"segment of the same name."
    )
    body = [
        f"<desc>{escape(desc)}</desc>",
        _text(left_w + _NODE_W / 2, 16, "Before", cls="axis", anchor="middle"),
        _text(x1 + _NODE_W / 2, 16, "After", cls="axis", anchor="middle"),
    ]
    # bands first, under the node bars: ordered on each side so they do not cross inside a node
    off_l = dict(y_left)
    off_r = dict(y_right)
    rank_l = {name: i for i, (name, _) in enumerate(left)}
    rank_r = {name: i for i, (name, _) in enumerate(right)}
    ends: dict[int, float] = {}
    for i, f in sorted(enumerate(flows), key=lambda t: (rank_r[t[1]["to"]], rank_l[t[1]["from"]])):
        ends[i] = off_r[f["to"]]
        off_r[f["to"]] += max(f["customers"] * scale, _MIN_BAND)
    for i, f in sorted(enumerate(flows), key=lambda t: (rank_l[t[1]["from"]], rank_r[t[1]["to"]])):
        w = max(f["customers"] * scale, _MIN_BAND)
        ya, yb = off_l[f["from"]], ends[i]
        off_l[f["from"]] += w
        path = (
            f"M{_f(x0)},{_f(ya)} C{_f(mid)},{_f(ya)} {_f(mid)},{_f(yb)} {_f(x1)},{_f(yb)} "
            f"L{_f(x1)},{_f(yb + w)} C{_f(mid)},{_f(yb + w)} {_f(mid)},{_f(ya + w)} "
            f"{_f(x0)},{_f(ya + w)} Z"
        )
        tip = f"{fmt_int(f['customers'])} customers from {f['from']} to {f['to']}"
        body.append(
            f'<path class="band" d="{path}" fill="{colours[f["from"]]}" fill-opacity=".45">'
            f"<title>{escape(tip)}</title></path>"
        )
    for nodes, ys, x, labels, anchor, lx in (
        (left, y_left, left_w, labels_l, "end", left_w - 6),
        (right, y_right, x1, labels_r, "start", x1 + _NODE_W + 6),
    ):
        for (name, n), label in zip(nodes, labels, strict=True):
            h = max(n * scale, _MIN_BAND)
            y = ys[name]
            body.append(
                f'<rect x="{_f(x)}" y="{_f(y)}" width="{_NODE_W}" height="{_f(h)}" '
                f'fill="{colours[name]}"><title>{escape(label)}</title></rect>'
            )
            body.append(_text(lx, y + h / 2 + 4, label, cls="lbl", anchor=anchor))
    head = (
        f'<svg class="chart flow" viewBox="0 0 {_f(width)} {_f(height + top)}" '
        f'width="{_f(width)}" height="{_f(height + top)}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")
