"""The HTML report: summarise a run's stored tables -> plain dict -> Jinja -> one HTML file.

Three stages that can be used and tested on their own (the pattern of skrub's TableReport):

- :func:`build_summary` turns the run record, segments, assignments and ingest counts into a
  plain, JSON-able dict (:func:`summary_to_json` writes it out);
- :func:`render_html` renders that dict as a self-contained page (inline CSS and SVG charts,
  nothing fetched from the network);
- :func:`write_report` renders and writes the page atomically.
"""

from __future__ import annotations

from ._campaigns import campaigns_section
from ._charts import sizes_chart
from ._flow import flow_chart, flows_from_comparison
from ._format import fmt_plain
from ._html import configure_environment, render_html, summary_to_json, write_report
from ._summarize import PALETTE, SUMMARY_SCHEMA_VERSION, build_summary

__all__ = [
    "PALETTE",
    "SUMMARY_SCHEMA_VERSION",
    "build_summary",
    "campaigns_section",
    "configure_environment",
    "flow_chart",
    "flows_from_comparison",
    "fmt_plain",
    "render_html",
    "sizes_chart",
    "summary_to_json",
    "write_report",
]
