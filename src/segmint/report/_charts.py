"""Stage 2a of the report: summary dict -> compact inline SVG charts.

Charts are hand-built SVG (no scripts, no external fonts): text stays text and inherits the
page's CSS, so every chart shares the report's typography, and the file stays small. Every
string that came from the data goes through :func:`markupsafe.escape`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from ._format import fmt_compact, fmt_int, fmt_money, fmt_pct

__all__ = [
    "calibration_chart",
    "comparison_chart",
    "customer_map_chart",
    "gains_chart",
    "heatmap_chart",
    "holdout_chart",
    "rfm_grid_chart",
    "selection_chart",
    "sizes_chart",
    "value_risk_chart",
]

_CHAR_W = 6.6  # approximate width of one 12px character, for layout only
_MUTED = "#6b7280"
_GRID = "#e5e7eb"


def _f(v: float) -> str:
    """Compact coordinate: at most one decimal."""
    r = round(v, 1)
    return str(int(r)) if r == int(r) else str(r)


def _svg(width: float, height: float, body: Sequence[str], *, label: str, cls: str) -> Markup:
    head = (
        f'<svg class="chart {cls}" viewBox="0 0 {_f(width)} {_f(height)}" width="{_f(width)}" '
        f'height="{_f(height)}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(
    x: float, y: float, text: object, *, cls: str = "", anchor: str = "start", extra: str = ""
) -> str:
    c = f' class="{cls}"' if cls else ""
    a = f' text-anchor="{anchor}"' if anchor != "start" else ""
    return f'<text x="{_f(x)}" y="{_f(y)}"{c}{a}{extra}>{escape(str(text))}</text>'


def _truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "\u2026"


def _label_with_tooltip(
    x: float, y: float, text: str, max_chars: int, *, anchor: str = "end", cls: str = "lbl"
) -> str:
    short = _truncate(text, max_chars)
    if short == text:
        return _text(x, y, text, cls=cls, anchor=anchor)
    a = f' text-anchor="{anchor}"' if anchor != "start" else ""
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" class="{cls}"{a}><title>{escape(text)}</title>'
        f"{escape(short)}</text>"
    )


def _mix(hex_a: str, hex_b: str, t: float) -> str:
    """Linear blend of two #rrggbb colours (t=0 -> a, t=1 -> b)."""
    a = [int(hex_a[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(hex_b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def _nice_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


# --------------------------------------------------------------------------- sizes
def sizes_chart(segments: list[dict[str, Any]]) -> Markup:
    """Paired horizontal bars: share of customers (light) and share of revenue (solid)."""
    label_w, bar_w, pad_r = 190, 430, 60
    row_h, top = 46, 34
    width = label_w + bar_w + pad_r
    height = top + row_h * len(segments) + 8
    vmax = max(
        [s["share"] or 0 for s in segments] + [s["value_share"] or 0 for s in segments] + [0.01]
    )
    scale = bar_w / vmax
    body = [
        f'<rect x="{label_w}" y="6" width="12" height="12" rx="2" fill="#9ca3af" '
        f'fill-opacity=".4"/>',
        _text(label_w + 18, 16, "Share of customers", cls="note"),
        f'<rect x="{label_w + 150}" y="6" width="12" height="12" rx="2" fill="#4b5563"/>',
        _text(label_w + 168, 16, "Share of revenue", cls="note"),
    ]
    for i, s in enumerate(segments):
        y = top + i * row_h
        body.append(_label_with_tooltip(label_w - 10, y + 22, s["name"], 27))
        for j, (key, opacity) in enumerate((("share", ".4"), ("value_share", "1"))):
            v = s[key]
            by = y + 4 + j * 17
            if v is None:
                body.append(_text(label_w + 4, by + 11, "n/a", cls="note"))
                continue
            w = max(v * scale, 1.5)
            body.append(
                f'<rect x="{label_w}" y="{_f(by)}" width="{_f(w)}" height="15" rx="2" '
                f'fill="{s["color"]}" fill-opacity="{opacity}"/>'
            )
            body.append(_text(label_w + w + 6, by + 12, fmt_pct(v), cls="val"))
    body.append(
        f'<line x1="{label_w}" y1="{top - 4}" x2="{label_w}" y2="{height - 6}" '
        f'stroke="{_MUTED}" stroke-width="1"/>'
    )
    return _svg(width, height, body, label="Segment sizes and revenue share", cls="sizes")


# --------------------------------------------------------------------------- heatmap
_NEG, _MID, _POS = "#2f6fad", "#f7f7f7", "#c4432b"


def _diverging(score: float | None) -> str:
    if score is None:
        return "#eeeeee"
    s = max(-1.0, min(1.0, score))
    return _mix(_MID, _POS, s) if s >= 0 else _mix(_MID, _NEG, -s)


def heatmap_chart(heatmap: dict[str, Any], segments: list[dict[str, Any]]) -> Markup:
    """Segments x features; colour = ratio to the population mean, text = the segment mean."""
    feats = heatmap["features"]
    by_id = {s["segment_id"]: s for s in segments}
    rows = [by_id.get(sid) for sid in heatmap["segment_ids"]]
    label_w, cell_w, cell_h = 200, 84, 34
    longest = max((len(_truncate(f["label"], 30)) for f in feats), default=10)
    top = 24 + min(longest, 30) * _CHAR_W * 0.72
    width = label_w + cell_w * len(feats) + 90
    height = top + cell_h * (len(rows) + 1) + 56
    body = []
    for j, f in enumerate(feats):
        cx = label_w + j * cell_w + cell_w / 2
        body.append(
            f'<g transform="translate({_f(cx)},{_f(top - 8)}) rotate(-40)">'
            + _label_with_tooltip(0, 0, f["label"], 30, anchor="start", cls="lbl")
            + "</g>"
        )
    for i, seg in enumerate(rows):
        y = top + i * cell_h
        name = seg["name"] if seg else str(heatmap["segment_ids"][i])
        color = seg["color"] if seg else _MUTED
        body.append(f'<rect x="4" y="{_f(y + 9)}" width="10" height="16" rx="2" fill="{color}"/>')
        body.append(_label_with_tooltip(label_w - 10, y + cell_h / 2 + 4, name, 28))
        for j, f in enumerate(feats):
            x = label_w + j * cell_w
            score = f["scores"][i]
            fill = _diverging(score)
            dark = score is not None and abs(score) > 0.55
            lift = f["lifts"][i]
            tip = f"{name} \u2014 {f['label']}: {fmt_compact(f['means'][i])}"
            tip += f" (population {fmt_compact(f['population_mean'])}"
            tip += f", {lift:.2f}\u00d7)" if lift is not None else ")"
            body.append(
                f'<rect x="{x}" y="{_f(y)}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{fill}"><title>{escape(tip)}</title></rect>'
            )
            body.append(
                _text(
                    x + cell_w / 2 - 1,
                    y + cell_h / 2 + 3,
                    fmt_compact(f["means"][i]),
                    cls="cell dark" if dark else "cell",
                    anchor="middle",
                )
            )
    # population reference row
    y = top + len(rows) * cell_h + 4
    body.append(
        _text(label_w - 10, y + cell_h / 2 + 2, "All customers", cls="lbl em", anchor="end")
    )
    for j, f in enumerate(feats):
        x = label_w + j * cell_w
        body.append(
            f'<rect x="{x}" y="{_f(y)}" width="{cell_w - 2}" height="{cell_h - 6}" '
            f'fill="none" stroke="{_GRID}"/>'
        )
        body.append(
            _text(
                x + cell_w / 2 - 1,
                y + cell_h / 2 + 1,
                fmt_compact(f["population_mean"]),
                cls="cell em",
                anchor="middle",
            )
        )
    # colour legend
    ly = height - 26
    lx = label_w
    steps = 9
    for k in range(steps):
        sc = -1 + 2 * k / (steps - 1)
        body.append(
            f'<rect x="{_f(lx + k * 26)}" y="{_f(ly)}" width="26" height="10" '
            f'fill="{_diverging(sc)}"/>'
        )
    body.append(_text(lx, ly + 24, "\u00bc\u00d7 or less", cls="note"))
    body.append(_text(lx + steps * 13, ly + 24, "same as all", cls="note", anchor="middle"))
    body.append(_text(lx + steps * 26, ly + 24, "4\u00d7 or more", cls="note", anchor="end"))
    body.append(_text(lx + steps * 26 + 14, ly + 9, "segment mean vs. all customers", cls="note"))
    return _svg(width, height, body, label="Feature profile by segment", cls="heatmap")


# --------------------------------------------------------------------------- map
def customer_map_chart(cmap: dict[str, Any], segments: list[dict[str, Any]]) -> Markup:
    """Scatter of the 2-D customer map, one path of round dots per segment."""
    w, h, pad = 1060, 500, 14
    colors = {s["segment_id"]: s["color"] for s in segments}
    sizes = {s["segment_id"]: s["size"] for s in segments}
    paths: dict[Any, list[str]] = {}
    for x, y, sid in zip(cmap["x"], cmap["y"], cmap["segment_id"], strict=True):
        px = pad + x * (w - 2 * pad)
        py = pad + (1 - y) * (h - 2 * pad)
        paths.setdefault(sid, []).append(f"M{_f(px)} {_f(py)}h0")
    body = [
        f'<rect x="0.5" y="0.5" width="{w - 1}" height="{h - 1}" fill="#fbfbfc" stroke="{_GRID}"/>'
    ]
    # big segments first so small ones stay visible on top
    for sid in sorted(paths, key=lambda s: -sizes.get(s, 0)):
        color = colors.get(sid, "#9ca3af")
        body.append(
            f'<path d="{"".join(paths[sid])}" stroke="{color}" stroke-width="4.2" '
            f'stroke-linecap="round" stroke-opacity=".7" fill="none"/>'
        )
    return _svg(w, h, body, label="Customer map coloured by segment", cls="map")


# --------------------------------------------------------------------------- RFM grid
def rfm_grid_chart(grid: dict[str, Any], currency: str | None = None) -> Markup:
    """5x5 grid: recency score (rows, 5 at the top) x frequency score (columns)."""
    counts, money = grid["counts"], grid["avg_monetary"]
    cell_w, cell_h, left, top = 96, 62, 70, 12
    width, height = left + 5 * cell_w + 12, top + 5 * cell_h + 52
    cmax = max(max(row) for row in counts) or 1
    body = []
    for r in range(5):  # r = score - 1; score 5 (most recent) drawn at the top
        y = top + (4 - r) * cell_h
        body.append(_text(left - 12, y + cell_h / 2 + 4, str(r + 1), cls="lbl", anchor="end"))
        for f in range(5):
            x = left + f * cell_w
            n = counts[r][f]
            t = n / cmax
            fill = _mix("#eef3f9", "#1f4e79", t) if n else "#fafafa"
            dark = t > 0.5
            tip = f"R {r + 1}, F {f + 1}: {fmt_int(n)} customers"
            if money[r][f] is not None:
                tip += f", average spend {fmt_money(money[r][f], currency)}"
            body.append(
                f'<rect x="{x}" y="{_f(y)}" width="{cell_w - 3}" height="{cell_h - 3}" '
                f'rx="3" fill="{fill}"><title>{escape(tip)}</title></rect>'
            )
            cls = "dark" if dark else ""
            body.append(
                _text(x + cell_w / 2, y + 25, fmt_int(n), cls=f"cnt {cls}".strip(), anchor="middle")
            )
            if money[r][f] is not None:
                body.append(
                    _text(
                        x + cell_w / 2,
                        y + 43,
                        "avg " + fmt_money(money[r][f], currency, compact=True),
                        cls=f"small {cls}".strip(),
                        anchor="middle",
                    )
                )
    for f in range(5):
        body.append(
            _text(
                left + f * cell_w + cell_w / 2,
                top + 5 * cell_h + 16,
                str(f + 1),
                cls="lbl",
                anchor="middle",
            )
        )
    body.append(
        _text(
            left + 2.5 * cell_w,
            height - 8,
            "Frequency score (5 = buys most often)",
            cls="axis",
            anchor="middle",
        )
    )
    body.append(
        f'<g transform="translate(16,{_f(top + 2.5 * cell_h)}) rotate(-90)">'
        + _text(0, 0, "Recency score (5 = most recent)", cls="axis", anchor="middle")
        + "</g>"
    )
    return _svg(width, height, body, label="RFM grid: recency x frequency", cls="rfm")


# --------------------------------------------------------------------------- model selection
_SEL_TITLES = {
    "silhouette": ("Silhouette", "higher is better"),
    "bic": ("BIC", "lower is better"),
    "stability": ("Stability (ARI)", "higher is better"),
}


def selection_chart(sel: dict[str, Any]) -> Markup:
    """Small multiples: each selection criterion against k, the chosen k marked."""
    rows, chosen = sel["rows"], sel["chosen_k"]
    metrics = sel["metrics"]
    pw, ph, gap = 300, 200, 40
    ml, mr, mt, mb = 46, 10, 40, 34
    width = len(metrics) * pw + (len(metrics) - 1) * gap
    height = ph
    ks = [r["k"] for r in rows]
    kmin, kmax = min(ks), max(ks)
    body = []
    for p, metric in enumerate(metrics):
        ox = p * (pw + gap)
        pts = [(r["k"], r[metric]) for r in rows if r[metric] is not None]
        vals = [v for _, v in pts]
        lo, hi = min(vals), max(vals)
        span = (hi - lo) or (abs(hi) or 1.0)
        lo, hi = lo - 0.08 * span, hi + 0.08 * span
        ticks = _nice_ticks(lo, hi, 3)
        lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
        x0, x1, y0, y1 = ox + ml, ox + pw - mr, mt, ph - mb

        def sx(k: float, x0: float = x0, x1: float = x1) -> float:
            return x0 + (k - kmin) / ((kmax - kmin) or 1) * (x1 - x0)

        def sy(v: float, lo: float = lo, hi: float = hi, y0: float = y0, y1: float = y1) -> float:
            return y1 - (v - lo) / ((hi - lo) or 1) * (y1 - y0)

        title, hint = _SEL_TITLES[metric]
        body.append(_text(ox, 14, title, cls="ptitle"))
        body.append(_text(ox, 29, hint, cls="note"))
        for t in ticks:
            body.append(
                f'<line x1="{_f(x0)}" x2="{_f(x1)}" y1="{_f(sy(t))}" y2="{_f(sy(t))}" '
                f'stroke="{_GRID}"/>'
            )
            body.append(_text(x0 - 6, sy(t) + 4, fmt_compact(t), cls="tick", anchor="end"))
        for k in ks:
            body.append(_text(sx(k), y1 + 16, str(k), cls="tick", anchor="middle"))
        body.append(
            _text((x0 + x1) / 2, ph - 2, "number of segments (k)", cls="note", anchor="middle")
        )
        if chosen is not None and kmin <= chosen <= kmax:
            body.append(
                f'<line x1="{_f(sx(chosen))}" x2="{_f(sx(chosen))}" y1="{y0 - 4}" '
                f'y2="{y1}" stroke="#c4432b" stroke-dasharray="4 3"/>'
            )
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{_f(sx(k))} {_f(sy(v))}" for i, (k, v) in enumerate(pts)
        )
        body.append(f'<path d="{d}" fill="none" stroke="#4e79a7" stroke-width="2"/>')
        for k, v in pts:
            is_chosen = k == chosen
            body.append(
                f'<circle cx="{_f(sx(k))}" cy="{_f(sy(v))}" r="{5 if is_chosen else 3.2}" '
                f'fill="{"#c4432b" if is_chosen else "#4e79a7"}" stroke="#fff" stroke-width="1">'
                f"<title>k={k}: {escape(fmt_compact(v))}</title></circle>"
            )
    return _svg(width, height, body, label="Model selection: criteria against k", cls="selection")


# --------------------------------------------------------------------------- eta^2
def comparison_chart(comp: dict[str, Any]) -> Markup:
    """Two bars: variance explained (eta squared) by classic RFM groups vs. segmint segments."""
    label_w, bar_w = 170, 420
    width, height = label_w + bar_w + 70, 96
    body = []
    items = (
        ("Classic RFM groups", comp["rfm_eta2"], "#9ca3af"),
        ("Segmint segments", comp["ml_eta2"], "#4e79a7"),
    )
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + t * bar_w
        body.append(f'<line x1="{_f(x)}" x2="{_f(x)}" y1="4" y2="72" stroke="{_GRID}"/>')
        body.append(_text(x, 88, fmt_pct(t, 0), cls="tick", anchor="middle"))
    for i, (name, v, color) in enumerate(items):
        y = 10 + i * 30
        v = max(0.0, min(1.0, v or 0.0))
        body.append(_text(label_w - 10, y + 16, name, cls="lbl", anchor="end"))
        body.append(
            f'<rect x="{label_w}" y="{y}" width="{_f(max(v * bar_w, 1.5))}" '
            f'height="22" rx="2" fill="{color}"/>'
        )
        body.append(_text(label_w + v * bar_w + 6, y + 16, fmt_pct(v), cls="val"))
    return _svg(
        width, height, body, label="Variance explained: RFM groups vs segments", cls="comparison"
    )


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


def _axis_titles(x0: float, x1: float, y0: float, y1: float, xt: str, yt: str, h: float) -> str:
    return _text((x0 + x1) / 2, h - 4, xt, cls="axis", anchor="middle") + (
        f'<g transform="translate(14,{_f((y0 + y1) / 2)}) rotate(-90)">'
        + _text(0, 0, yt, cls="axis", anchor="middle")
        + "</g>"
    )


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
        text = _truncate(p["name"], 22)
        tw = len(text) * _CHAR_W
        options = (  # (x, baseline y, anchor): right, left, above, below
            (cx + r + 4, cy + 4, "start"),
            (cx - r - 4, cy + 4, "end"),
            (cx, cy - r - 5, "middle"),
            (cx, cy + r + 13, "middle"),
        )
        best = None
        for lx, ly, anchor in options:
            left = lx if anchor == "start" else (lx - tw if anchor == "end" else lx - tw / 2)
            box = (left, ly - 11, left + tw, ly + 3)
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
        labels.append(_label_with_tooltip(best[1], best[2], p["name"], 22, anchor=best[3]))
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
    body.append(_axis_titles(x0, x1, y0, y1, "Mean churn risk", "Mean CLV", h))
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
        _text(
            (x0 + x1) / 2,
            h - 8,
            "Repeat purchases before the held-out period",
            cls="axis",
            anchor="middle",
        )
    )
    body.append(
        f'<g transform="translate(14,{_f((y0 + y1) / 2)}) rotate(-90)">'
        + _text(0, 0, "Purchases per customer", cls="axis", anchor="middle")
        + "</g>"
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
        _axis_titles(x0, x1, y0, y1, "Predicted churn probability", "Observed churn rate", h)
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
            x0, x1, y0, y1, "Customers targeted, highest risk first", "Churners reached", h
        )
    )
    return _svg(w, h, body, label="Churn gains chart", cls="gains")
