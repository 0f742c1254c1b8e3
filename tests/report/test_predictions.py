"""The report's predictions: value-aware segments, the Predictions section and its charts."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from segmint.report import build_summary, render_html, summary_to_json

# a real evaluation (UCI Online Retail, as of 2011-12-10), rounded to 6 significant digits
EVAL = json.loads((Path(__file__).parent / "predictions_eval.json").read_text(encoding="utf-8"))

CLV = [120.0, 900.0, 200.0]
RISK = [0.2, 0.6, 0.3]


def _n_svg(html: str) -> int:
    return len(re.findall(r"<svg\b", html))


def _svg_classes(html: str) -> list[str]:
    return re.findall(r'<svg class="chart ([\w-]+)"', html)


def _external_refs(html: str) -> list[str]:
    refs = re.findall(r"""\b(?:src|href|xlink:href)\s*=\s*["']?([^"'\s>]+)""", html, re.I)
    refs += re.findall(r"""url\(\s*["']?([^"')]+)""", html, re.I)
    return [r for r in refs if not r.startswith("#")]


def _valued(inputs: dict[str, Any], *, flags: bool = True) -> dict[str, Any]:
    segs = inputs["segments"]
    segs["clv"] = CLV
    segs["clv_share"] = [0.1, 0.7, 0.2]
    segs["churn_risk"] = RISK
    segs["at_risk_share"] = [0.1, 0.55, 0.25]
    segs["high_value_share"] = [0.05, 0.6, 0.1]
    if flags:
        segs["value_flag"] = ["", "high value at risk", ""]
    return inputs


@pytest.fixture
def predictions() -> dict[str, Any]:
    return copy.deepcopy(EVAL)


# --------------------------------------------------------------------------- summary
def test_summary_with_predictions_is_strict_json(inputs, predictions):
    s = build_summary(**_valued(inputs), predictions=predictions)
    p = s["predictions"]
    assert set(p) == {
        "as_of",
        "key_figures",
        "lifetime_value",
        "churn",
        "propensity",
        "next_purchase",
    }
    assert set(p["key_figures"]) >= {"clv_months", "monthly_discount", "total_clv"}
    assert p["key_figures"]["high_value_at_risk"] == 1
    assert json.loads(summary_to_json(s)) == s
    assert s["value_risk"]["points"][1]["value_flag"] == "high value at risk"


def test_summary_hand_checked_prediction_numbers(inputs, predictions):
    s = build_summary(**_valued(inputs), predictions=predictions)
    sizes = [seg["size"] for seg in s["segments"]]
    kf = s["predictions"]["key_figures"]
    assert kf["total_clv"] == pytest.approx(sum(c * n for c, n in zip(CLV, sizes, strict=True)))
    assert kf["clv_months"] == 12 and kf["monthly_discount"] == pytest.approx(0.01)
    lv = s["predictions"]["lifetime_value"]
    assert [r["name"] for r in lv["purchase_params"]] == ["r", "alpha", "a", "b"]
    assert lv["purchase_params"][0]["se"] == pytest.approx(0.02678)
    ce = lv["holdout"]["conditional_expectations"]
    assert [r["label"] for r in ce] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    churn = s["predictions"]["churn"]
    assert churn["models"][0]["role"] == "model"
    assert churn["models"][0]["best"] == ["roc_auc", "brier", "ece"]
    assert churn["model_beats_baselines"] is True
    assert len(churn["calibration"]["points"]) == 10
    assert churn["lift"]["top_gain"] == pytest.approx(0.319672)
    nxt = s["predictions"]["next_purchase"]
    assert nxt["improvement"] == pytest.approx(1 - 30.7112 / 40.8203, rel=1e-4)
    vr = s["value_risk"]
    w = [n / sum(sizes) for n in sizes]
    assert vr["mean_churn_risk"] == pytest.approx(sum(r * x for r, x in zip(RISK, w, strict=True)))
    assert vr["high_value_threshold"] == pytest.approx(1.5 * vr["mean_clv"])


def test_best_model_per_metric_and_failing_model(inputs, predictions):
    models = predictions["churn"]["models"]
    models["recency (calibrated)"]["roc_auc"] = 0.9
    models["1 - P(alive) (calibrated)"]["ece"] = 0.01
    churn = build_summary(**inputs, predictions=predictions)["predictions"]["churn"]
    best = {m["name"]: m["best"] for m in churn["models"]}
    assert best == {
        "churn model": ["brier"],
        "recency (calibrated)": ["roc_auc"],
        "1 - P(alive) (calibrated)": ["ece"],
    }
    assert churn["model_beats_baselines"] is False
    assert "does not beat every baseline" in render_html(
        build_summary(**inputs, predictions=predictions)
    )


def test_value_flags_are_derived_when_not_stored(inputs):
    s = build_summary(**_valued(inputs, flags=False))
    # segment 1: CLV 900 is over 1.5x the weighted mean and its risk is above average
    assert [seg["value_flag"] for seg in s["segments"]] == ["", "high value at risk", ""]


def test_customer_scores_give_total_clv_without_segment_means(inputs, predictions):
    inputs["assignments"]["clv"] = 10.0
    inputs["assignments"]["churn_risk"] = 0.5
    s = build_summary(**inputs, predictions=predictions)
    assert s["predictions"]["key_figures"]["total_clv"] == pytest.approx(10.0 * 300)
    assert s["value_risk"] is None


def test_predictions_must_be_a_dict(inputs):
    with pytest.raises(TypeError, match="predictions must be a dict"):
        build_summary(**inputs, predictions=[1, 2])


# --------------------------------------------------------------------------- HTML
def test_no_predictions_no_section(inputs):
    s = build_summary(**inputs)
    assert s["predictions"] is None and s["value_risk"] is None
    html = render_html(s)
    assert 'id="predictions"' not in html and 'href="#predictions"' not in html
    assert "Value and risk" not in html and "badge risk" not in html
    assert _n_svg(html) == 6


def test_full_report_charts_and_numbers(inputs, predictions):
    html = render_html(build_summary(**_valued(inputs), predictions=predictions))
    assert _svg_classes(html) == [
        "sizes",
        "value-risk",
        "heatmap",
        "map",
        "rfm",
        "selection",
        "comparison",
        "holdout",
        "calibration",
        "gains",
    ]
    assert 'href="#predictions"' in html
    for text in (
        "4,351 repeat purchases predicted vs 5,330 actual over the held-out 120 days (-18.4%)",
        "BG/NBD",
        "Gamma-Gamma",
        "12 months",
        "discounted 1.0% a month",
        "High-value customers at risk",
        "2011-02-13, 2011-03-15, 2011-04-14",
        "2011-08-12",
        "<strong>30.7 days</strong>",
        "<strong>40.8 days</strong>",
        "(25% better)",
        "7+",
        "37.9%",
        "calibrated on 2011-04-14, whose 120-day outcome window overlaps the trees' latest by 90",
        'id="propensity"',
        "0.752 / 0.714",  # the propensity model, mean over five categories
        "0.620 / 0.496",  # own history
        "the propensity model beats every baseline on",
    ):
        assert text in html, text
    # one purchase model named throughout: the one in use (the stored check was for another)
    assert "Pareto/NBD" not in html
    assert "another purchase model than the one now used" in html
    assert '<td class="n best">0.748</td>' in html
    assert '<td class="n">0.694</td>' in html
    # the flag: one badge in the segment table, one on the card
    assert html.count('<span class="badge risk">high value at risk</span>') == 2
    assert _external_refs(html) == []
    assert "<script" not in html.lower()


def test_real_evaluation_renders_without_segment_values(inputs, predictions):
    s = build_summary(**inputs, predictions=predictions)
    html = render_html(s)
    assert _n_svg(html) == 9  # no value-and-risk chart without segment CLV
    assert "Total expected CLV" not in html
    assert render_html(json.loads(summary_to_json(s))) == html


@pytest.mark.parametrize("part", ["lifetime_value", "churn", "next_purchase"])
def test_partial_predictions_render(inputs, predictions, part):
    only = {part: predictions[part]}
    html = render_html(build_summary(**inputs, predictions=only))
    assert 'id="predictions"' in html
    expected = {"lifetime_value": 7, "churn": 8, "next_purchase": 6}[part]
    assert _n_svg(html) == expected


def test_sparse_predictions_render(inputs):
    sparse = {
        "lifetime_value": {"purchase_model": "BG/NBD", "holdout": {"conditional_expectations": []}},
        "churn": {"models": {}, "calibration": {}, "lift": {}},
        "next_purchase": {"mae_days": None},
    }
    html = render_html(build_summary(**inputs, predictions=sparse))
    assert 'id="predictions"' in html
    assert _n_svg(html) == 6


def test_prediction_strings_are_escaped(inputs, predictions):
    evil = "<script>alert(1)</script>"
    predictions["lifetime_value"]["purchase_model"] = evil
    predictions["lifetime_value"]["holdout"]["model"] = evil
    predictions["lifetime_value"]["purchase_params"][evil] = 1.0
    predictions["churn"]["models"][evil] = {"roc_auc": 0.5, "brier": 0.3, "ece": 0.1}
    predictions["churn"]["train_cutoffs"].append(evil)
    predictions["churn"]["test_cutoff"] = evil
    predictions["next_purchase"]["test_cutoff"] = evil
    predictions["as_of"] = evil
    inputs = _valued(inputs)
    inputs["segments"]["value_flag"] = [evil, "high value", ""]
    inputs["segments"].loc[1, "name"] = '"><img src=x onerror=alert(2)>'
    html = render_html(build_summary(**inputs, predictions=predictions))
    assert evil not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# a held-out propensity evaluation in the stored form (pipeline.predict, "propensity")
PROPENSITY = {
    "categories": {
        "christmas/tree": {
            "n": 400,
            "base_rate": 0.1,
            "models": {
                "propensity model": {"roc_auc": 0.81, "average_precision": 0.42},
                "category popularity": {"roc_auc": 0.5, "average_precision": 0.1},
                "own history": {"roc_auc": 0.7, "average_precision": 0.3},
            },
        },
        "bag/lunch": {
            "n": 400,
            "base_rate": 0.2,
            "models": {
                "propensity model": {"roc_auc": 0.75, "average_precision": 0.5},
                "category popularity": {"roc_auc": 0.5, "average_precision": 0.2},
            },
        },
    },
    "mean": {
        "category popularity": {"roc_auc": 0.5, "average_precision": 0.15},
        "own history": {"roc_auc": 0.7, "average_precision": 0.3},
        "propensity model": {"roc_auc": 0.78, "average_precision": 0.46},
    },
    "train_cutoffs": ["2011-02-13", "2011-03-15"],
    "calibration_cutoff": "2011-03-15",
    "test_cutoff": "2011-08-12",
    "horizon_days": 120,
    "calibration_overlap_days": 90,
}


def test_propensity_section_per_category_against_baselines(inputs, predictions):
    predictions["propensity"] = copy.deepcopy(PROPENSITY)
    s = build_summary(**_valued(inputs), predictions=predictions)
    pr = s["predictions"]["propensity"]
    assert [c["category"] for c in pr["categories"]] == ["christmas/tree", "bag/lunch"]
    assert pr["model_beats_baselines"] is True
    html = render_html(s)
    section = html[html.index('id="propensity"') : html.index('id="next-purchase"')]
    assert "christmas/tree" in section and "0.810 / 0.420" in section
    # a baseline missing for one category shows as a dash, not a number
    bag = section[section.index("bag/lunch") :]
    assert "0.750 / 0.500" in bag and "—" in bag.split("</tr>")[0]
    assert "0.780 / 0.460" in section  # the mean row

    # the model losing to own history on average precision is flagged
    predictions["propensity"]["mean"]["propensity model"]["average_precision"] = 0.2
    s = build_summary(**_valued(inputs), predictions=predictions)
    assert s["predictions"]["propensity"]["model_beats_baselines"] is False
    assert "does not beat every baseline" in render_html(s)


def test_clv_ranking_and_p_alive_source_are_shown(inputs, predictions):
    predictions["clv_ranking"] = {
        "spearman": {
            "CLV (BTYD + spend model)": 0.5655,
            "BTYD CLV": 0.5311,
            "past net spend": 0.5553,
        },
        "n": 3218,
        "test_cutoff": "2011-08-12",
        "horizon_days": 120,
        "clv": "BTYD + spend model",
    }
    predictions["p_alive"] = {
        "model": "churn model",
        "reason": "no purchase model identifies dropout",
    }
    html = render_html(build_summary(**inputs, predictions=predictions))
    assert "120 days after 2011-08-12 (3,218 customers)" in html
    assert '<td>CLV (BTYD + spend model)</td><td class="n best">0.566</td>' in html
    assert '<td>past net spend</td><td class="n">0.555</td>' in html
    assert "the BG/NBD model's own figure is kept beside it" in html
    assert (
        "comes from the <strong>churn model</strong>, not the BG/NBD model: "
        "no purchase model identifies dropout." in html
    )
    # an evaluation stored before these checks renders without them
    del predictions["clv_ranking"], predictions["p_alive"]
    assert "Who will spend most" not in render_html(
        build_summary(**inputs, predictions=predictions)
    )
