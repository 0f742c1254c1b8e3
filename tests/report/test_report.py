"""The HTML report: summary dict, rendering, self-containment, escaping and atomic writes."""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pytest

from segmint.errors import DataValidationError
from segmint.report import build_summary, render_html, summary_to_json, write_report

SUMMARY_KEYS = {
    "schema_version",
    "segmint_version",
    "run",
    "key_figures",
    "segments",
    "heatmap",
    "customer_map",
    "rfm",
    "model_selection",
    "comparison",
    "data_quality",
    "value_risk",
    "predictions",
    "micro_segments",
    "evaluations",
    "markets",
    "campaigns",
}


def _n_svg(html: str) -> int:
    return len(re.findall(r"<svg\b", html))


def _external_refs(html: str) -> list[str]:
    """src/href attributes and CSS url()/@import pointing anywhere but into the page itself."""
    refs = re.findall(r"""\b(?:src|href|xlink:href)\s*=\s*["']?([^"'\s>]+)""", html, re.I)
    refs += re.findall(r"""url\(\s*["']?([^"')]+)""", html, re.I)
    refs += re.findall(r"""@import\s+["']?([^"';]+)""", html, re.I)
    return [r for r in refs if not r.startswith("#")]


# --------------------------------------------------------------------------- summary
def test_summary_has_documented_keys_and_is_strict_json(inputs):
    summary = build_summary(**inputs)
    assert set(summary) == SUMMARY_KEYS
    text = summary_to_json(summary)  # allow_nan=False: raises on NaN/inf
    assert json.loads(text) == summary


def test_summary_hand_checked_numbers():
    segments = pd.DataFrame(
        {
            "segment_id": [1, 0],
            "name": ["Big", "Small"],
            "size": [3, 1],
            "share": [0.75, 0.25],
            "value_share": [0.5, 0.5],
            "profile": [{"frequency": 4.0}, {"frequency": 1.0}],
        }
    )
    assignments = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "segment_id": [1, 1, 1, 0],
            "monetary": [10.0, 20.0, 30.0, 60.0],
            "r_score": [5, 5, 1, 3],
            "f_score": [1, 1, 2, 3],
            "rfm_group": ["Champions", "Champions", "Lost", "Loyal"],
        }
    )
    s = build_summary(run={"run_id": 3}, segments=segments, assignments=assignments)
    assert [seg["segment_id"] for seg in s["segments"]] == [0, 1]  # ordered by id
    small, big = s["segments"]
    assert small["value_index"] == pytest.approx(2.0)
    assert big["avg_monetary"] == pytest.approx(20.0)
    assert small["color"] != big["color"]
    kf = s["key_figures"]
    assert kf["total_revenue"] == 120.0
    assert kf["top20_revenue_share"] == pytest.approx(0.5)  # top 1 of 4 customers: 60 / 120
    assert kf["most_valuable_segment"]["name"] in {"Big", "Small"}
    # population mean of frequency = (3 * 4 + 1 * 1) / 4 = 3.25
    (freq,) = s["heatmap"]["features"]
    assert freq["population_mean"] == pytest.approx(3.25)
    assert freq["lifts"] == pytest.approx([1 / 3.25, 4 / 3.25])
    grid = s["rfm"]["grid"]
    assert grid["counts"][4][0] == 2  # R=5, F=1
    assert grid["avg_monetary"][4][0] == pytest.approx(15.0)
    assert sum(map(sum, grid["counts"])) == 4
    groups = {g["group"]: g for g in s["rfm"]["groups"]}
    assert groups["Champions"]["count"] == 2
    assert groups["Loyal"]["value_share"] == pytest.approx(0.5)


def test_missing_required_column_is_reported():
    with pytest.raises(DataValidationError, match=r"^segments: missing column\(s\) size;"):
        build_summary(
            run={},
            segments=pd.DataFrame({"segment_id": [0], "name": ["x"]}),
            assignments=pd.DataFrame({"customer_id": ["a"], "segment_id": [0]}),
        )


def test_nan_values_become_null(inputs):
    inputs["segments"].loc[0, "rule_fidelity"] = float("nan")
    inputs["assignments"].loc[0, "map_x"] = float("nan")
    s = build_summary(**inputs)
    assert s["segments"][0]["rule_fidelity"] is None
    assert s["customer_map"]["n_total"] == len(inputs["assignments"]) - 1
    summary_to_json(s)


def test_map_is_sampled_but_keeps_every_segment(make):
    kwargs = make(n_customers=5000, n_segments=4)
    # a tiny segment must survive sampling
    kwargs["assignments"].loc[:9, "segment_id"] = 3
    cmap = build_summary(**kwargs)["customer_map"]
    assert cmap["n_total"] == 5000
    assert cmap["n_shown"] <= 3000
    assert set(cmap["segment_id"]) == {0, 1, 2, 3}
    assert all(0 <= v <= 1 for v in cmap["x"] + cmap["y"])


# --------------------------------------------------------------------------- HTML
def test_html_is_self_contained(inputs):
    html = render_html(build_summary(**inputs))
    assert html.startswith("<!DOCTYPE html>")
    assert _external_refs(html) == []
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "<img" not in html.lower()
    assert "http://" not in html and "https://" not in html


def test_html_shows_every_segment(inputs):
    html = render_html(build_summary(**inputs))
    for seg in inputs["segments"].to_dict("records"):
        for key in ("name", "rule", "description"):
            # compare with the escaped form: rules contain >= and names contain &
            escaped = seg[key].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            assert escaped in html, (key, seg[key])
    # sizes, heatmap, map, RFM grid, model selection, eta^2 comparison
    assert _n_svg(html) == 6
    assert "Data quality" in html and "missing customer_id" in html


def test_malicious_strings_are_escaped(inputs):
    evil = "<script>alert(1)</script>"
    inputs["segments"].loc[0, "name"] = evil
    inputs["segments"].loc[1, "description"] = '"><img src=x onerror=alert(2)>'
    inputs["assignments"].loc[:5, "rfm_group"] = evil
    inputs["ingest"][0]["source"] = evil
    inputs["ingest"][0]["rejected"][evil] = 3
    inputs["feature_labels"]["frequency"] = evil
    inputs["run"]["params"]["note"] = evil
    html = render_html(build_summary(**inputs))
    assert evil not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_minimal_inputs_still_render(inputs):
    run = {"run_id": 1, "metrics": {"n_customers": 300, "n_segments": 3}}
    segments = inputs["segments"][["segment_id", "name", "size"]]
    assignments = inputs["assignments"][["customer_id", "segment_id"]]
    summary = build_summary(run=run, segments=segments, assignments=assignments)
    for key in ("heatmap", "customer_map", "rfm", "model_selection", "comparison", "data_quality"):
        assert summary[key] is None, key
    html = render_html(summary)
    assert _n_svg(html) == 1  # only the sizes chart
    assert "Data quality" not in html
    assert "How the number of segments was chosen" not in html


def test_no_ingest_and_no_selection_still_render(inputs):
    del inputs["run"]["metrics"]["selection"]
    del inputs["run"]["metrics"]["rfm_eta2"]
    inputs["ingest"] = None
    html = render_html(build_summary(**inputs))
    assert _n_svg(html) == 4
    assert "Data quality" not in html
    assert "How stable the segments are" in html  # the ARI is still reported


def test_optional_prediction_columns_are_shown(inputs):
    inputs["segments"]["clv"] = [120.0, 340.0, float("nan")]
    inputs["segments"]["churn_risk"] = [0.1, 0.25, 0.6]
    html = render_html(build_summary(**inputs))
    assert "Avg expected future spend" in html and "churn risk" in html.lower()
    assert "25%" in html


def test_render_is_deterministic_and_works_from_json(inputs):
    summary = build_summary(**inputs)
    assert render_html(summary) == render_html(json.loads(summary_to_json(summary)))


def test_render_rejects_non_summary():
    with pytest.raises(ValueError, match="missing section"):
        render_html({"run": {}})


# --------------------------------------------------------------------------- writing
def test_write_report_writes_and_leaves_no_temp_file(inputs, tmp_path):
    target = tmp_path / "report.html"
    out = write_report(build_summary(**inputs), target)
    assert out == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_failed_render_keeps_existing_report(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")
    with pytest.raises(ValueError):
        write_report({"run": None}, target)
    assert target.read_text(encoding="utf-8") == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_failed_replace_keeps_existing_report(inputs, tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(build_summary(**inputs), target)
    assert target.read_text(encoding="utf-8") == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_report_for_5000_customers_stays_small(make, tmp_path):
    target = write_report(
        build_summary(**make(n_customers=5000, n_segments=6)), tmp_path / "r.html"
    )
    size = target.stat().st_size
    assert size < 250_000, size
