"""How a run is shown: its segment table (stdout) and a summary line (stderr)."""

from __future__ import annotations

import pandas as pd
from rich.table import Table

from segmint import pipeline
from segmint.cli._output import err, out, print_json
from segmint.features import feature_label


def segment_table(result: pipeline.RunResult) -> Table:
    table = Table(
        title=f"Run {result.run_id}: {len(result.segments)} segments, "
        f"{result.n_customers:,} customers (as of {result.as_of:%Y-%m-%d})",
        title_justify="left",
    )
    table.add_column("id", justify="right")
    table.add_column("segment", style="bold")
    table.add_column("customers", justify="right")
    table.add_column("share", justify="right")
    # a run on customers alone measures value by their attributes (or not at all)
    table.add_column("value" if "value" in result.params else "revenue", justify="right")
    table.add_column("rule (fidelity)")
    # outcomes of a run on customers alone (e.g. churn): described per segment, not clustered
    outcomes = result.params.get("outcomes") or []
    for outcome in outcomes:
        table.add_column(feature_label(outcome), justify="right")
    scored = "clv" in result.segments.columns
    if scored:
        table.add_column("avg CLV", justify="right")
        table.add_column("churn risk", justify="right")
        table.add_column("flag")
    for seg in result.segments.itertuples():
        row = [
            str(seg.segment_id),
            seg.name,
            f"{seg.size:,}",
            f"{seg.share:.0%}",
            f"{seg.value_share:.0%}",
            f"{seg.rule} [dim]({seg.rule_fidelity:.0%})[/dim]",
        ]
        for outcome in outcomes:
            rate = seg.profile[outcome] if "profile" in seg._fields else getattr(seg, outcome)
            row.append(f"{rate:.0%}")
        if scored:
            row += [f"{seg.clv:,.0f}", f"{seg.churn_risk:.0%}", seg.value_flag]
        table.add_row(*row)
    return table


def micro_segment_table(result: pipeline.RunResult, micro: pd.DataFrame) -> Table:
    """Micro-segments by the segment most of their customers are in: a section per segment,
    largest first."""
    table = Table(
        title=f"Run {result.run_id}: {len(micro)} micro-segments, by the segment they centre "
        f"in (as of {result.as_of:%Y-%m-%d})",
        title_justify="left",
    )
    table.add_column("id", justify="right")
    table.add_column("micro-segment", style="bold")
    table.add_column("customers", justify="right")
    table.add_column("in segment", justify="right")
    table.add_column("revenue", justify="right")
    table.add_column("rule (fidelity)")
    previous = None
    for m in micro.itertuples():
        if previous is not None and m.segment_id != previous:
            table.add_section()
        previous = m.segment_id
        share = "" if pd.isna(m.value_share) else f"{m.value_share:.1%}"
        table.add_row(
            m.micro_segment_id,
            m.name,
            f"{m.size:,}",
            f"{m.segment_share:.0%}",
            share,
            f"{m.rule} [dim]({m.rule_fidelity:.0%})[/dim]",
        )
    return table


def show_run(result: pipeline.RunResult, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    out.print(segment_table(result))
    m = result.metrics
    err.print(
        f"{m['selection_criterion']}. Stability of the final segments (ARI over resamples): "
        f"{m['stability_ari']:.2f}",
        highlight=False,
    )
    if result.report_path:
        err.print(f"report: {result.report_path}", highlight=False)
