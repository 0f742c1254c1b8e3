"""Commands: demo, run, report, export, runs (list, show, compare)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from segmint import __version__, pipeline
from segmint.cli import serve as serve_commands
from segmint.cli._output import (
    DEFAULT_WORKSPACE,
    WorkspaceOpt,
    err,
    out,
    print_json,
    progress_bar,
)
from segmint.cli._output import fail as _fail
from segmint.errors import SegmintError
from segmint.io.layout import resolve_layout
from segmint.schema import CUSTOMER_FIELDS, PRESETS, TRANSACTION_FIELDS
from segmint.store.exports import EXPORT_FORMATS
from segmint.store.workspace import Workspace

app = typer.Typer(
    name="segmint",
    help="Customer segmentation: your transactions in, named and explained segments out.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
runs_app = typer.Typer(
    help="List, inspect and compare the runs stored in a workspace.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
serve_commands.register(app)

RunOpt = Annotated[
    int | None, typer.Option("--run", "-r", help="Run id (default: the latest run).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
SegmentsOpt = Annotated[
    int | None,
    typer.Option(
        "--segments",
        "-k",
        min=2,
        max=30,
        help="Number of segments (default: chosen automatically).",
    ),
]
MethodOpt = Annotated[str, typer.Option("--method", help="Clustering: kmeans, minibatch or gmm.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; same seed, same segments.")]
ReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--report", help="Where to write the HTML report (default: WORKSPACE/reports/run-N.html)."
    ),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"segmint {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Customer segmentation: your transactions in, named and explained segments out.

    Start with [bold]segmint demo[/bold], or [bold]segmint run --transactions FILE[/bold].
    """


def _print_ingest(results: list[pipeline.IngestResult]) -> None:
    for r in results:
        line = (
            f"[bold]{r.kind}[/bold] {r.source}: {r.rows_read:,} rows read, {r.rows_loaded:,} stored"
        )
        if r.rows_duplicate:
            line += f", {r.rows_duplicate:,} already in the workspace"
        err.print(line, highlight=False)
        for reason, n in sorted(r.rejected.items()):
            example = r.examples.get(reason, "")
            err.print(
                f"  [yellow]skipped {n:,}[/yellow]: {pipeline.REJECT_REASONS[reason]} "
                f"(first at {example})",
                highlight=False,
            )


def _segment_table(result: pipeline.RunResult) -> Table:
    table = Table(
        title=f"Run {result.run_id}: {len(result.segments)} segments, "
        f"{result.n_customers:,} customers (as of {result.as_of:%Y-%m-%d})",
        title_justify="left",
    )
    table.add_column("id", justify="right")
    table.add_column("segment", style="bold")
    table.add_column("customers", justify="right")
    table.add_column("share", justify="right")
    table.add_column("revenue", justify="right")
    table.add_column("rule (fidelity)")
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
        if scored:
            row += [f"{seg.clv:,.0f}", f"{seg.churn_risk:.0%}", seg.value_flag]
        table.add_row(*row)
    return table


def _show_run(result: pipeline.RunResult, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    out.print(_segment_table(result))
    m = result.metrics
    err.print(
        f"{m['selection_criterion']}. Stability of the final segments (ARI over resamples): "
        f"{m['stability_ari']:.2f}",
        highlight=False,
    )
    if result.report_path:
        err.print(f"report: {result.report_path}", highlight=False)


@app.command()
def demo(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    customers: Annotated[
        int, typer.Option("--customers", "-n", min=50, help="Synthetic customers to generate.")
    ] = 5000,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Generate synthetic customers with planted segments and run the whole pipeline on them.

    Writes the data files, the workspace and the HTML report under WORKSPACE.
    """
    try:
        with progress_bar(quiet or as_json) as progress:
            result = pipeline.demo(
                Workspace(workspace), n_customers=customers, seed=seed, progress=progress
            )
    except SegmintError as exc:
        raise _fail(exc) from None
    _show_run(result, as_json)
    if not as_json and result.metrics.get("planted_ari") is not None:
        err.print(
            f"agreement with the planted segments (adjusted Rand index): "
            f"{result.metrics['planted_ari']:.2f}",
            highlight=False,
        )


@app.command()
def run(
    transactions: Annotated[
        Path,
        typer.Option(
            "--transactions",
            "-t",
            help=(
                "Transactions file: delimited text (.csv, .tsv, .txt, optionally .gz), Parquet, "
                "JSON lines or XLSX. A text file's last line cut short (interrupted download) "
                "is skipped and counted; its complete rows load."
            ),
        ),
    ],
    customers: Annotated[
        Path | None,
        typer.Option(
            "--customers",
            "-c",
            help=("Optional customer attributes file (customer id + any columns)."),
        ),
    ] = None,
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            "-p",
            help=(
                "Column layout: "
                + ", ".join(f"[bold]{k}[/bold] ({v.description})" for k, v in PRESETS.items())
            ),
        ),
    ] = "generic",
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            "-m",
            help=(
                "Map a column of the transactions file onto a field, COLUMN=FIELD (repeatable), "
                "e.g. --map Invoice=order_id. Fields: " + ", ".join(TRANSACTION_FIELDS) + "."
            ),
        ),
    ] = None,
    customers_map: Annotated[
        list[str] | None,
        typer.Option(
            "--customers-map",
            help=(
                "Map a column of the customers file onto a field, COLUMN=FIELD (repeatable), "
                "e.g. --customers-map Client=customer_id. Fields: "
                + ", ".join(CUSTOMER_FIELDS)
                + "; other columns are kept as attributes. --map applies to the transactions "
                "file only."
            ),
        ),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(
            "--delimiter",
            help=(
                "Column delimiter of text files, for both files: , ; tab (or \\t) | or whitespace "
                "(runs of spaces and tabs). Default: sniffed from each file's first lines."
            ),
        ),
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of text files (utf-8, latin-1, utf-16, ...).")
    ] = "utf-8",
    date_format: Annotated[
        str | None,
        typer.Option(
            help=("strptime format of the dates, if not ISO 8601 (e.g. '%d/%m/%Y %H:%M').")
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help=(
                "Analyse as of this date (YYYY-MM-DD); later transactions are ignored. "
                "Default: the day after the last transaction."
            ),
        ),
    ] = None,
    segments: SegmentsOpt = None,
    method: MethodOpt = "kmeans",
    seed: SeedOpt = 0,
    report: ReportOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Ingest your files and find named, explained segments (writes a new run and its report).

    Rows without a customer id or with unparseable dates or prices are skipped and counted;
    re-ingesting a file adds nothing twice. On any error the workspace is left as it was.
    """
    try:
        # options are checked before any data is read: a typo leaves the workspace untouched
        layout, delimiter = resolve_layout(
            preset, mapping=map_ or [], customers_mapping=customers_map or [], delimiter=delimiter
        )
        ws = Workspace(workspace)
        with progress_bar(quiet or as_json) as progress:
            results = pipeline.ingest(
                ws,
                transactions,
                customers=customers,
                preset=layout,
                delimiter=delimiter,
                encoding=encoding,
                date_format=date_format,
                progress=progress,
            )
            if not as_json:
                _print_ingest(results)
            result = pipeline.segment(
                ws,
                as_of=pipeline.parse_date(as_of) if as_of else None,
                n_segments=segments,
                method=method,
                random_state=seed,
                report_path=report,
                progress=progress,
            )
    except SegmintError as exc:
        raise _fail(exc) from None
    _show_run(result, as_json)


@app.command()
def report(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run_id: RunOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help=("HTML file to write (default: WORKSPACE/reports/run-N.html).")
        ),
    ] = None,
) -> None:
    """Write the self-contained HTML report of a run (opens offline)."""
    try:
        path = pipeline.write_report(Workspace(workspace), run_id=run_id, path=output)
    except SegmintError as exc:
        raise _fail(exc) from None
    err.print(f"report written: {path}", highlight=False)


@app.command()
def export(
    what: Annotated[
        str,
        typer.Argument(
            help="assignments (one row per customer) or profiles (one row per segment)."
        ),
    ] = "assignments",
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run_id: RunOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help=("File to write; '-' or omitted with CSV writes to stdout.")
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help=(f"One of {', '.join(EXPORT_FORMATS)} (default: from the file name, else csv)."),
        ),
    ] = "",
) -> None:
    """Export a run's assignments or segment profiles as CSV or Parquet (atomic writes)."""
    try:
        fmt = fmt or (output.suffix.lstrip(".").lower() if output and str(output) != "-" else "csv")
        if output is None or str(output) == "-":
            if fmt != "csv":
                raise SegmintError("only CSV can be written to stdout; pass --output FILE")
            frame = pipeline.export_frame(Workspace(workspace), what, run_id=run_id)
            frame.to_csv(sys.stdout, index=False)
            return
        path = pipeline.export(Workspace(workspace), what, output, fmt=fmt, run_id=run_id)
    except SegmintError as exc:
        raise _fail(exc) from None
    err.print(f"exported {what} to {path}", highlight=False)


@app.command("predict")
def predict_cmd(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run_id: RunOpt = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(
            "--horizon-days",
            min=7,
            help=(
                "Churn horizon: no purchase within it counts as churn "
                "(default: derived from the customers' usual gaps between purchases)."
            ),
        ),
    ] = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Score a run's customers: lifetime value, churn risk with reasons, next purchase.

    Fits buy-till-you-die models (BG/NBD, or Pareto/NBD when BG/NBD cannot be identified)
    with Gamma-Gamma spend for 12-month CLV, and gradient-boosted churn, propensity and
    next-purchase models trained on past cut-offs. Every model is checked on held-out time;
    the evaluation is stored with the run, shown in its report, and the scores join the exports.
    """
    try:
        ws = Workspace(workspace)
        with progress_bar(quiet or as_json) as progress:
            evaluation = pipeline.predict(
                ws, run_id=run_id, horizon_days=horizon_days, random_state=seed, progress=progress
            )
            result = pipeline.load_run(ws, run_id)
            result.report_path = pipeline.write_report(ws, run_id=result.run_id)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(evaluation)
        return
    out.print(_segment_table(result))
    churn = evaluation["churn"]
    table = Table(
        title=f"Churn within {churn['horizon_days']} days, held-out cut-off "
        f"{churn['test_cutoff']} ({churn['n']:,} customers, "
        f"{churn['base_rate']:.0%} churned)",
        title_justify="left",
    )
    for col in ("model", "ROC-AUC", "Brier score"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in churn["models"].items():
        table.add_row(name, f"{m['roc_auc']:.3f}", f"{m['brier']:.3f}")
    out.print(table)
    ltv = evaluation["lifetime_value"]
    hold = ltv["holdout"]
    err.print(
        f"lifetime value: {ltv['purchase_model']} + Gamma-Gamma, {ltv['clv_months']} months; "
        f"held-out {hold['holdout_days']} days: {hold['predicted_repeat_purchases']:,.0f} repeat "
        f"purchases predicted vs {hold['actual_repeat_purchases']:,.0f} actual "
        f"({hold['error_pct']:+.1f}%)",
        highlight=False,
    )
    nxt = evaluation["next_purchase"]
    err.print(
        f"next purchase: mean absolute error {nxt['mae_days']:.1f} days "
        f"(median baseline {nxt['median_baseline_mae_days']:.1f}); "
        f"{evaluation['high_value_at_risk']:,} high-value customers at risk",
        highlight=False,
    )
    err.print(f"report: {result.report_path}", highlight=False)


@app.command()
def evaluate(
    cutoff: Annotated[
        str,
        typer.Option(
            "--cutoff",
            help=(
                "Segment on the data before this date (YYYY-MM-DD) and score the spend after it."
            ),
        ),
    ],
    horizon_days: Annotated[
        int,
        typer.Option(
            "--horizon-days",
            min=1,
            help=("Length of the period after the cut-off whose spend is explained."),
        ),
    ] = 90,
    segments: SegmentsOpt = None,
    seed: SeedOpt = 0,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Check segments against later behaviour: eta² of next-period spend, ML vs classic RFM.

    Nothing after the cut-off is used to find the segments; the RFM baseline gets the same
    number of groups.
    """
    try:
        result = pipeline.evaluate_future_spend(
            Workspace(workspace),
            cutoff=pipeline.parse_date(cutoff),
            horizon_days=horizon_days,
            n_segments=segments,
            random_state=seed,
        )
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(result)
        return
    table = Table(
        title=f"Spend in the {horizon_days} days after {cutoff} explained by "
        f"{result['n_groups']} groups ({result['n_customers']:,} customers)",
        title_justify="left",
    )
    table.add_column("grouping")
    table.add_column("eta² (spend)", justify="right")
    table.add_column("eta² (log spend)", justify="right")
    table.add_row("ML segments", f"{result['ml_eta2']:.4f}", f"{result['ml_eta2_log']:.4f}")
    table.add_row(
        f"RFM groups merged to {result['n_groups']}",
        f"{result['rfm_eta2']:.4f}",
        f"{result['rfm_eta2_log']:.4f}",
    )
    table.add_row(
        f"all {result['rfm_named_groups']} named RFM groups",
        f"{result['rfm_named_eta2']:.4f}",
        f"{result['rfm_named_eta2_log']:.4f}",
    )
    out.print(table)


@runs_app.command("list")
def runs_list(workspace: WorkspaceOpt = DEFAULT_WORKSPACE, as_json: JsonOpt = False) -> None:
    """List the runs in the workspace."""
    try:
        runs = pipeline.list_runs(Workspace(workspace))
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(runs)
        return
    table = Table(title="Runs", title_justify="left")
    for col in (
        "run",
        "created (UTC)",
        "as of",
        "customers",
        "segments",
        "method",
        "silhouette",
        "stability",
        "data",
    ):
        table.add_column(col)
    for r in runs:
        m = r["metrics"]
        table.add_row(
            str(r["run_id"]),
            r["created_at"],
            r["as_of"][:10],
            f"{m.get('n_customers', 0):,}",
            str(m.get("n_segments", "")),
            str(m.get("method", "")),
            f"{m.get('silhouette', float('nan')):.2f}",
            f"{m.get('stability_ari', float('nan')):.2f}",
            r["data_fingerprint"],
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int | None, typer.Argument(help="Run id (default: latest).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Show a run's segments."""
    try:
        result = pipeline.load_run(Workspace(workspace), run_id)
    except SegmintError as exc:
        raise _fail(exc) from None
    _show_run(result, as_json)


@runs_app.command("compare")
def runs_compare(
    run_a: Annotated[int, typer.Argument(help="First run id.")],
    run_b: Annotated[int, typer.Argument(help="Second run id.")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """How many customers moved between which segments from run A to run B."""
    try:
        moves = pipeline.compare_runs(Workspace(workspace), run_a, run_b)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(moves.to_dict(orient="records"))
        return
    table = Table(title=f"Customers from run {run_a} to run {run_b}", title_justify="left")
    table.add_column(f"segment in run {run_a}")
    table.add_column(f"segment in run {run_b}")
    table.add_column("customers", justify="right")
    for row in moves.itertuples():
        table.add_row(row.from_segment, row.to_segment, f"{row.customers:,}")
    out.print(table)
    total = int(moves["customers"].sum())
    same = int(moves.loc[moves.from_segment == moves.to_segment, "customers"].sum())
    err.print(f"{total - same:,} of {total:,} customers changed segment name", highlight=False)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # a model's caveat is news for the user, not a source location
    err.print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def main() -> None:
    """Entry point of the ``segmint`` console script."""
    warnings.showwarning = _show_warning
    app()
