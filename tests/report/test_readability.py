"""The report reads without a statistician: plain labels with the technical term on hover,
money in the workspace's currency, shares as percentages, readable and untruncated charts,
run details as a table, and one name for the purchase model."""

from __future__ import annotations

import copy
import json
import re
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from segmint.report import build_summary, render_html

EVAL = json.loads((Path(__file__).parent / "predictions_eval.json").read_text(encoding="utf-8"))


def _text(html: str) -> str:
    """The visible text: tags (and so their attributes, titles included) removed."""
    html = re.sub(r"<(style|title)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"[ \t\n]+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


# --------------------------------------------------------------------------- currency
def test_workspace_currency_wins_over_run_params(inputs):
    inputs["run"]["params"]["currency"] = "USD"
    assert build_summary(**inputs)["run"]["currency"] == "USD"
    assert build_summary(**inputs, currency="EUR")["run"]["currency"] == "EUR"


def test_money_in_the_report_carries_the_code(inputs):
    html = render_html(build_summary(**inputs, currency="EUR"))
    text = _text(html)
    spend = re.search(r"Spend per customer\s+(\S+)\s(\S+)", text)
    assert spend and spend[1] == "EUR", text[:2000]
    assert "segmint settings --currency" not in text
    # every amount in the segment table carries the code
    table = html[html.index('<table class="data">') :].split("</table>")[0]
    assert table.count("EUR\u00a0") == len(inputs["segments"])


def test_without_a_currency_the_report_says_once_how_to_set_it(inputs):
    html = render_html(build_summary(**inputs))
    text = _text(html)
    assert text.count("segmint settings --currency EUR") == 1
    assert "EUR\u00a0" not in html


# --------------------------------------------------------------------------- plain words
def _full(inputs, make_micro=True):
    """The fixture run with every section: predictions, micro-segments, an evaluation."""
    segs = inputs["segments"]
    segs["clv"] = [120.0, 900.0, 200.0]
    segs["churn_risk"] = [0.2, 0.6, 0.3]
    predictions = copy.deepcopy(EVAL)
    predictions["clv_ranking"] = {
        "spearman": {"CLV (BTYD + spend model)": 0.56, "past net spend": 0.55},
        "n": 100,
        "test_cutoff": "2011-08-12",
        "horizon_days": 120,
        "clv": "BTYD + spend model",
    }
    predictions["p_alive"] = {"model": "BG/NBD", "reason": "the purchase model"}
    micro = pd.DataFrame(
        {
            "micro_segment_id": ["m0", "m1"],
            "segment_id": [0, 1],
            "name": ["Weekend shoppers", "Mobile shoppers"],
            "rule": ["weekend_share > 0.5", "mobile_share > 0.7"],
            "size": [60, 40],
            "value_share": [0.2, 0.05],
            "segment_share": [0.6, 0.4],
            "rule_fidelity": [0.9, 0.8],
        }
    )
    return build_summary(**inputs, predictions=predictions, micro_segments=micro, currency="EUR")


JARGON = [r"\bsd\b", r"silhouette", r"\bARI\b", "η²", r"eta²", "Spearman", "ROC-AUC", "Brier"]
JARGON += [r"calibration error", r"fidelity"]


def test_no_jargon_outside_hover_titles(inputs):
    text = _text(render_html(_full(inputs)))
    for pattern in JARGON:
        found = re.findall(rf".{{0,40}}{pattern}.{{0,40}}", text, flags=re.I)
        assert not found, (pattern, found)


def test_every_abbr_has_a_title_and_is_focusable(inputs):
    html = render_html(_full(inputs))
    abbrs = re.findall(r"<abbr\b[^>]*>", html)
    assert len(abbrs) > 10
    for tag in abbrs:
        assert re.search(r'title="[^"]+: [^"]+"', tag), tag
        assert 'tabindex="0"' in tag, tag
    assert 'title="Silhouette score: ' in html and 'title="Adjusted Rand index (ARI): ' in html


def test_raw_model_parameters_are_collapsed_for_analysts(inputs):
    html = render_html(_full(inputs))
    details = html[html.index('<details class="analysts">') :].split("</details>")[0]
    assert "Model parameters (for analysts)" in details and "Std. error" in details
    assert html.count("Std. error") == 1


def test_no_share_is_printed_as_a_fraction(inputs):
    inputs["run"]["metrics"]["noise_share"] = 0.812
    inputs["assignments"]["return_rate"] = 0.1
    html = render_html(_full(inputs))
    text = _text(html)
    assert "81.2%" in text and "0.812" not in text
    # the heatmap's "share of spend returned" (return_rate) is shown as percentages
    hm = _heatmap(html)
    rate = next(f for f in _full(inputs)["heatmap"]["features"] if f["feature"] == "return_rate")
    assert rate["is_share"]
    assert f"{rate['means'][0] * 100:.1f}%" in hm


def test_model_is_named_once_from_the_chosen_field(inputs):
    summary = _full(inputs)
    lv = summary["predictions"]["lifetime_value"]
    assert lv["model"] == "BG/NBD"
    text = _text(render_html(summary))
    assert "Pareto/NBD" not in text
    assert "comes from the same BG/NBD model" in text


def test_run_details_is_a_table_of_readable_values(inputs):
    html = render_html(_full(inputs))
    details = html[html.index('id="details"') :].split("</section>")[0]
    assert "<table" in details
    text = _text(details)
    assert "K range" in text and "2 to 8" in text
    assert "[" not in text and "{" not in text


def test_micro_segments_listed_with_name_size_and_rule(inputs):
    html = render_html(_full(inputs))
    section = html[html.index('id="micro"') :].split("</section>")[0]
    for name, size, rule in (("Weekend", "60", "weekend_share &gt; 0.5"), ("Mobile", "40", "")):
        assert name in section and f'<td class="n">{size}</td>' in section
        assert rule in section


# --------------------------------------------------------------------------- charts
def _heatmap(html: str) -> str:
    return re.search(r'<svg class="chart heatmap".*?</svg>', html, flags=re.S)[0]


def _css_sizes(css: str, selector_part: str) -> list[float]:
    sizes = []
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        if selector_part in selectors:
            sizes += [float(v) for v in re.findall(r"font-size:\s*([\d.]+)px", body)]
    return sizes


def test_chart_text_is_at_least_12px():
    css = (Path(__file__).parents[2] / "src/segmint/report/templates/report.css").read_text()
    sizes = _css_sizes(css, "svg.chart")
    assert sizes and min(sizes) >= 12, sizes


@pytest.mark.parametrize("score", [i / 20 for i in range(-20, 21)])
def test_every_heatmap_colour_carries_aa_text(score):
    from segmint.report._charts import _diverging
    from segmint.report._svg import _INK, _text_on, contrast

    fill = _diverging(score)
    assert contrast("#ffffff" if _text_on(fill) else _INK, fill) >= 4.5, (score, fill)


def test_heatmap_colours_are_neutral_and_text_contrast_is_aa(inputs):
    from segmint.report._svg import contrast

    html = render_html(_full(inputs))
    hm = _heatmap(html)
    cells = re.findall(
        r'<rect [^>]*fill="(#[0-9a-f]{6})"><title>.*?</title></rect><text [^>]*class="(cell[^"]*)"',
        hm,
    )
    assert cells
    for fill, cls in cells:
        r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
        assert not (r > g + 40 and r > b + 40), f"red-ish heatmap cell {fill}"
        ink = "#ffffff" if "dark" in cls else "#1f2937"
        assert contrast(ink, fill) >= 4.5, (fill, cls)


def test_long_segment_name_is_never_cut(inputs):
    long = "Weekend family shoppers who buy garden furniture every spring"
    inputs["segments"].loc[0, "name"] = long
    inputs["segments"]["clv"] = [900.0, 120.0, 200.0]
    inputs["segments"]["churn_risk"] = [0.6, 0.2, 0.3]
    html = render_html(build_summary(**inputs))
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert "\u2026" not in "".join(svgs)
    for cls in ("sizes", "heatmap", "value-risk"):
        svg = next(x for x in svgs if f'class="chart {cls}"' in x)
        texts = [
            " ".join(re.findall(r">([^<]+)<", t)) for t in re.findall(r"<text\b.*?</text>", svg)
        ]
        assert any(long in t for t in texts), cls
