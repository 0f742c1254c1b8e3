"""Stage 1 of the report: stored tables -> one plain, JSON-able dict.

Everything the HTML needs is computed here, so the dict can be saved, compared between runs
or rendered elsewhere; the renderer only formats and draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segmint import __version__

from ._campaigns import campaigns_section
from ._format import is_share_name
from ._markets import markets_section
from ._micro import _evaluations, _micro_segments
from ._predictions import _predictions, _value_risk
from ._values import _check_columns, _int, _jsonable, _label, _maybe_json, _num, _text

__all__ = ["PALETTE", "SUMMARY_SCHEMA_VERSION", "build_summary"]

SUMMARY_SCHEMA_VERSION = 1

#: one colour per segment, in segment order, used by every chart and card (Tableau 10).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#b07aa1",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#79706e",
)

_SEGMENT_REQUIRED = ("segment_id", "name", "size")
_ASSIGNMENT_REQUIRED = ("customer_id", "segment_id")
_MAX_MAP_POINTS = 3000
_MAX_HEATMAP_FEATURES = 14


# --------------------------------------------------------------------------- sections
def _run_section(
    run: Mapping[str, Any], n_customers: int, n_segments: int, currency: str | None = None
) -> dict[str, Any]:
    metrics = dict(run.get("metrics") or {})
    params = dict(run.get("params") or {})
    known = {"n_customers", "n_segments", "method", "silhouette", "stability_ari", "selection"}
    known |= {"rfm_eta2", "ml_eta2"}
    other_metrics = {
        k: v for k, v in metrics.items() if k not in known and not isinstance(v, dict | list)
    }
    return {
        "run_id": _int(run.get("run_id")),
        "created_at": _text(run.get("created_at")),
        "as_of": _text(run.get("as_of")),
        "data_fingerprint": _text(run.get("data_fingerprint")),
        "method": _text(metrics.get("method") or params.get("method")),
        "n_customers": _int(metrics.get("n_customers")) or n_customers,
        "n_segments": _int(metrics.get("n_segments")) or n_segments,
        # the workspace's setting wins; a run's own parameter is from before the setting
        "currency": currency or _text(params.get("currency")) or None,
        "params": _jsonable(params),
        "other_metrics": _jsonable(other_metrics),
        "erased_since": _int(run.get("erased_since")) or 0,
    }


def _segment_rows(
    segments: pd.DataFrame, assignments: pd.DataFrame, labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    seg = segments.sort_values("segment_id", kind="stable").reset_index(drop=True)
    by_seg = assignments.groupby("segment_id", sort=False)
    avg_monetary = by_seg["monetary"].mean() if "monetary" in assignments else pd.Series()
    avg_conf = by_seg["confidence"].mean() if "confidence" in assignments else pd.Series()
    n_micro = (
        by_seg["micro_segment_id"].nunique() if "micro_segment_id" in assignments else pd.Series()
    )
    rows = []
    for i, r in enumerate(seg.to_dict("records")):
        sid = _int(r["segment_id"])
        share, value_share = _num(r.get("share")), _num(r.get("value_share"))
        top = []
        for f in _maybe_json(r.get("top_features"), []) or []:
            name = _text(f.get("feature"))
            top.append(
                {
                    "feature": name,
                    "label": _label(name, labels),
                    "lift": _num(f.get("lift")),
                    "segment_mean": _num(f.get("segment_mean")),
                    "population_mean": _num(f.get("population_mean")),
                    "is_share": is_share_name(name),
                }
            )
        rows.append(
            {
                "segment_id": sid,
                "name": _text(r.get("name")) or f"Segment {sid}",
                "description": _text(r.get("description")),
                "rule": _text(r.get("rule")),
                "rule_fidelity": _num(r.get("rule_fidelity")),
                "size": _int(r.get("size")) or 0,
                "share": share,
                "value_share": value_share,
                "value_index": (value_share / share if share and value_share is not None else None),
                "avg_monetary": _num(avg_monetary.get(r["segment_id"])),
                "mean_confidence": _num(avg_conf.get(r["segment_id"])),
                "n_micro_segments": _int(n_micro.get(r["segment_id"])),
                "clv": _num(r.get("clv")),
                "clv_share": _num(r.get("clv_share")),
                "churn_risk": _num(r.get("churn_risk")),
                "at_risk_share": _num(r.get("at_risk_share")),
                "high_value_share": _num(r.get("high_value_share")),
                "value_flag": _text(r["value_flag"]) if "value_flag" in r else None,
                "color": PALETTE[i % len(PALETTE)],
                "top_features": top,
                "profile": {
                    str(k): _num(v) for k, v in (_maybe_json(r.get("profile"), {}) or {}).items()
                },
            }
        )
    # shares may be absent from older runs: derive them from sizes
    total = sum(s["size"] for s in rows) or 1
    for s in rows:
        if s["share"] is None:
            s["share"] = s["size"] / total
    return rows


def _heatmap(rows: list[dict[str, Any]], labels: Mapping[str, str]) -> dict[str, Any] | None:
    features: list[str] = []
    for s in rows:
        features.extend(f for f in s["profile"] if f not in features)
    if not features or not rows:
        return None
    known_pop: dict[str, float] = {}
    for s in rows:
        for f in s["top_features"]:
            if f["population_mean"] is not None:
                known_pop.setdefault(f["feature"], f["population_mean"])
    sizes = np.array([max(s["size"], 0) for s in rows], dtype=float)
    columns = []
    for name in features:
        means = np.array(
            [np.nan if s["profile"].get(name) is None else s["profile"][name] for s in rows]
        )
        ok = ~np.isnan(means)
        if not ok.any():
            continue
        w = sizes[ok] if sizes[ok].sum() > 0 else np.ones(ok.sum())
        pop = known_pop.get(name, float(np.average(means[ok], weights=w)))
        with np.errstate(divide="ignore", invalid="ignore"):
            if pop > 0 and np.nanmin(means) >= 0:
                lift = means / pop
                score = np.clip(np.log2(np.maximum(lift, 1e-9)) / 2.0, -1.0, 1.0)
                kind = "ratio"
            else:
                diff = means - pop
                spread = np.nanmax(np.abs(diff))
                lift = np.full_like(means, np.nan)
                score = diff / spread if spread > 0 else np.zeros_like(diff)
                kind = "difference"
        columns.append(
            {
                "feature": name,
                "label": _label(name, labels),
                "population_mean": _num(pop),
                "kind": kind,
                # shares are shown as percentages, never as 0.812
                "is_share": is_share_name(name),
                "means": [_num(v) for v in means],
                "lifts": [_num(v) for v in lift],
                "scores": [_num(round(float(v), 4)) for v in score],
                "strength": float(np.nanmax(np.abs(score))) if np.isfinite(score).any() else 0.0,
            }
        )
    if len(columns) > _MAX_HEATMAP_FEATURES:  # keep the most distinguishing, in original order
        keep = sorted(columns, key=lambda c: -c["strength"])[:_MAX_HEATMAP_FEATURES]
        columns = [c for c in columns if any(c is k for k in keep)]
    for c in columns:
        del c["strength"]
    return {
        "segment_ids": [s["segment_id"] for s in rows],
        "features": columns,
        "n_features_total": len(features),
    }


def _frame(v: np.ndarray) -> tuple[float, float]:
    """Axis range: min..max, unless far outliers would squash the rest (they go on the edge)."""
    lo, hi = np.quantile(v, [0.005, 0.995])
    margin = 0.15 * (hi - lo)
    return max(float(v.min()), lo - margin), min(float(v.max()), hi + margin)


def _customer_map(assignments: pd.DataFrame, segment_ids: list[int]) -> dict[str, Any] | None:
    if not {"map_x", "map_y"} <= set(assignments.columns):
        return None
    pts = assignments[["segment_id", "map_x", "map_y"]].copy()
    pts["map_x"] = pd.to_numeric(pts["map_x"], errors="coerce")
    pts["map_y"] = pd.to_numeric(pts["map_y"], errors="coerce")
    pts = pts.replace([np.inf, -np.inf], np.nan).dropna()
    if pts.empty:
        return None
    n_total = len(pts)
    rng = np.random.default_rng(0)
    if n_total > _MAX_MAP_POINTS:
        # proportional sample, but every segment keeps a visible handful of points
        counts = pts["segment_id"].value_counts()
        quota = np.maximum(
            np.floor(counts / n_total * _MAX_MAP_POINTS), np.minimum(counts, 25)
        ).astype(int)
        parts = []
        for sid, idx in pts.groupby("segment_id", sort=False).groups.items():
            take = min(int(quota[sid]), len(idx))
            parts.append(rng.choice(np.asarray(idx), size=take, replace=False))
        chosen = np.concatenate(parts)
        pts = pts.loc[np.sort(chosen)]
    x, y = pts["map_x"].to_numpy(float), pts["map_y"].to_numpy(float)
    x_lo, x_hi = _frame(x)
    y_lo, y_hi = _frame(y)
    xs = np.clip((x - x_lo) / ((x_hi - x_lo) or 1.0), 0, 1)
    ys = np.clip((y - y_lo) / ((y_hi - y_lo) or 1.0), 0, 1)
    known = set(segment_ids)
    seg = [int(s) if int(s) in known else None for s in pts["segment_id"]]
    return {
        "n_total": n_total,
        "n_shown": len(pts),
        "x": [round(float(v), 4) for v in xs],
        "y": [round(float(v), 4) for v in ys],
        "segment_id": seg,
    }


def _rfm(assignments: pd.DataFrame) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    has_money = "monetary" in assignments.columns
    total_money = float(assignments["monetary"].sum()) if has_money else 0.0
    if {"r_score", "f_score"} <= set(assignments.columns):
        a = assignments.dropna(subset=["r_score", "f_score"])
        r = a["r_score"].astype(int).clip(1, 5)
        f = a["f_score"].astype(int).clip(1, 5)
        counts = np.zeros((5, 5), dtype=int)
        money = np.full((5, 5), np.nan)
        np.add.at(counts, (r.to_numpy() - 1, f.to_numpy() - 1), 1)
        if has_money:
            m = a["monetary"].groupby([r.to_numpy(), f.to_numpy()]).mean()
            for (ri, fi), v in m.items():
                money[int(ri) - 1, int(fi) - 1] = v
        out["grid"] = {
            # row i is R score i + 1, column j is F score j + 1
            "counts": counts.tolist(),
            "avg_monetary": [[_num(v) for v in row] for row in money],
        }
    if "rfm_group" in assignments.columns:
        n = len(assignments)
        grouped = assignments.groupby(assignments["rfm_group"].fillna("(none)").astype(str))
        rows = []
        for name, g in grouped:
            spend = float(g["monetary"].sum()) if has_money else None
            rows.append(
                {
                    "group": str(name),
                    "count": len(g),
                    "share": len(g) / n if n else None,
                    "avg_monetary": _num(g["monetary"].mean()) if has_money else None,
                    "value_share": (
                        spend / total_money if spend is not None and total_money else None
                    ),
                }
            )
        rows.sort(key=lambda r: (-r["count"], r["group"]))
        out["groups"] = rows
    return out or None


def _model_selection(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    rows = []
    for r in metrics.get("selection") or []:
        k = _int(r.get("k"))
        if k is None:
            continue
        rows.append(
            {
                "k": k,
                "silhouette": _num(r.get("silhouette")),
                "bic": _num(r.get("bic")),
                "stability": _num(r.get("stability")),
                "chosen": bool(r.get("chosen")),
            }
        )
    if not rows:
        return None
    rows.sort(key=lambda r: r["k"])
    chosen = [r["k"] for r in rows if r["chosen"]]
    return {
        "rows": rows,
        "chosen_k": chosen[0] if chosen else _int(metrics.get("n_segments")),
        "metrics": [
            m for m in ("silhouette", "bic", "stability") if any(r[m] is not None for r in rows)
        ],
    }


def _data_quality(ingest: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if not ingest:
        return None
    sources = []
    for item in ingest:
        rejected = {str(k): _int(v) or 0 for k, v in (item.get("rejected") or {}).items()}
        read, loaded = _int(item.get("rows_read")) or 0, _int(item.get("rows_loaded")) or 0
        sources.append(
            {
                "source": _text(item.get("source")),
                "rows_read": read,
                "rows_loaded": loaded,
                "rows_rejected": sum(rejected.values()),
                "loaded_share": loaded / read if read else None,
                "rejected": [
                    {"reason": k, "count": v}
                    for k, v in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0]))
                ],
            }
        )
    totals = {
        key: sum(s[key] for s in sources) for key in ("rows_read", "rows_loaded", "rows_rejected")
    }
    return {"sources": sources, "totals": totals}


def _key_figures(
    run: dict[str, Any], metrics: Mapping[str, Any], rows: list[dict[str, Any]], a: pd.DataFrame
) -> dict[str, Any]:
    money = pd.to_numeric(a["monetary"], errors="coerce").dropna() if "monetary" in a else None
    top20 = None
    total = None
    if money is not None and len(money):
        total = float(money.sum())
        ordered = np.sort(money.to_numpy())[::-1]
        n_top = max(1, int(math.ceil(0.2 * len(ordered))))
        top20 = float(ordered[:n_top].sum() / total) if total > 0 else None
    largest = max(rows, key=lambda s: s["size"], default=None)
    valued = [s for s in rows if s["value_share"] is not None]
    richest = max(valued, key=lambda s: s["value_share"], default=None)
    return {
        "n_customers": run["n_customers"],
        "n_segments": run["n_segments"],
        "total_revenue": _num(total),
        "revenue_per_customer": (
            _num(total / len(money)) if money is not None and len(money) else None
        ),
        "top20_revenue_share": _num(top20),
        "silhouette": _num(metrics.get("silhouette")),
        "stability_ari": _num(metrics.get("stability_ari")),
        "mean_confidence": _num(a["confidence"].mean()) if "confidence" in a else None,
        "largest_segment": (
            {"name": largest["name"], "share": largest["share"], "color": largest["color"]}
            if largest
            else None
        ),
        "most_valuable_segment": (
            {
                "name": richest["name"],
                "value_share": richest["value_share"],
                "color": richest["color"],
            }
            if richest
            else None
        ),
    }


# --------------------------------------------------------------------------- public
def build_summary(
    *,
    run: dict[str, Any],
    segments: pd.DataFrame,
    assignments: pd.DataFrame,
    ingest: list[dict[str, Any]] | None = None,
    feature_labels: dict[str, str] | None = None,
    predictions: Mapping[str, Any] | None = None,
    micro_segments: pd.DataFrame | None = None,
    evaluations: Mapping[str, Mapping[str, Any]] | None = None,
    min_audience: int = 1,
    markets: Mapping[str, Any] | None = None,
    campaigns: pd.DataFrame | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """Summarise one segmentation run into a plain, JSON-able dict (micro-segments under
    ``min_audience`` customers counted, not described).

    Parameters
    ----------
    run : dict
        The run record: ``run_id``, ``created_at``, ``as_of``, ``params``, ``metrics`` (with
        ``n_customers``, ``n_segments``, ``method``, ``silhouette``, ``stability_ari``, optional
        ``selection``, ``rfm_eta2``, ``ml_eta2``) and ``data_fingerprint``.
    segments : pandas.DataFrame
        One row per segment: ``segment_id``, ``name``, ``size`` and, when known,
        ``description``, ``rule``, ``rule_fidelity``, ``share``, ``value_share``,
        ``top_features``, ``profile`` and, once predictions exist, ``clv``, ``clv_share``,
        ``churn_risk``, ``at_risk_share``, ``high_value_share``, ``value_flag``.
    assignments : pandas.DataFrame
        One row per customer: ``customer_id``, ``segment_id`` and, when known,
        ``micro_segment_id``, ``confidence``, ``r_score``, ``f_score``, ``m_score``,
        ``rfm_group``, ``monetary``, ``map_x``, ``map_y``, ``clv``, ``churn_risk``.
    ingest : list of dict, optional
        Per source file: ``source``, ``rows_read``, ``rows_loaded``, ``rejected``
        (reason -> count).
    feature_labels : dict, optional
        Feature column -> plain-language label.
    predictions : dict, optional
        The stored evaluation of the predictive models: ``lifetime_value`` (purchase and spend
        models, CLV horizon, held-out check), ``churn`` (metrics against baselines, calibration,
        lift), ``next_purchase`` (MAE against the median baseline), ``high_value_at_risk`` and
        ``as_of``. Any part may be missing.
    micro_segments : pandas.DataFrame, optional
        One row per micro-segment: ``micro_segment_id``, ``segment_id``, ``name``, ``rule``,
        ``size``, ``value_share`` and, when known, ``segment_share``, ``rule_fidelity``.
    evaluations : dict, optional
        Stored results of ``segmint evaluate`` by name (each with ``groupings``: ``grouping``,
        ``level``, ``n_groups``, ``value_eta2``, ``interest_eta2``).
    markets : dict, optional
        The market view (:meth:`segmint.activate.markets.MarketView.to_dict`).
    campaigns : DataFrame, optional
        Campaigns with their latest measurement (``segmint.pipeline.list_campaigns``).
    currency : str, optional
        The workspace's currency code (``segmint settings --currency``); without it, the run's
        ``currency`` parameter, if any. Money is shown without a code when neither is known.

    Returns
    -------
    dict
        Keys ``schema_version``, ``segmint_version``, ``run``, ``key_figures``, ``segments``,
        ``heatmap``, ``customer_map``, ``rfm``, ``model_selection``, ``comparison``,
        ``data_quality``, ``value_risk``, ``predictions``, ``micro_segments``,
        ``evaluations``. Optional sections are ``None`` when their inputs are missing.

    Raises
    ------
    segmint.errors.DataValidationError
        If ``segments`` or ``assignments`` lacks a required column.

    Examples
    --------
    >>> import pandas as pd
    >>> segs = pd.DataFrame({"segment_id": [0], "name": ["All"], "size": [2]})
    >>> assign = pd.DataFrame({"customer_id": ["a", "b"], "segment_id": [0, 0]})
    >>> s = build_summary(run={"run_id": 1}, segments=segs, assignments=assign)
    >>> s["key_figures"]["n_customers"], s["segments"][0]["share"]
    (2, 1.0)
    """
    _check_columns(segments, _SEGMENT_REQUIRED, "segments")
    _check_columns(assignments, _ASSIGNMENT_REQUIRED, "assignments")
    labels = dict(feature_labels or {})
    metrics = dict(run.get("metrics") or {})
    rows = _segment_rows(segments, assignments, labels)
    value_risk = _value_risk(rows)  # also derives missing value flags on ``rows``
    run_info = _run_section(
        run, n_customers=len(assignments), n_segments=len(rows), currency=currency
    )
    comparison = None
    if _num(metrics.get("rfm_eta2")) is not None and _num(metrics.get("ml_eta2")) is not None:
        comparison = {"rfm_eta2": _num(metrics["rfm_eta2"]), "ml_eta2": _num(metrics["ml_eta2"])}
    summary = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "segmint_version": __version__,
        "run": run_info,
        "key_figures": _key_figures(run_info, metrics, rows, assignments),
        "segments": rows,
        "heatmap": _heatmap(rows, labels),
        "customer_map": _customer_map(assignments, [s["segment_id"] for s in rows]),
        "rfm": _rfm(assignments),
        "model_selection": _model_selection(metrics),
        "comparison": comparison,
        "data_quality": _data_quality(ingest),
        "value_risk": value_risk,
        "predictions": _predictions(predictions, rows, assignments),
        "micro_segments": _micro_segments(micro_segments, rows, min_audience),
        "evaluations": _evaluations(evaluations),
        "markets": markets_section(markets),
        "campaigns": campaigns_section(campaigns),
    }
    return _jsonable(summary)
