"""Stage 1 of the report, predictions: the stored model evaluation -> plain dict sections
(value against risk, lifetime value with its held-out checks and where P(alive) comes from,
churn, propensity, next purchase)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from segmint.predict.flags import HIGH_VALUE_MULTIPLE, segment_flags

from ._values import _int, _mapping, _num, _text

#: the held-out check groups customers by calibration-period repeat purchases, capped here
_CE_CAP = 7


def _value_risk(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Segments placed by mean churn risk (x) and mean CLV (y), with the flag thresholds."""
    pts = [s for s in rows if s["clv"] is not None and s["churn_risk"] is not None]
    if not pts:
        return None
    flags, mean_clv, mean_risk = segment_flags(
        [s["clv"] for s in pts], [s["churn_risk"] for s in pts], [s["size"] for s in pts]
    )
    for s, flag in zip(pts, flags, strict=True):  # flags not stored with the run: derive them
        if s["value_flag"] is None:
            s["value_flag"] = str(flag)
    return {
        "mean_clv": _num(mean_clv),
        "mean_churn_risk": _num(mean_risk),
        "high_value_threshold": _num(HIGH_VALUE_MULTIPLE * mean_clv),
        "points": [
            {
                "segment_id": s["segment_id"],
                "name": s["name"],
                "color": s["color"],
                "size": s["size"],
                "clv": s["clv"],
                "churn_risk": s["churn_risk"],
                "value_flag": s["value_flag"],
            }
            for s in pts
        ],
    }


def _param_rows(params: Any, errors: Any = None) -> list[dict[str, Any]]:
    se = _mapping(errors)
    return [
        {"name": str(k), "value": _num(v), "se": _num(se.get(k))}
        for k, v in _mapping(params).items()
    ]


def _lifetime_value(lv: Mapping[str, Any]) -> dict[str, Any] | None:
    if not lv:
        return None
    purchase_model = _text(lv.get("purchase_model"))
    out: dict[str, Any] = {
        # the purchase model in use (the held-out choice, or Pareto/NBD where it could not be
        # fitted): every mention of the model in the report names this one
        "model": purchase_model or _text(_mapping(lv.get("holdout")).get("model")),
        "purchase_model": purchase_model,
        "purchase_params": _param_rows(
            lv.get("purchase_params"), lv.get("purchase_standard_errors")
        ),
        "purchase_log_likelihood": _num(lv.get("purchase_log_likelihood")),
        "spend_model": "Gamma-Gamma" if lv.get("spend_params") else "",
        "spend_params": _param_rows(lv.get("spend_params")),
        "clv_months": _int(lv.get("clv_months")),
        "monthly_discount": _num(lv.get("monthly_discount")),
        "customers": _int(lv.get("customers")),
        "holdout": None,
    }
    ho = _mapping(lv.get("holdout"))
    if ho:
        rows = []
        for r in ho.get("conditional_expectations") or []:
            f = _int(r.get("frequency"))
            if f is None:
                continue
            rows.append(
                {
                    "frequency": f,
                    "label": f"{f}+" if f >= _CE_CAP else str(f),
                    "customers": _int(r.get("customers")),
                    "actual": _num(r.get("actual")),
                    "predicted": _num(r.get("predicted")),
                }
            )
        rows.sort(key=lambda r: r["frequency"])
        actual = _num(ho.get("actual_repeat_purchases"))
        predicted = _num(ho.get("predicted_repeat_purchases"))
        error = _num(ho.get("error_pct"))
        if error is None and actual and predicted is not None:
            error = 100 * (predicted - actual) / actual
        held_out_model = _text(ho.get("model")) or out["model"]
        out["holdout"] = {
            "model": held_out_model,
            # False for a check stored for another model than the one now in use
            "same_model": held_out_model == out["model"],
            "calibration_end": _text(ho.get("calibration_end")),
            "holdout_days": _int(ho.get("holdout_days")),
            "customers": _int(ho.get("customers")),
            "actual_repeat_purchases": actual,
            "predicted_repeat_purchases": predicted,
            "error_pct": error,
            "conditional_expectations": rows,
        }
    return out


def _clv_ranking(rk: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each score's held-out rank correlation with the next horizon's spend, best marked."""
    rows = [
        {"name": str(name), "spearman": _num(rho)}
        for name, rho in _mapping(rk.get("spearman")).items()
    ]
    if not rows:
        return None
    top = max((r["spearman"] for r in rows if r["spearman"] is not None), default=None)
    for r in rows:
        r["best"] = r["spearman"] is not None and r["spearman"] == top
    return {
        "rows": rows,
        "stored": _text(rk.get("clv")),
        "test_cutoff": _text(rk.get("test_cutoff")),
        "horizon_days": _int(rk.get("horizon_days")),
        "n": _int(rk.get("n")),
    }


def _churn(ch: Mapping[str, Any]) -> dict[str, Any] | None:
    if not ch:
        return None
    models = []
    for i, (name, m) in enumerate(_mapping(ch.get("models")).items()):
        m = _mapping(m)
        models.append(
            {
                "name": str(name),
                "role": "model" if i == 0 else "baseline",
                "roc_auc": _num(m.get("roc_auc")),
                "brier": _num(m.get("brier")),
                "ece": _num(m.get("ece")),
            }
        )
    best: dict[str, str | None] = {}
    for key, higher_better in (("roc_auc", True), ("brier", False), ("ece", False)):
        scored = [m for m in models if m[key] is not None]
        pick = (max if higher_better else min)(scored, key=lambda m: m[key], default=None)
        best[key] = pick["name"] if pick else None
    for m in models:
        m["best"] = [k for k, name in best.items() if name == m["name"]]
    model, baselines = (models[0], models[1:]) if models else (None, [])
    beats = None
    if model and baselines and model["roc_auc"] is not None and model["brier"] is not None:
        beats = all(
            (b["roc_auc"] is None or model["roc_auc"] > b["roc_auc"])
            and (b["brier"] is None or model["brier"] < b["brier"])
            for b in baselines
        )
    cal = _mapping(ch.get("calibration"))
    points = [
        {"mean_predicted": _num(p), "observed_rate": _num(o), "count": _int(c)}
        for p, o, c in zip(
            cal.get("mean_predicted") or [],
            cal.get("observed_rate") or [],
            cal.get("count") or [None] * len(cal.get("mean_predicted") or []),
            strict=False,
        )
    ]
    points = [
        p for p in points if p["mean_predicted"] is not None and p["observed_rate"] is not None
    ]
    lift = _mapping(ch.get("lift"))
    keys = ("bin", "count", "positives", "rate", "lift", "cumulative_share", "cumulative_gain")
    n_bins = len(lift.get("cumulative_share") or [])
    lift_rows = []
    for i in range(n_bins):
        row = {}
        for k in keys:
            seq = lift.get(k) or []
            row[k] = _num(seq[i]) if i < len(seq) else None
        if row["cumulative_share"] is not None and row["cumulative_gain"] is not None:
            lift_rows.append(row)
    top = next((r for r in lift_rows if r["cumulative_share"] >= 0.2 - 1e-6), None)
    return {
        "n": _int(ch.get("n")),
        "base_rate": _num(ch.get("base_rate")),
        "horizon_days": _int(ch.get("horizon_days")),
        "test_cutoff": _text(ch.get("test_cutoff")),
        "train_cutoffs": [_text(c) for c in ch.get("train_cutoffs") or []],
        "calibration_cutoff": _text(ch.get("calibration_cutoff")) or None,
        "calibration_overlap_days": _int(ch.get("calibration_overlap_days")),
        "models": models,
        "best": best,
        "model_beats_baselines": beats,
        "calibration": (
            {
                "points": points,
                "ece": _num(cal.get("expected_calibration_error"))
                if cal.get("expected_calibration_error") is not None
                else (model["ece"] if model else None),
            }
            if points
            else None
        ),
        "lift": (
            {
                "rows": lift_rows,
                "base_rate": _num(lift.get("base_rate", ch.get("base_rate"))),
                "top_share": top["cumulative_share"] if top else None,
                "top_gain": top["cumulative_gain"] if top else None,
                "top_lift": (
                    top["cumulative_gain"] / top["cumulative_share"]
                    if top and top["cumulative_share"]
                    else None
                ),
            }
            if lift_rows
            else None
        ),
    }


def _propensity(pr: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per category and on average: each model's ROC-AUC and average precision."""
    if not pr:
        return None

    def scores(models: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "name": str(name),
                "roc_auc": _num(_mapping(m).get("roc_auc")),
                "average_precision": _num(_mapping(m).get("average_precision")),
            }
            for name, m in _mapping(models).items()
        ]

    categories = [
        {
            "category": str(name),
            "n": _int(_mapping(c).get("n")),
            "base_rate": _num(_mapping(c).get("base_rate")),
            "models": {m["name"]: m for m in scores(_mapping(c).get("models"))},
        }
        for name, c in _mapping(pr.get("categories")).items()
    ]
    mean = scores(pr.get("mean"))
    names = [m["name"] for m in mean]
    model = next((m for m in mean if m["name"] == "propensity model"), None)
    baselines = [m for m in mean if m is not model]
    beats = None
    if model and baselines and model["roc_auc"] is not None:
        beats = all(
            (b["roc_auc"] is None or model["roc_auc"] > b["roc_auc"])
            and (
                b["average_precision"] is None
                or (model["average_precision"] or 0) > b["average_precision"]
            )
            for b in baselines
        )
    return {
        "test_cutoff": _text(pr.get("test_cutoff")),
        "horizon_days": _int(pr.get("horizon_days")),
        "train_cutoffs": [_text(c) for c in pr.get("train_cutoffs") or []],
        "model_names": names,
        "mean": mean,
        "categories": categories,
        "model_beats_baselines": beats,
    }


def _next_purchase(np_: Mapping[str, Any]) -> dict[str, Any] | None:
    if not np_:
        return None
    mae, base = _num(np_.get("mae_days")), _num(np_.get("median_baseline_mae_days"))
    return {
        "mae_days": mae,
        "median_baseline_mae_days": base,
        "improvement": (1 - mae / base) if mae is not None and base else None,
        "test_cutoff": _text(np_.get("test_cutoff")),
        "horizon_days": _int(np_.get("horizon_days")),
    }


def _predictions(
    predictions: Mapping[str, Any] | None, rows: list[dict[str, Any]], assignments: pd.DataFrame
) -> dict[str, Any] | None:
    if predictions is None:
        return None
    if not isinstance(predictions, Mapping):
        kind = type(predictions).__name__
        msg = f"predictions must be a dict (the stored model evaluation), got {kind}"
        raise TypeError(msg)
    lv = _lifetime_value(_mapping(predictions.get("lifetime_value")))
    if lv:
        lv["ranking"] = _clv_ranking(_mapping(predictions.get("clv_ranking")))
        alive = _mapping(predictions.get("p_alive"))
        lv["p_alive"] = (
            {"model": _text(alive.get("model")), "reason": _text(alive.get("reason"))}
            if alive
            else None
        )
    churn = _churn(_mapping(predictions.get("churn")))
    nxt = _next_purchase(_mapping(predictions.get("next_purchase")))
    propensity = _propensity(_mapping(predictions.get("propensity")))
    # total expected CLV: segment means x sizes, or the customers' own scores
    valued = [s for s in rows if s["clv"] is not None]
    total_clv = sum(s["clv"] * s["size"] for s in valued) if valued else None
    if total_clv is None and "clv" in assignments.columns:
        clv = pd.to_numeric(assignments["clv"], errors="coerce").dropna()
        total_clv = float(clv.sum()) if len(clv) else None
    at_risk = [s for s in rows if s["at_risk_share"] is not None]
    return {
        "as_of": _text(predictions.get("as_of")),
        "key_figures": {
            "clv_months": lv["clv_months"] if lv else None,
            "monthly_discount": lv["monthly_discount"] if lv else None,
            "total_clv": _num(total_clv),
            "high_value_at_risk": _int(predictions.get("high_value_at_risk")),
            "at_risk_customers": (
                _int(sum(s["at_risk_share"] * s["size"] for s in at_risk)) if at_risk else None
            ),
            "churn_base_rate": churn["base_rate"] if churn else None,
        },
        "lifetime_value": lv,
        "churn": churn,
        "propensity": propensity,
        "next_purchase": nxt,
    }
