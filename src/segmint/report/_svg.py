"""SVG building blocks shared by the report's charts: numbers, text, tooltips, colours, ticks.

Every string that came from the data goes through :func:`markupsafe.escape`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

_CHAR_W = 6.6  # approximate width of one 12px character, for layout only
_LABEL_CHAR_W = 7.4  # a 13px label character, generously: a name must never overflow
_MUTED = "#6b7280"
_INK = "#1f2937"
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


def _label_width(names: Sequence[str], minimum: float) -> float:
    """A label column wide enough for the longest name, so names are never cut."""
    longest = max((len(n) for n in names), default=0)
    return max(minimum, longest * _LABEL_CHAR_W + 20)


def _wrap(text: str, max_chars: int) -> list[str]:
    """``text`` on one line, or two split at the space nearest the middle (never cut)."""
    if len(text) <= max_chars or " " not in text:
        return [text]
    spaces = [i for i, c in enumerate(text) if c == " "]
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return [text[:cut], text[cut + 1 :]]


def _lines(
    x: float, y: float, lines: Sequence[str], *, cls: str = "lbl", anchor: str = "start"
) -> str:
    """One text element, a line per tspan, 15px apart; the block is centred on ``y``."""
    a = f' text-anchor="{anchor}"' if anchor != "start" else ""
    top = y - 7.5 * (len(lines) - 1)
    spans = "".join(
        f'<tspan x="{_f(x)}" y="{_f(top + 15 * i)}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text class="{cls}"{a}>{spans}</text>'


def _luminance(hex_color: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    rgb = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours (1 to 21; AA text needs 4.5)."""
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _text_on(fill: str) -> bool:
    """Whether text on ``fill`` should be white (else ink): whichever contrasts more."""
    return contrast("#ffffff", fill) > contrast(_INK, fill)


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
