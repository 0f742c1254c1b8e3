"""The report reads without a statistician: plain labels with the technical term on hover,
money in the workspace's currency, shares as percentages, readable and untruncated charts,
run details as a table, and one name for the purchase model."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

from segmint.report import build_summary, render_html

EVAL = json.loads((Path(__file__).parent / "predictions_eval.json").read_text(encoding="utf-8"))


def _text(html: str) -> str:
    """The visible text: tags (and so their attributes, titles included) removed."""
    html = re.sub(r"<(style|title)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


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
