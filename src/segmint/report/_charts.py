"""Stage 2a of the report: summary dict -> compact inline SVG charts.

Charts are hand-built SVG (no scripts, no external fonts): text stays text and inherits the
page's CSS, so every chart shares the report's typography, and the file stays small. Every
string that came from the data goes through :func:`markupsafe.escape`.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from ._format import fmt_compact, fmt_int, fmt_money, fmt_pct
from ._glossary import GLOSSARY

__all__ = [
    "comparison_chart",
    "customer_map_chart",
    "heatmap_chart",
    "rfm_grid_chart",
    "selection_chart",
    "sizes_chart",
]
from ._svg import (
    _CHAR_W,
    _GRID,
    _MUTED,
    _axis_titles,
    _f,
    _label_width,
    _mix,
    _nice_ticks,
    _svg,
    _text,
    _text_on,
)


# --------------------------------------------------------------------------- sizes
def sizes_chart(segments: list[dict[str, Any]]) -> Markup:
    """Paired horizontal bars: share of customers (light) and share of revenue (solid)."""
    label_w = _label_width([s["name"] for s in segments], 190)
    bar_w, pad_r = 430, 60
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
        body.append(_text(label_w - 10, y + 22, s["name"], cls="lbl", anchor="end"))
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
# "different from average" is neither good nor bad: teal below, purple above, never red
_NEG, _MID, _POS = "#01665e", "#f7f7f7", "#542788"


def _diverging(score: float | None) -> str:
    if score is None:
        return "#eeeeee"
    s = max(-1.0, min(1.0, score))
    # mid-tones carry AA text in neither ink nor white: light up to half way (ink text), then
    # a step to dark (white text)
    t = abs(s) if abs(s) <= 0.5 else 0.8 + 0.4 * (abs(s) - 0.5)
    return _mix(_MID, _POS, t) if s >= 0 else _mix(_MID, _NEG, t)


def heatmap_chart(heatmap: dict[str, Any], segments: list[dict[str, Any]]) -> Markup:
    """Segments x features; colour = ratio to the population mean, text = the segment mean."""
    feats = heatmap["features"]
    by_id = {s["segment_id"]: s for s in segments}
    rows = [by_id.get(sid) for sid in heatmap["segment_ids"]]
    names = [
        s["name"] if s else str(sid) for s, sid in zip(rows, heatmap["segment_ids"], strict=True)
    ]
    label_w = _label_width(names, 200)
    cell_w, cell_h = 84, 34
    # feature labels run up at 40 degrees, whole: room above and to the right for the longest
    longest = max((len(f["label"]) for f in feats), default=10)
    top = 24 + longest * _CHAR_W * 0.72
    width = label_w + cell_w * len(feats) + max(90, longest * _CHAR_W * 0.8)
    height = top + cell_h * (len(rows) + 1) + 56
    body = []
    for j, f in enumerate(feats):
        cx = label_w + j * cell_w + cell_w / 2
        body.append(
            f'<g transform="translate({_f(cx)},{_f(top - 8)}) rotate(-40)">'
            + _text(0, 0, f["label"], cls="lbl")
            + "</g>"
        )
    for i, seg in enumerate(rows):
        y = top + i * cell_h
        name = names[i]
        color = seg["color"] if seg else _MUTED
        body.append(f'<rect x="4" y="{_f(y + 9)}" width="10" height="16" rx="2" fill="{color}"/>')
        body.append(_text(label_w - 10, y + cell_h / 2 + 4, name, cls="lbl", anchor="end"))
        for j, f in enumerate(feats):
            x = label_w + j * cell_w
            fmt = fmt_pct if f.get("is_share") else fmt_compact
            score = f["scores"][i]
            fill = _diverging(score)
            dark = _text_on(fill)
            lift = f["lifts"][i]
            tip = f"{name} \u2014 {f['label']}: {fmt(f['means'][i])}"
            tip += f" (all customers {fmt(f['population_mean'])}"
            tip += f", {lift:.2f}\u00d7)" if lift is not None else ")"
            body.append(
                f'<rect x="{x}" y="{_f(y)}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{fill}"><title>{escape(tip)}</title></rect>'
            )
            body.append(
                _text(
                    x + cell_w / 2 - 1,
                    y + cell_h / 2 + 3,
                    fmt(f["means"][i]),
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
                (fmt_pct if f.get("is_share") else fmt_compact)(f["population_mean"]),
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
            dark = bool(n) and _text_on(fill)
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
        _axis_titles(
            left + 2.5 * cell_w,
            height - 8,
            top + 2.5 * cell_h,
            "Frequency score (5 = buys most often)",
            "Recency score (5 = most recent)",
            y_title_x=16,
        )
    )
    return _svg(width, height, body, label="RFM grid: recency x frequency", cls="rfm")


# --------------------------------------------------------------------------- model selection
#: criterion -> (glossary key, hint); the plain label is shown, the technical term on hover
_SEL_TITLES = {
    "silhouette": ("silhouette", "higher is better"),
    "bic": ("bic", "lower is better"),
    "stability": ("stability", "higher is better"),
}
_CHOSEN = "#1f4e79"  # the chosen k: an accent, not red (nothing is wrong with it)


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

        key, hint = _SEL_TITLES[metric]
        plain, technical, about = GLOSSARY[key]
        body.append(
            f'<text x="{_f(ox)}" y="14" class="ptitle"><title>{escape(technical)}: '
            f"{escape(about)}</title>{escape(plain)}</text>"
        )
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
                f'y2="{y1}" stroke="{_CHOSEN}" stroke-dasharray="4 3"/>'
            )
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{_f(sx(k))} {_f(sy(v))}" for i, (k, v) in enumerate(pts)
        )
        body.append(f'<path d="{d}" fill="none" stroke="#4e79a7" stroke-width="2"/>')
        for k, v in pts:
            is_chosen = k == chosen
            body.append(
                f'<circle cx="{_f(sx(k))}" cy="{_f(sy(v))}" r="{5 if is_chosen else 3.2}" '
                f'fill="{_CHOSEN if is_chosen else "#4e79a7"}" stroke="#fff" stroke-width="1">'
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
