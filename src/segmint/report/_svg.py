"""SVG building blocks shared by the report's charts: numbers, text, tooltips, colours, ticks.

Every string that came from the data goes through :func:`markupsafe.escape`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

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


def _axis_titles(
    x_mid: float, x_title_y: float, y_mid: float, x_title: str, y_title: str, *, y_title_x=14
) -> str:
    """The x axis title centred below the plot and the y title turned up along its left side."""
    return _text(x_mid, x_title_y, x_title, cls="axis", anchor="middle") + (
        f'<g transform="translate({_f(y_title_x)},{_f(y_mid)}) rotate(-90)">'
        + _text(0, 0, y_title, cls="axis", anchor="middle")
        + "</g>"
    )


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
