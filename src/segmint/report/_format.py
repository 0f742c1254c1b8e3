"""Number formatting shared by the HTML templates and the SVG charts."""

from __future__ import annotations

import math

__all__ = [
    "fmt_compact",
    "fmt_int",
    "fmt_money",
    "fmt_num",
    "fmt_pct",
    "fmt_plain",
    "fmt_ratio",
    "fmt_sd",
    "fmt_signed",
]

DASH = "\u2014"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt_int(value: object) -> str:
    """``1234.4`` -> ``"1,234"``; missing -> an em dash."""
    if _missing(value):
        return DASH
    return f"{round(float(value)):,}"  # type: ignore[arg-type]


def fmt_pct(value: object, digits: int = 1) -> str:
    """A share in 0..1 as a percentage: ``0.1234`` -> ``"12.3%"``."""
    if _missing(value):
        return DASH
    return f"{float(value) * 100:.{digits}f}%"  # type: ignore[arg-type]


def fmt_num(value: object, digits: int = 2) -> str:
    """A plain number with fixed decimals: ``0.4567`` -> ``"0.46"``."""
    if _missing(value):
        return DASH
    return f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


def fmt_compact(value: object) -> str:
    """Short form for chart labels: ``1234567`` -> ``"1.2M"``, ``12.345`` -> ``"12.3"``."""
    if _missing(value):
        return DASH
    v = float(value)  # type: ignore[arg-type]
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.1f}B"
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4:
        return f"{v / 1e3:.1f}k"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a == 0:
        return "0"
    return f"{v:.2g}" if a < 0.01 else f"{v:.3f}".rstrip("0").rstrip(".")


def fmt_money(value: object, currency: str | None = None, *, compact: bool = False) -> str:
    """Money with thousands separators, prefixed by the workspace currency when known."""
    if _missing(value):
        return DASH
    v = float(value)  # type: ignore[arg-type]
    text = fmt_compact(v) if compact else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}")
    return f"{currency}\u00a0{text}" if currency else text


def fmt_ratio(value: object) -> str:
    """A lift or index: ``2.345`` -> ``"2.3×"``."""
    if _missing(value):
        return DASH
    v = float(value)  # type: ignore[arg-type]
    return f"{v:.2f}\u00d7" if v < 1 else f"{v:.1f}\u00d7"


def fmt_sd(value: object) -> str:
    """A standardized difference (segment vs everyone, in standard deviations): ``"+1.2 sd"``."""
    if _missing(value):
        return DASH
    v = float(value)  # type: ignore[arg-type]
    return f"{v:+.1f}\u00a0sd"


def fmt_signed(value: object, digits: int = 1) -> str:
    """A number with an explicit sign: ``-18.37`` -> ``"-18.4"``, ``4.2`` -> ``"+4.2"``."""
    if _missing(value):
        return DASH
    return f"{float(value):+,.{digits}f}"  # type: ignore[arg-type]


#: a number under a name ending so is a share of 0..1 and is shown as a percentage
SHARE_SUFFIXES = ("share", "rate", "fidelity", "confidence", "ratio", "fraction")


def is_share_name(name: str) -> bool:
    """Whether a feature or metric named ``name`` holds a share (``return_rate``...)."""
    return str(name).lower().endswith(SHARE_SUFFIXES)


def fmt_plain(value: object, name: str = "") -> str:
    """A stored parameter or metric as readable text: lists joined with commas, mappings as
    ``key: value`` pairs, yes/no for booleans, shares (by ``name``) as percentages.

    Examples
    --------
    >>> fmt_plain({"k_range": [2, 8], "scale": True})
    'k range: 2 to 8; scale: yes'
    >>> fmt_plain(0.8123, "noise_share")
    '81.2%'
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return DASH
    if isinstance(value, int | float):
        if is_share_name(name) and 0 <= value <= 1:
            return fmt_pct(value)
        return f"{value:,}" if isinstance(value, int) else fmt_compact(value)
    if isinstance(value, dict):
        if not value:
            return DASH
        return "; ".join(
            f"{str(k).replace('_', ' ')}: {fmt_plain(v, str(k))}" for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        if not value:
            return DASH
        # a two-number range reads as one ("2 to 8")
        if name.endswith("range") and len(value) == 2:
            return f"{fmt_plain(value[0])} to {fmt_plain(value[1])}"
        return ", ".join(fmt_plain(v, name) for v in value)
    return str(value)
