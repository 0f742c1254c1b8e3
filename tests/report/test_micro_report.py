"""The report's micro-segment tables and held-out evaluations: from summary to HTML, and end to
end after ``segmint evaluate`` and ``segmint report``."""

from __future__ import annotations

import re
from html import unescape

import pandas as pd
from typer.testing import CliRunner

from segmint import pipeline
from segmint.cli import app
from segmint.report import build_summary, render_html
from segmint.store.workspace import Workspace


def _micro(segments: pd.DataFrame, per_segment: int) -> pd.DataFrame:
    rows = []
    for seg in segments.itertuples():
        for m in range(per_segment):
            rows.append(
                {
                    "micro_segment_id": f"m{seg.segment_id * per_segment + m}",
                    "segment_id": seg.segment_id,
                    "name": f"Trait {m} of {seg.segment_id}",
                    "rule": f"x > {m}",
                    "size": 1000 - m,
                    "value_share": 0.001 * m,
                    "segment_share": 0.01,
                    "rule_fidelity": 0.9,
                }
            )
    return pd.DataFrame(rows)


def _evaluation(seg_value: float, seg_interest: float, micro_interest: float) -> dict:
    def rows(level, k, ours, baselines):
        names = ["RFM ladder", "k-means log RFM", "k-means log RFM + categories"]
        return [
            {
                "grouping": level,
                "level": level,
                "n_groups": k,
                "value_eta2": ours[0],
                "interest_eta2": ours[1],
            },
            *(
                {"grouping": n, "level": level, "n_groups": k, "value_eta2": v, "interest_eta2": i}
                for n, (v, i) in zip(names, baselines, strict=True)
            ),
        ]

    return {
        "cutoff": "2011-06-01T00:00:00",
        "horizon_days": 90,
        "n_customers": 3000,
        "n_buyers": 1800,
        "n_categories": 12,
        "groupings": rows(
            "ML segments", 9, (seg_value, seg_interest), [(0.20, 0.05), (0.24, 0.04), (0.15, 0.20)]
        )
        + rows(
            "micro-segments", 60, (0.30, micro_interest), [(0.25, 0.08), (0.28, 0.07), (0.22, 0.25)]
        ),
    }


def test_micro_segments_top_20_by_size_then_a_count(inputs):
    micro = _micro(inputs["segments"], 25)
    summary = build_summary(**inputs, micro_segments=micro)
    first = summary["micro_segments"]["segments"][0]
    assert summary["micro_segments"]["n_total"] == 25 * len(inputs["segments"])
    assert (first["n_total"], first["n_more"], len(first["rows"])) == (25, 5, 20)
    assert first["rows"][0]["name"] == f"Trait 0 of {first['segment_id']}"
    html = render_html(summary)
    assert 'id="micro"' in html and "+5 more" in html and "Trait 19 " in html
    assert "Trait 20 " not in html and 'href="#micro"' in html
    assert "centred here" in html and "In this segment" in html


def test_micro_segments_under_the_minimum_audience_are_counted_not_described(inputs):
    micro = _micro(inputs["segments"], 25)  # sizes 1000 down to 976 in each segment
    summary = build_summary(**inputs, micro_segments=micro, min_audience=990)
    ms = summary["micro_segments"]
    assert ms["n_total"] == 25 * len(inputs["segments"])
    assert ms["n_small"] == 14 * len(inputs["segments"])
    assert all(r["size"] >= 990 for seg in ms["segments"] for r in seg["rows"])
    text = unescape(re.sub(r"<[^>]+>", " ", render_html(summary)))
    assert "smaller than the minimum audience of 990 customers" in text
    assert "Trait 10 " in text and "Trait 11 " not in text and "Trait 24 " not in text


def test_evaluation_table_and_verdict(inputs):
    winning = _evaluation(0.235, 0.50, 0.40)  # 0.235 >= 0.95 * 0.24; 0.5 >= 2 * 0.05
    losing = _evaluation(0.18, 0.09, 0.20)  # 75% of the value; interest < 2x; micro loses
    summary = build_summary(
        **inputs,
        evaluations={"evaluation 2011-06-01 +90d": winning, "evaluation 2011-09-01 +90d": losing},
    )
    first, second = summary["evaluations"]
    assert first["verdict"]["passes"] is True and second["verdict"]["passes"] is False
    failed = [c["text"] for c in second["verdict"]["checks"] if not c["ok"]]
    assert any("75%" in t for t in failed) and any(
        "micro-segments explain less" in t for t in failed
    )
    seg_rows = first["levels"][0]["rows"]
    assert [r["best"] for r in seg_rows] == [["interest"], [], ["value"], []]
    html = render_html(summary)
    section = html[html.index('id="evaluation"') :]
    text = unescape(re.sub(r"<[^>]+>", " ", section))
    assert "Explains next-quarter spend" in text and "Explains next-quarter product mix" in text
    assert 'title="value: eta² of log(1 + net spend) across groups"' in unescape(section)
    assert "The segments beat the baselines by the criteria" in text
    assert "do not beat the baselines on every criterion" in text
    assert "RFM score ladder" in text and "k-means on log R/F/M + category shares" in text


def test_evaluate_then_report_shows_both_sections(tmp_path):
    ws = Workspace(tmp_path / "ws")
    pipeline.demo(ws, n_customers=1500)
    runner = CliRunner()
    done = runner.invoke(app, ["evaluate", "--cutoff", "2024-09-01", "-w", str(ws.path)])
    assert done.exit_code == 0, done.stderr
    assert "segmint report" in done.stderr
    done = runner.invoke(app, ["settings", "--currency", "gbp", "-w", str(ws.path)])
    assert done.exit_code == 0, done.stderr
    done = runner.invoke(app, ["report", "-w", str(ws.path)])
    assert done.exit_code == 0, done.stderr
    html = (ws.path / "reports" / "run-1.html").read_text()
    text = unescape(re.sub(r"<[^>]+>", " ", html))
    assert "GBP\u00a0" in text and "segmint settings --currency" not in text
    assert 'id="evaluation"' in html and "Cut-off 2024-09-01" in text
    assert 'id="micro"' in html and "tastes found across all customers" in text
    assert "{" not in text[text.index("Micro-segments") :].split("Feature profiles")[0]
