"""Outputs of a stored run: the HTML report and the exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from segmint.activate.markets import market_view
from segmint.consent.audit import local_actor, record
from segmint.consent.permitted import permitted
from segmint.consent.policy import load_policy
from segmint.consent.pseudonym import destination_key, pseudonym_sql
from segmint.errors import AudienceTooSmall, SegmintError
from segmint.pipeline._campaigns import load_campaigns
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
from segmint.store.settings import CURRENCY, get_setting
from segmint.store.workspace import Workspace


def _erased_since(con, created_at: str) -> int:
    """Customers erased after a run was made (0 in a workspace read before erasure existed)."""
    known = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'erased_customers'"
    ).fetchall()[0][0]
    if not known:
        return 0
    return con.execute(
        "SELECT count(*) FROM erased_customers WHERE erased_at > CAST(? AS TIMESTAMP)",
        [created_at],
    ).fetchall()[0][0]


def _market_summary(con, run: dict, min_audience: int) -> dict | None:
    """The report's market view by country (None when the run has no market to show)."""
    try:
        return market_view(con, run, min_audience=min_audience).to_dict()
    except SegmintError:
        return None


#: ``segmint evaluate`` stores its result with the latest run as "evaluation YYYY-MM-DD +Nd"
EVALUATION_PREFIX = "evaluation "


def run_summary(con, run_id: int | None = None) -> dict:
    """The report's summary of a run (the latest by default), read on ``con``: the HTML
    report and the dashboard show the same figures."""
    run = get_run(con, run_id)
    run["erased_since"] = _erased_since(con, run["created_at"])
    min_audience = load_policy(con).min_audience
    table = features_table(run["run_id"])
    columns = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    return build_summary(
        run=run,
        segments=flag_segments(load_segments(con, run["run_id"])),
        assignments=load_assignments(con, run["run_id"]),
        ingest=ingest_history(con),
        feature_labels=feature_labels(columns),
        predictions=load_model(con, run["run_id"], "predictions"),
        micro_segments=load_micro_segments(con, run["run_id"]),
        evaluations=load_models(con, run["run_id"], EVALUATION_PREFIX),
        min_audience=min_audience,
        markets=_market_summary(con, run, min_audience),
        campaigns=load_campaigns(con),
        currency=get_setting(con, CURRENCY),
    )


def write_report(
    workspace: Workspace, *, run_id: int | None = None, path: str | Path | None = None
) -> Path:
    """Write a run's self-contained HTML report; return its path."""
    with workspace.connect(read_only=True) as con:
        summary = run_summary(con, run_id)
    run = summary["run"]
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
    # `segmint recommend` stores them: one row per customer and recommended product
    "recommendations": (
        """SELECT r.customer_id, a.segment_id, r.rank, r.product_id, r.description, r.score
           FROM recommendations r
           LEFT JOIN assignments a USING (run_id, customer_id)
           WHERE r.run_id = ? ORDER BY r.customer_id, r.rank"""
    ),
}


#: exports of one row per customer (the others describe groups)
_PER_CUSTOMER = ("assignments", "recommendations")


@dataclass(frozen=True)
class ExportResult:
    """An export: where it went (None: returned as a frame), its rows, and what consent and
    the minimum audience size withheld."""

    what: str
    path: Path | None
    rows: int
    summary: dict
    frame: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"what": self.what, "path": str(self.path) if self.path else None, **self.summary}


def _prepare(
    con,
    workspace: Workspace,
    what: str,
    run_id: int | None,
    purpose: str,
    raw_ids: bool,
    destination: str,
) -> tuple[str, list, dict]:
    """The export's query and parameters, filtered by consent for ``purpose`` (per-customer
    rows) or by the minimum audience size (groups), and the summary of what was withheld."""
    if what not in EXPORTS:
        raise SegmintError(f"unknown export {what!r}; expected one of {', '.join(EXPORTS)}")
    run = get_run(con, run_id)
    ensure_micro_segments(con)
    inner = EXPORTS[what].format(features=features_table(run["run_id"]))
    perm = permitted(con, purpose, directory=workspace.path)
    if what not in _PER_CUSTOMER:
        total, kept = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE size >= ?) FROM ({inner})",
            [perm.min_audience, run["run_id"]],
        ).fetchall()[0]
        summary = perm.summary(selected=kept, withheld=0)
        summary["groups_under_min_audience"] = total - kept
        return (
            f"SELECT * FROM ({inner}) WHERE size >= ?",
            [run["run_id"], perm.min_audience],
            summary,
        )
    total, kept = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {perm.where()}) FROM ({inner})", [run["run_id"]]
    ).fetchall()[0]
    if kept < perm.min_audience:
        raise AudienceTooSmall(
            f"the {what} export for {purpose} would hold {kept} customers ({total - kept} "
            f"withheld by consent, regime {perm.regime}), under the minimum audience of "
            f"{perm.min_audience} (`segmint consent settings --min-audience`)"
        )
    if raw_ids:
        ids, id_params = "customer_id", []
    else:
        ids, id_params = pseudonym_sql(
            "customer_id", destination_key(con, workspace.path, destination)
        )
    summary = perm.summary(selected=kept, withheld=total - kept)
    summary["ids"] = "raw" if raw_ids else f"pseudonymised ({destination})"
    query = (
        f"SELECT {ids} AS customer_id, * EXCLUDE (customer_id) FROM ({inner}) WHERE {perm.where()}"
    )
    return query, [*id_params, run["run_id"]], summary


def export(
    workspace: Workspace,
    what: str,
    path: str | Path | None,
    *,
    fmt: str = "csv",
    run_id: int | None = None,
    purpose: str = "analytics",
    raw_ids: bool = False,
    destination: str = "export",
    actor: str | None = None,
) -> ExportResult:
    """Export a run's assignments, segment profiles or micro-segments for ``purpose``.

    Customers the purpose is not permitted for are left out and counted; customer ids are
    pseudonymised with ``destination``'s key unless ``raw_ids``; groups smaller than the
    minimum audience size are left out (and a per-customer export that small is refused).
    Written atomically to ``path``, or returned as a frame when ``path`` is None. The export
    is recorded in the audit log (who, what, purpose, rows).
    """
    with workspace.transaction() as con:
        query, params, summary = _prepare(
            con, workspace, what, run_id, purpose, raw_ids, destination
        )
        frame = None
        if path is None:
            frame = con.execute(query, params).df()
        else:
            export_query(con, query, params, path, fmt)
        rows = summary["selected"]
        record(
            con,
            workspace.path,
            actor=actor or local_actor(),
            action="export",
            purpose=purpose,
            target=f"{what} of run {get_run(con, run_id)['run_id']}"
            + (f" to {Path(path).name}" if path else ""),
            rows=rows,
            detail={k: v for k, v in summary.items() if k not in ("purpose",)},
        )
    return ExportResult(what, Path(path) if path else None, rows, summary, frame)


def export_frame(workspace: Workspace, what: str, **options) -> pd.DataFrame:
    """:func:`export` as a data frame (the CLI prints it as CSV); same options."""
    return export(workspace, what, None, **options).frame
