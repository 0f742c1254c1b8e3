"""Outputs of a stored run: the HTML report and the exports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segmint.errors import SegmintError
from segmint.pipeline._features import feature_labels
from segmint.pipeline._runs import flag_segments
from segmint.report import build_summary
from segmint.report import write_report as render_report
from segmint.store.exports import export_query
from segmint.store.ingest import ingest_history
from segmint.store.runs import (
    ensure_micro_segments,
    features_table,
    get_run,
    load_assignments,
    load_micro_segments,
    load_model,
    load_models,
    load_segments,
)
from segmint.store.workspace import Workspace

#: ``segmint evaluate`` stores its result with the latest run as "evaluation YYYY-MM-DD +Nd"
EVALUATION_PREFIX = "evaluation "


def write_report(
    workspace: Workspace, *, run_id: int | None = None, path: str | Path | None = None
) -> Path:
    """Write a run's self-contained HTML report; return its path."""
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        segments = load_segments(con, run["run_id"])
        assignments = load_assignments(con, run["run_id"])
        ingests = ingest_history(con)
        predictions = load_model(con, run["run_id"], "predictions")
        micro = load_micro_segments(con, run["run_id"])
        evaluations = load_models(con, run["run_id"], EVALUATION_PREFIX)
        table = features_table(run["run_id"])
        columns = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    summary = build_summary(
        run=run,
        segments=flag_segments(segments),
        assignments=assignments,
        ingest=ingests,
        feature_labels=feature_labels(columns),
        predictions=predictions,
        micro_segments=micro,
        evaluations=evaluations,
    )
    target = Path(path) if path else workspace.path / "reports" / f"run-{run['run_id']}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    return render_report(summary, target)


EXPORTS = {
    "assignments": (
        """SELECT a.customer_id, a.segment_id, s.name AS segment, a.micro_segment_id,
                  m.name AS micro_segment,
                  a.confidence, a.r_score, a.f_score, a.m_score, a.rfm_group,
                  r.as_of, p.* EXCLUDE (run_id, customer_id), f.* EXCLUDE (customer_id)
           FROM assignments a
           JOIN segments s USING (run_id, segment_id)
           LEFT JOIN micro_segments m USING (run_id, micro_segment_id)
           JOIN runs r USING (run_id)
           JOIN {features} f USING (customer_id)
           LEFT JOIN predictions p USING (run_id, customer_id)
           WHERE a.run_id = ? ORDER BY a.customer_id"""
    ),
    "profiles": (
        """SELECT s.segment_id, s.name, s.rule, s.size, s.value_share, r.as_of,
                  s.profile
           FROM segments s JOIN runs r USING (run_id)
           WHERE s.run_id = ? ORDER BY s.segment_id"""
    ),
    "micro-segments": (
        """SELECT m.segment_id, s.name AS segment, m.micro_segment_id, m.name, m.rule, m.size,
                  m.value_share, r.as_of, m.profile
           FROM micro_segments m JOIN segments s USING (run_id, segment_id)
           JOIN runs r USING (run_id)
           WHERE m.run_id = ? ORDER BY m.segment_id, m.size DESC, m.micro_segment_id"""
    ),
}


def _export_query(con, what: str, run_id: int | None) -> tuple[str, int]:
    if what not in EXPORTS:
        raise SegmintError(f"unknown export {what!r}; expected one of {', '.join(EXPORTS)}")
    run = get_run(con, run_id)
    ensure_micro_segments(con)
    return EXPORTS[what].format(features=features_table(run["run_id"])), run["run_id"]


def export(
    workspace: Workspace,
    what: str,
    path: str | Path,
    *,
    fmt: str = "csv",
    run_id: int | None = None,
) -> Path:
    """Write a run's assignments, segment profiles or micro-segments to a file (atomically);
    return its path."""
    with workspace.connect(read_only=True) as con:
        query, run_id = _export_query(con, what, run_id)
        return export_query(con, query, [run_id], path, fmt)


def export_frame(workspace: Workspace, what: str, *, run_id: int | None = None) -> pd.DataFrame:
    """A run's assignments, segment profiles or micro-segments as a data frame (the CLI prints
    it as CSV)."""
    with workspace.connect(read_only=True) as con:
        query, run_id = _export_query(con, what, run_id)
        return con.execute(query, [run_id]).df()
