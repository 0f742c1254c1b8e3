"""``segmint lookalike``, ``segmint markets`` and ``segmint demand``: who to win next, where,
and what they will buy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from segmint import pipeline
from segmint.cli._options import JsonOpt, RunOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, err, out, print_json
from segmint.cli._output import fail as _fail
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace


def register(app: typer.Typer) -> None:
    """Add ``lookalike``, ``markets`` and ``demand`` to the main app."""
    app.command("lookalike")(lookalike)
    app.command("markets")(markets)
    app.command("demand")(demand)


def _num(value, digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:,.{digits}f}"


def _pct(value) -> str:
    return "-" if value is None or value != value else f"{value:+.0%}"


def lookalike(
    prospects: Annotated[
        Path, typer.Argument(help="Prospect file (CSV, Parquet, JSON lines, XLSX).")
    ],
    like: Annotated[
        str,
        typer.Option(
            "--like",
            help="The customers to find more of: a segment id or name, a micro-segment id, "
            "high-value or at-risk (these need segmint predict).",
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="CSV or Parquet file for the top prospects.")
    ],
    top: Annotated[
        str, typer.Option("--top", help="How many to keep: a percentage (10%) or a number.")
    ] = "10%",
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column",
            help="The prospects' id column (default: customer_id, prospect_id, id, user_id or "
            "email).",
        ),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option(
            "--drop",
            help="An attribute to leave out of the model (repeatable): one that defines the "
            "chosen customers, such as total spend, would leak them.",
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run_id: RunOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score prospects by how closely they resemble chosen customers; write the top ones.

    The model learns the chosen customers against the other customers on the features the
    prospect file also has: attributes (columns named like the customers' attributes), country,
    and browsing features where the file has columns named like the run's web features. It
    writes prospect_id, score (0..1, the calibrated probability of being like the chosen
    customers) and rank, atomically.

    Prospects are not customers: the consent ledger holds nothing for them, and no consent is
    checked for people it does not know. A prospect whose id is an existing customer is scored
    only when that customer is permitted for ads: erased and withdrawn customers are skipped.
    """
    try:
        result = pipeline.lookalike(
            Workspace(workspace),
            prospects,
            like,
            output=output,
            top=top,
            id_column=id_column,
            run_id=run_id,
            drop=tuple(drop or ()),
        )
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(result.to_dict())
        return
    err.print(
        f"{result.scored:,} prospects scored against {result.positives:,} of {result.customers:,} "
        f"customers ({result.like}); {result.skipped:,} skipped (known customers not permitted "
        f"for ads); top {result.written:,} written to {result.path}",
        highlight=False,
    )
    err.print(
        "features used: " + ", ".join(f"{k} ({v})" for k, v in result.columns_used.items()),
        highlight=False,
    )
    if result.columns_ignored:
        err.print("columns not used: " + ", ".join(result.columns_ignored), highlight=False)


def markets(
    by: Annotated[
        str, typer.Option("--by", help="country (default) or any customer attribute.")
    ] = "country",
    population: Annotated[
        Path | None,
        typer.Option(
            "--population",
            help="A file of market,population rows: adds customers per 1,000 people.",
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run_id: RunOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Markets per country (or attribute): customers, segment mix, value, growth, penetration,
    and where to expand first.

    expand score = mean percentile rank, over markets, of revenue per customer (365 days),
    revenue growth (90 days against the 90 before) and high-value share, and of low customers
    per 1,000 people when --population is given. Markets under the minimum audience are grouped
    as "other" and not ranked."""
    try:
        view = pipeline.markets(Workspace(workspace), by=by, run_id=run_id, population=population)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(view.to_dict())
        return
    table = Table(title=f"Markets by {view.by}, run {view.run_id} (as of {view.as_of})")
    for col in (
        "rank",
        "market",
        "customers",
        "share",
        "revenue 365d",
        "per customer",
        "growth 90d",
        "new 90d",
        "high value",
        "per 1,000",
        "expand",
    ):
        table.add_column(col, justify="left" if col == "market" else "right")
    for r in view.table.to_dict("records"):
        table.add_row(
            "-" if r["expand_score"] != r["expand_score"] else str(r["expand_rank"]),
            str(r["market"]),
            f"{r['customers']:,}",
            f"{r['share']:.1%}",
            _num(r["revenue_365d"]),
            _num(r["revenue_per_customer"]),
            _pct(r["revenue_growth"]),
            f"{r['new_customers_90d']:,} ({r['new_customers_prev_90d']:,})",
            f"{r['high_value_share']:.0%}",
            _num(r["customers_per_1000"], 2),
            _num(r["expand_score"], 2),
        )
    out.print(table)
    err.print(
        f"high value: customers {view.high_value}; markets under {view.min_audience} customers "
        "are grouped as other",
        highlight=False,
    )


def demand(
    weeks: Annotated[int, typer.Option("--weeks", help="Horizon in weeks (1 to 52).")] = 4,
    by: Annotated[
        str, typer.Option("--by", help="category (default) or segment (segment x category).")
    ] = "category",
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run_id: RunOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Expected orders per category (or per segment and category) over the next weeks after
    the run's as-of date, with a 90% interval, against the recent run rate.

    With predictions (segmint predict): customers' expected purchases spread by each
    segment's category mix, blended with the run rate; without: the run rate (said in the
    output)."""
    try:
        result = pipeline.demand(Workspace(workspace), weeks=weeks, by=by, run_id=run_id)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(
        title=f"Expected orders, next {result.weeks} weeks after {result.as_of:%Y-%m-%d} "
        f"(run {result.run_id})"
    )
    if result.by == "segment":
        table.add_column("segment")
    for col in ("category", "expected", "90% interval", "run rate 4w", "run rate 13w", "vs 13w"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for r in result.table.to_dict("records"):
        cells = [
            r["category"],
            _num(r["expected_orders"]),
            f"{_num(r['lower'])}-{_num(r['upper'])}",
            _num(r["run_rate_4w"]),
            _num(r["run_rate_13w"]),
            _pct(r["change_vs_run_rate"]),
        ]
        table.add_row(*([r["segment"]] if result.by == "segment" else []), *cells)
    out.print(table)
    err.print(f"method: {result.method}: {result.note}", highlight=False)
    if result.withheld_segments:
        err.print(
            f"{result.withheld_segments} segments under the minimum audience left out",
            highlight=False,
        )
