"""The flow diagram of customers moving between two runs' segments."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pandas as pd

from segmint.report import flow_chart, flows_from_comparison

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup) -> ET.Element:
    # the chart is inline SVG without a namespace declaration; give it one to parse
    return ET.fromstring(str(markup).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["from_segment", "to_segment", "customers"])


def _band_heights(root: ET.Element) -> list[float]:
    """Each band's width at its left end, from its path: the first and last y on the left."""
    heights = []
    for path in root.iter(f"{SVG}path"):
        numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", path.get("d"))]
        y_top, y_bottom = numbers[1], numbers[-1]
        heights.append(y_bottom - y_top)
    return heights


def test_bands_are_as_wide_as_the_customers_who_moved():
    frame = _frame(
        [
            ("Loyal big spenders of seasonal gifts", "Loyal big spenders of seasonal gifts", 600),
            ("Loyal big spenders of seasonal gifts", "Lapsed", 300),
            ("New", "Lapsed", 100),
        ]
    )
    flows = flows_from_comparison(frame)
    assert flows[0] == {
        "from": "Loyal big spenders of seasonal gifts",
        "to": "Loyal big spenders of seasonal gifts",
        "customers": 600,
    }
    root = _parse(flow_chart(flows, title="Run 1 to run 2"))
    heights = _band_heights(root)
    assert len(heights) == 3
    by_size = dict(zip((600, 300, 100), sorted(heights, reverse=True), strict=True))
    assert abs(by_size[600] - 2 * by_size[300]) < 1.0
    assert abs(by_size[300] - 3 * by_size[100]) < 1.0
    texts = [t.text for t in root.iter(f"{SVG}text")]
    # labels whole, with their counts: the long name is never cut
    assert "Loyal big spenders of seasonal gifts (900)" in texts
    assert "Loyal big spenders of seasonal gifts (600)" in texts
    assert "Lapsed (400)" in texts and "New (100)" in texts
    desc = root.find(f"{SVG}desc").text
    assert "1,000 customers" in desc and "60.0%" in desc
    tips = [t.text for p in root.iter(f"{SVG}path") for t in p.iter(f"{SVG}title")]
    assert "300 customers from Loyal big spenders of seasonal gifts to Lapsed" in tips


def test_tiny_flows_stay_visible_and_counted():
    frame = _frame([("A", "A", 100_000), ("A", "B", 1), ("B", "B", 50_000)])
    root = _parse(flow_chart(flows_from_comparison(frame), title="t"))
    assert min(_band_heights(root)) >= 1.0
    assert "150,001 customers" in root.find(f"{SVG}desc").text


def test_disjoint_runs_and_a_single_segment():
    # no customer in both runs: everyone is "gone" from one side and "new" on the other
    frame = _frame([("A", "(not in run 2)", 40), ("(not in run 1)", "B", 60)])
    root = _parse(flow_chart(flows_from_comparison(frame), title="t"))
    assert len(_band_heights(root)) == 2
    assert "0.0%" in root.find(f"{SVG}desc").text
    one = _parse(flow_chart(flows_from_comparison(_frame([("A", "A", 5)])), title="t"))
    assert len(_band_heights(one)) == 1 and "100.0%" in one.find(f"{SVG}desc").text
    empty = _parse(flow_chart([], title="nothing to compare"))
    assert _band_heights(empty) == []
