"""Stage 2a of the report, predictions: value against risk, the held-out purchase check,
calibration and cumulative gains, as inline SVG (see :mod:`._charts`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from ._format import fmt_int, fmt_money, fmt_pct
from ._svg import (
    _CHAR_W,
    _GRID,
    _MUTED,
    _axis_titles,
    _f,
    _lines,
    _nice_ticks,
    _svg,
    _text,
    _wrap,
)

__all__ = ["calibration_chart", "gains_chart", "holdout_chart", "value_risk_chart"]


# --------------------------------------------------------------------------- predictions
_MODEL = "#4e79a7"
_ACTUAL = "#9ca3af"
_RISK = "#c4432b"


def _cover_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """Nice ticks whose range covers ``lo``..``hi`` (one more step past ``hi`` if needed)."""
    ticks = _nice_ticks(lo, hi, n)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else (hi - lo) or 1.0
    if ticks[0] > lo + 1e-12:
        ticks.insert(0, round(ticks[0] - step, 10))
    if ticks[-1] < hi - 1e-12:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _tick(v: float) -> str:
    return f"{v:,.6g}"


def _boxes_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _grid(
    x0: float,
    x1: float,
    y0: float,
    y1: float,
    xticks: Sequence[tuple[float, str]],
    yticks: Sequence[tuple[float, str]],
) -> list[str]:
    """Horizontal grid lines with y labels, x tick labels and the baseline; pixel positions."""
    body = []
    for y, label in yticks:
        body.append(
            f'<line x1="{_f(x0)}" x2="{_f(x1)}" y1="{_f(y)}" y2="{_f(y)}" stroke="{_GRID}"/>'
        )
        body.append(_text(x0 - 6, y + 4, label, cls="tick", anchor="end"))
    for x, label in xticks:
        body.append(_text(x, y1 + 16, label, cls="tick", anchor="middle"))
    body.append(
        f'<line x1="{_f(x0)}" x2="{_f(x1)}" y1="{_f(y1)}" y2="{_f(y1)}" stroke="{_MUTED}"/>'
    )
    return body


def _legend(x: float, y: float, items: Sequence[tuple[str, str, str]]) -> list[str]:
    """Items of (label, colour, kind) where kind is "bar", "line" or "dash"."""
    body = []
    for label, color, kind in items:
        if kind == "bar":
            body.append(
                f'<rect x="{_f(x)}" y="{_f(y - 10)}" width="12" height="12" rx="2" fill="{color}"/>'
            )
        else:
            dash = ' stroke-dasharray="4 3"' if kind == "dash" else ""
            body.append(
                f'<line x1="{_f(x)}" x2="{_f(x + 16)}" y1="{_f(y - 4)}" y2="{_f(y - 4)}" '
                f'stroke="{color}" stroke-width="2"{dash}/>'
            )
        body.append(_text(x + 20, y, label, cls="note"))
        x += 20 + len(label) * _CHAR_W * 0.9 + 18
    return body


def value_risk_chart(vr: dict[str, Any], currency: str | None = None) -> Markup:
    """Segments as bubbles: mean churn risk (x) against mean CLV (y), area = customers.

    The high-value-at-risk corner (CLV at least the high-value threshold, risk above the
    customer-weighted average) is shaded.
    """
    pts = vr["points"]
    w, h = 720, 400
    x0, x1, y0, y1 = 92, w - 24, 18, h - 46
    xmax = max([p["churn_risk"] for p in pts] + [vr["mean_churn_risk"] or 0]) * 1.12
    xt = _cover_ticks(0, min(max(xmax, 0.05), 1.0), 4)
    xhi = xt[-1]
    ymax = max([p["clv"] for p in pts] + [vr["high_value_threshold"] or 0]) * 1.12
    ymin = min(0.0, min(p["clv"] for p in pts))
    yt = _cover_ticks(ymin, max(ymax, ymin + 1e-9), 4)
    ylo, yhi = yt[0], yt[-1]

    def sx(v: float) -> float:
        return x0 + v / (xhi or 1) * (x1 - x0)

    def sy(v: float) -> float:
        return y1 - (v - ylo) / ((yhi - ylo) or 1) * (y1 - y0)

    body = _grid(
        x0,
        x1,
        y0,
        y1,
        [(sx(t), fmt_pct(t, 0)) for t in xt],
        [(sy(t), fmt_money(t, currency, compact=True)) for t in yt],
    )
    risk, thr = vr["mean_churn_risk"], vr["high_value_threshold"]
    if risk is not None and thr is not None and thr < yhi and risk < xhi:
        qx, qy = sx(risk), sy(thr)
        body.append(
            f'<rect x="{_f(qx)}" y="{y0}" width="{_f(x1 - qx)}" height="{_f(qy - y0)}" '
            f'fill="{_RISK}" fill-opacity=".07"/>'
        )
        body.append(_text(x1 - 6, y0 + 14, "high value at risk", cls="note risk", anchor="end"))
        body.append(
            f'<line x1="{_f(qx)}" x2="{_f(qx)}" y1="{y0}" y2="{y1}" stroke="{_MUTED}" '
            f'stroke-dasharray="4 3"/>'
        )
        body.append(_text(qx - 4, y0 + 12, "average risk", cls="note", anchor="end"))
        body.append(
            f'<line x1="{x0}" x2="{x1}" y1="{_f(qy)}" y2="{_f(qy)}" stroke="{_MUTED}" '
            f'stroke-dasharray="4 3"/>'
        )
        body.append(_text(x0 + 6, qy - 5, "high value: 1.5\u00d7 the average CLV", cls="note"))
    smax = max(max(p["size"] for p in pts), 1)
    placed = [
        (sx(p["churn_risk"]), sy(p["clv"]), max(5.0, 30 * math.sqrt(max(p["size"], 0) / smax)))
        for p in pts
    ]
    taken = [(cx - r, cy - r, cx + r, cy + r) for cx, cy, r in placed]
    labels = []
    for p, (cx, cy, r) in sorted(zip(pts, placed, strict=True), key=lambda t: -t[0]["size"]):
        # a long name goes on two lines, never cut
        lines = _wrap(p["name"], 22)
        tw = max(len(line) for line in lines) * _CHAR_W
        half = 7.5 * (len(lines) - 1)
        options = (  # (x, baseline y, anchor): right, left, above, below
            (cx + r + 4, cy + 4, "start"),
            (cx - r - 4, cy + 4, "end"),
            (cx, cy - r - 5 - half, "middle"),
            (cx, cy + r + 13 + half, "middle"),
        )
        best = None
        for lx, ly, anchor in options:
            left = lx if anchor == "start" else (lx - tw if anchor == "end" else lx - tw / 2)
            box = (left, ly - 11 - half, left + tw, ly + 3 + half)
            inside = box[0] >= x0 and box[2] <= x1 and box[1] >= y0 - 10 and box[3] <= y1 + 2
            own = (cx - r, cy - r, cx + r, cy + r)
            clash = sum(_boxes_overlap(box, t) for t in taken if t != own)
            score = clash + (0 if inside else 10)
            if best is None or score < best[0]:
                best = (score, lx, ly, anchor, box)
            if score == 0:
                break
        assert best is not None
        taken.append(best[4])
        labels.append(_lines(best[1], best[2], lines, anchor=best[3]))
    for p, (cx, cy, r) in sorted(zip(pts, placed, strict=True), key=lambda t: -t[0]["size"]):
        tip = (
            f"{p['name']}: {fmt_int(p['size'])} customers, mean CLV "
            f"{fmt_money(p['clv'], currency)}, churn risk {fmt_pct(p['churn_risk'], 0)}"
        )
        if p["value_flag"]:
            tip += f" ({p['value_flag']})"
        stroke = _RISK if p["value_flag"] == "high value at risk" else "#fff"
        body.append(
            f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="{_f(r)}" fill="{p["color"]}" '
            f'fill-opacity=".78" stroke="{stroke}" stroke-width="1.5">'
            f"<title>{escape(tip)}</title></circle>"
        )
    body += labels
    body.append(_axis_titles((x0 + x1) / 2, h - 4, (y0 + y1) / 2, "Mean churn risk", "Mean CLV"))
    return _svg(w, h, body, label="Value and risk by segment", cls="value-risk")


def holdout_chart(holdout: dict[str, Any]) -> Markup:
    """Paired bars: actual vs predicted mean purchases in the held-out period, by the number of
    repeat purchases in the calibration period."""
    rows = holdout["conditional_expectations"]
    w, h = 720, 300
    x0, x1, y0, y1 = 56, w - 14, 34, h - 62
    vmax = max([r["actual"] or 0 for r in rows] + [r["predicted"] or 0 for r in rows] + [0.1])
    yt = _cover_ticks(0, vmax * 1.05, 4)
    yhi = yt[-1]

    def sy(v: float) -> float:
        return y1 - v / yhi * (y1 - y0)

    slot = (x1 - x0) / max(len(rows), 1)
    bw = min(26.0, slot * 0.36)
    body = _grid(x0, x1, y0, y1, [], [(sy(t), _tick(t)) for t in yt])
    body += _legend(x0, 14, [("Actual", _ACTUAL, "bar"), ("Predicted", _MODEL, "bar")])
    for i, r in enumerate(rows):
        cx = x0 + slot * (i + 0.5)
        for j, (key, color) in enumerate((("actual", _ACTUAL), ("predicted", _MODEL))):
            v = r[key]
            if v is None:
                continue
            bx = cx - bw - 1 if j == 0 else cx + 1
            tip = f"{r['label']} earlier repeat purchases ({fmt_int(r['customers'])} customers): "
            tip += f"{key} {v:.2f} purchases on average"
            body.append(
                f'<rect x="{_f(bx)}" y="{_f(sy(v))}" width="{_f(bw)}" '
                f'height="{_f(max(y1 - sy(v), 1))}" rx="2" fill="{color}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        body.append(_text(cx, y1 + 16, r["label"], cls="lbl", anchor="middle"))
        if r["customers"] is not None:
            body.append(
                _text(cx, y1 + 30, f"n={fmt_int(r['customers'])}", cls="tick", anchor="middle")
            )
    body.append(
        _axis_titles(
            (x0 + x1) / 2,
            h - 8,
            (y0 + y1) / 2,
            "Repeat purchases before the held-out period",
            "Purchases per customer",
        )
    )
    return _svg(w, h, body, label="Held-out purchases: actual vs predicted", cls="holdout")


def _unit_plot(
    w: float, h: float, hi: float
) -> tuple[float, float, float, float, Any, Any, list[str]]:
    x0, x1, y0, y1 = 58, w - 16, 30, h - 46
    ticks = _cover_ticks(0, hi, 4)

    def sx(v: float) -> float:
        return x0 + v / hi * (x1 - x0)

    def sy(v: float) -> float:
        return y1 - v / hi * (y1 - y0)

    body = _grid(
        x0,
        x1,
        y0,
        y1,
        [(sx(t), fmt_pct(t, 0)) for t in ticks],
        [(sy(t), fmt_pct(t, 0)) for t in ticks],
    )
    body.append(
        f'<line x1="{_f(sx(0))}" y1="{_f(sy(0))}" x2="{_f(sx(hi))}" y2="{_f(sy(hi))}" '
        f'stroke="{_ACTUAL}" stroke-width="1.5" stroke-dasharray="5 4"/>'
    )
    return x0, x1, y0, y1, sx, sy, body


def _polyline(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{_f(x)} {_f(y)}" for i, (x, y) in enumerate(points))


def calibration_chart(cal: dict[str, Any]) -> Markup:
    """Reliability curve: mean predicted churn probability against the observed churn rate per
    bin, with the diagonal of perfect calibration."""
    pts = cal["points"]
    w, h = 440, 380
    top = max([p["mean_predicted"] for p in pts] + [p["observed_rate"] for p in pts])
    hi = _cover_ticks(0, min(max(top * 1.05, 0.1), 1.0), 4)[-1]
    x0, x1, y0, y1, sx, sy, body = _unit_plot(w, h, hi)
    body += _legend(
        x0, 14, [("Churn model", _MODEL, "line"), ("Perfect calibration", _ACTUAL, "dash")]
    )
    xy = [(sx(p["mean_predicted"]), sy(p["observed_rate"])) for p in pts]
    body.append(f'<path d="{_polyline(xy)}" fill="none" stroke="{_MODEL}" stroke-width="2"/>')
    for p, (x, y) in zip(pts, xy, strict=True):
        tip = f"predicted {fmt_pct(p['mean_predicted'])}, observed {fmt_pct(p['observed_rate'])}"
        if p["count"] is not None:
            tip += f" ({fmt_int(p['count'])} customers)"
        body.append(
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3.6" fill="{_MODEL}" stroke="#fff" '
            f'stroke-width="1"><title>{escape(tip)}</title></circle>'
        )
    body.append(
        _axis_titles(
            (x0 + x1) / 2,
            h - 4,
            (y0 + y1) / 2,
            "Predicted churn probability",
            "Observed churn rate",
        )
    )
    return _svg(w, h, body, label="Churn calibration curve", cls="calibration")


def gains_chart(lift: dict[str, Any]) -> Markup:
    """Cumulative gains: share of churners reached against the share of customers targeted
    (highest predicted risk first), with the random-targeting diagonal."""
    rows = lift["rows"]
    w, h = 440, 380
    x0, x1, y0, y1, sx, sy, body = _unit_plot(w, h, 1.0)
    body += _legend(
        x0, 14, [("Churn model", _MODEL, "line"), ("Random targeting", _ACTUAL, "dash")]
    )
    xy = [(sx(0), sy(0))] + [(sx(r["cumulative_share"]), sy(r["cumulative_gain"])) for r in rows]
    area = _polyline(xy) + f" L{_f(xy[-1][0])} {_f(sy(0))} Z"
    body.append(f'<path d="{area}" fill="{_MODEL}" fill-opacity=".08"/>')
    body.append(f'<path d="{_polyline(xy)}" fill="none" stroke="{_MODEL}" stroke-width="2"/>')
    for r, (x, y) in zip(rows, xy[1:], strict=True):
        tip = (
            f"top {fmt_pct(r['cumulative_share'], 0)} by risk: "
            f"{fmt_pct(r['cumulative_gain'], 0)} of churners"
        )
        if r["lift"] is not None:
            tip += f"; this tenth churns at {r['lift']:.2f}\u00d7 the base rate"
        body.append(
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3.6" fill="{_MODEL}" stroke="#fff" '
            f'stroke-width="1"><title>{escape(tip)}</title></circle>'
        )
    if lift.get("top_share") is not None and lift.get("top_gain") is not None:
        x, y = sx(lift["top_share"]), sy(lift["top_gain"])
        body.append(
            _text(
                x + 8,
                y + 16,
                f"top {fmt_pct(lift['top_share'], 0)} \u2192 {fmt_pct(lift['top_gain'], 0)} "
                "of churners",
                cls="val",
            )
        )
    body.append(
        _axis_titles(
            (x0 + x1) / 2,
            h - 4,
            (y0 + y1) / 2,
            "Customers targeted, highest risk first",
            "Churners reached",
        )
    )
    return _svg(w, h, body, label="Churn gains chart", cls="gains")
