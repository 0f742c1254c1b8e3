"""Stage 2 of the report: summary dict -> Jinja -> one self-contained HTML file."""

from __future__ import annotations

import functools
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from segmint.files import atomic_path

from . import _charts, _prediction_charts
from ._format import (
    fmt_compact,
    fmt_int,
    fmt_money,
    fmt_num,
    fmt_pct,
    fmt_plain,
    fmt_ratio,
    fmt_sd,
    fmt_signed,
)
from ._glossary import GLOSSARY
from ._values import _default_label

__all__ = ["configure_environment", "render_html", "summary_to_json", "write_report"]

_REQUIRED_KEYS = ("run", "key_figures", "segments")


def _when(value: str | None) -> str:
    """ISO timestamp -> ``2024-05-01 12:00 UTC``; dates and unparseable text unchanged."""
    if not value:
        return ""
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return value
    if len(value) <= 10:
        return ts.date().isoformat()
    text = ts.strftime("%Y-%m-%d %H:%M")
    offset = ts.utcoffset()
    if offset is not None and offset.total_seconds() == 0:
        text += " UTC"
    return text


def configure_environment(env: jinja2.Environment) -> jinja2.Environment:
    """Give a Jinja environment the report's filters: the dashboard renders the report's
    components with the same formatting."""
    env.filters.update(
        int=fmt_int,
        pct=fmt_pct,
        num=fmt_num,
        compact=fmt_compact,
        money=fmt_money,
        ratio=fmt_ratio,
        sd=fmt_sd,
        signed=fmt_signed,
        when=_when,
        pretty_json=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False),
        plain=fmt_plain,
    )
    # a global, not context: the components macros are imported without the page's context
    env.globals["glossary"] = GLOSSARY
    return env


@functools.cache
def _environment() -> jinja2.Environment:
    return configure_environment(
        jinja2.Environment(
            loader=jinja2.PackageLoader("segmint.report", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )


def _details(run: dict[str, Any]) -> list[tuple[str, str]]:
    """Run details as (label, readable text) rows: parameters, then the other metrics."""
    rows = []
    if run.get("data_fingerprint"):
        rows.append(("Data fingerprint", run["data_fingerprint"]))
    for source in (run.get("params") or {}, run.get("other_metrics") or {}):
        for key, value in sorted(source.items()):
            rows.append((_default_label(key), fmt_plain(value, key)))
    return rows


def _check_summary(summary: Any) -> None:
    if not isinstance(summary, dict):
        msg = f"summary must be a dict from build_summary, got {type(summary).__name__}"
        raise TypeError(msg)
    missing = [k for k in _REQUIRED_KEYS if not isinstance(summary.get(k), dict | list)]
    if missing:
        msg = f"summary is missing section(s) {', '.join(missing)}; build it with build_summary"
        raise ValueError(msg)


def _charts_for(summary: dict[str, Any]) -> dict[str, Any]:
    segs = summary["segments"]
    currency = summary["run"].get("currency")
    charts: dict[str, Any] = {"sizes": _charts.sizes_chart(segs) if segs else None}
    hm = summary.get("heatmap")
    charts["heatmap"] = _charts.heatmap_chart(hm, segs) if hm and hm["features"] else None
    cmap = summary.get("customer_map")
    charts["map"] = _charts.customer_map_chart(cmap, segs) if cmap and cmap["x"] else None
    rfm = summary.get("rfm") or {}
    charts["rfm"] = _charts.rfm_grid_chart(rfm["grid"], currency) if rfm.get("grid") else None
    sel = summary.get("model_selection")
    charts["selection"] = _charts.selection_chart(sel) if sel and sel["metrics"] else None
    comp = summary.get("comparison")
    charts["comparison"] = _charts.comparison_chart(comp) if comp else None
    vr = summary.get("value_risk")
    charts["value_risk"] = (
        _prediction_charts.value_risk_chart(vr, currency) if vr and vr["points"] else None
    )
    pred = summary.get("predictions") or {}
    holdout = (pred.get("lifetime_value") or {}).get("holdout") or {}
    charts["holdout"] = (
        _prediction_charts.holdout_chart(holdout)
        if holdout.get("conditional_expectations")
        else None
    )
    churn = pred.get("churn") or {}
    cal, lift = churn.get("calibration"), churn.get("lift")
    charts["calibration"] = (
        _prediction_charts.calibration_chart(cal) if cal and cal["points"] else None
    )
    charts["gains"] = _prediction_charts.gains_chart(lift) if lift and lift["rows"] else None
    return charts


def render_html(summary: dict[str, Any]) -> str:
    """Render a summary from :func:`build_summary` as one self-contained HTML page.

    The page has inline CSS and inline SVG charts only: no scripts, fonts or images are
    fetched, so it opens offline. Every string from the data is HTML-escaped.

    Parameters
    ----------
    summary : dict
        The dict returned by :func:`build_summary` (or read back from its JSON).

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    TypeError
        If ``summary`` is not a dict.
    ValueError
        If ``summary`` lacks the ``run``, ``key_figures`` or ``segments`` sections.
    """
    _check_summary(summary)
    template = _environment().get_template("report.html.j2")
    return template.render(s=summary, charts=_charts_for(summary), details=_details(summary["run"]))


def summary_to_json(summary: dict[str, Any]) -> str:
    """Serialise a summary as strict JSON (no NaN), keys sorted, for storage or diffing.

    Examples
    --------
    >>> summary_to_json({"b": 1, "a": [0.5, None]})
    '{\\n  "a": [\\n    0.5,\\n    null\\n  ],\\n  "b": 1\\n}'
    """
    return json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)


def write_report(summary: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Render ``summary`` and write it to ``path`` atomically.

    The page is rendered in memory first, written to a temporary file in the same directory,
    flushed to disk and moved over ``path`` with :func:`os.replace`. If anything fails, an
    existing report at ``path`` is left as it was and no temporary file is left behind.

    Parameters
    ----------
    summary : dict
        The dict returned by :func:`build_summary`.
    path : str or os.PathLike
        Where to write the HTML file; its directory must exist.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    target = Path(path)
    html = render_html(summary)
    with atomic_path(target) as tmp:
        tmp.write_text(html, encoding="utf-8", newline="\n")
    return target
