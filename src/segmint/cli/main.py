"""The ``segmint`` app and its data commands: demo, run, report, export (``models``: predict,
evaluate; ``runs``: list, show, compare; ``serve``: the service and its keys)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from segmint import __version__, pipeline
from segmint.cli import audience as audience_commands
from segmint.cli import audit as audit_commands
from segmint.cli import campaign as campaign_commands
from segmint.cli import consent as consent_commands
from segmint.cli import identities as identity_commands
from segmint.cli import market as market_commands
from segmint.cli import models as model_commands
from segmint.cli import playbooks as playbook_commands
from segmint.cli import recommend as recommend_commands
from segmint.cli import runs as runs_commands
from segmint.cli import serve as serve_commands
from segmint.cli import settings as settings_commands
from segmint.cli._options import (
    JsonOpt,
    MethodOpt,
    QuietOpt,
    ReportOpt,
    RunOpt,
    SeedOpt,
    SegmentsOpt,
    SpaceOpt,
)
from segmint.cli._output import (
    DEFAULT_WORKSPACE,
    WorkspaceOpt,
    err,
    out,
    progress_bar,
)
from segmint.cli._output import fail as _fail
from segmint.cli._tables import show_run
from segmint.errors import SegmintError
from segmint.features import SOURCES as SOURCE_COVERAGE
from segmint.schema import CUSTOMER_FIELDS, PRESETS, SOURCE_TABLES, TRANSACTION_FIELDS
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

    Start with [bold]segmint demo[/bold], or [bold]segmint run --transactions FILE[/bold]
    ([bold]--customers FILE[/bold] alone segments customers on their attributes), or store
    every source with [bold]segmint ingest SOURCE FILE[/bold] and then [bold]segmint run[/bold].
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


@app.command()
def demo(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    customers: Annotated[
        int, typer.Option("--customers", "-n", min=50, help="Synthetic customers to generate.")
    ] = 5000,
    space: SpaceOpt = "useful",
    sources: Annotated[
        bool,
        typer.Option(
            "--sources",
            help="Generate every source too (web and app events, devices, social, "
            "conversations, identities) and segment on them all.",
        ),
    ] = False,
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
                Workspace(workspace),
                n_customers=customers,
                seed=seed,
                space=space,
                sources=sources,
                progress=progress,
            )
    except SegmintError as exc:
        raise _fail(exc) from None
    show_run(result, as_json)
    if not as_json and result.metrics.get("planted_ari") is not None:
        err.print(
            f"agreement with the planted segments (adjusted Rand index): "
            f"{result.metrics['planted_ari']:.2f}",
            highlight=False,
        )


@app.command()
def run(
    transactions: Annotated[
        str | None,
        typer.Option(
            "--transactions",
            "-t",
            help=(
                "Transactions file: delimited text (.csv, .tsv, .txt, optionally .gz), Parquet, "
                "JSON lines or XLSX. A text file's last line cut short (interrupted download) "
                "is skipped and counted; its complete rows load. Leave it out to segment the "
                "--customers file on its attributes alone."
            ),
        ),
    ] = None,
    customers: Annotated[
        str | None,
        typer.Option(
            "--customers",
            "-c",
            help=(
                "Customer attributes file (customer id + any columns: numbers, Yes/No, a few "
                "categories). With --transactions they describe the segments (and define them "
                "with --use-attributes); alone, customers are segmented on them, an outcome "
                "column such as Churn is described but not used, and a file without an id "
                "column gets row numbers as ids."
            ),
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
    use_attributes: Annotated[
        bool,
        typer.Option(
            "--use-attributes",
            help=(
                "Let the customers file's attributes define segments next to behaviour "
                "(default: they only describe them)."
            ),
        ),
    ] = False,
    value: Annotated[
        list[str] | None,
        typer.Option(
            "--value",
            help=(
                "Customers alone: the column(s) whose sum is a customer's value, for value "
                "shares (repeatable or comma-separated, e.g. --value Fresh,Milk). Default: the "
                "one money column the names show (e.g. TotalCharges), else none."
            ),
        ),
    ] = None,
    segments: SegmentsOpt = None,
    method: MethodOpt = "kmeans",
    space: SpaceOpt = "useful",
    sources: Annotated[
        str | None,
        typer.Option(
            "--sources",
            help="Sources beyond purchases that segments are found on, comma-separated: "
            + ", ".join(SOURCE_COVERAGE)
            + "; [bold]none[/bold] for purchases only. Default: every source the workspace "
            "holds for at least 5% of the customers (see segmint ingest).",
        ),
    ] = None,
    seed: SeedOpt = 0,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            envvar="SEGMINT_ENGINE",
            help=(
                "Where features and assignments are computed: [bold]duckdb[/bold] (this "
                "machine, the files ingested into the workspace) or [bold]spark[/bold] (Parquet "
                "or CSV files, directories or globs with the canonical column names, read where "
                "they are; results written as Parquet, the run's record in the workspace)."
            ),
        ),
    ] = "duckdb",
    spark_master: Annotated[
        str,
        typer.Option(
            "--spark-master",
            envvar="SEGMINT_SPARK_MASTER",
            help="Spark master with --engine spark: local[N], local[*], spark://HOST:PORT or "
            "sc://HOST:PORT (Spark Connect).",
        ),
    ] = "local[*]",
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="With --engine spark: directory or URI for the features/ and assignments/ "
            "Parquet (default: WORKSPACE/results/run-N).",
        ),
    ] = None,
    fit_sample: Annotated[
        int,
        typer.Option(
            "--fit-sample",
            min=pipeline.MIN_CUSTOMERS,
            help="With --engine spark: customers the segmentation is fitted on at most (a hash "
            "sample of the ids); every customer is then assigned in Spark.",
        ),
    ] = pipeline.FIT_SAMPLE,
    report: ReportOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Ingest your files and find named, explained segments (writes a new run and its report).

    Without file options, segments what the workspace holds (see segmint ingest): purchases
    and every other source (web, chats, devices, social) covering enough customers.
    Rows without a customer id or with unparseable dates or prices are skipped and counted;
    re-ingesting a file adds nothing twice. On any error the workspace is left as it was.
    With --customers and no --transactions, customers are segmented on their attributes.
    With --engine spark the files stay where they are and Spark computes the features and
    assignments of every customer (see README, "Scaling out").
    """
    try:
        if engine not in ("duckdb", "spark"):
            raise SegmintError(f"--engine must be duckdb or spark, not {engine!r}")
        # how the files are laid out, as every branch reads them (a customers file alone has
        # neither the transactions' --map nor dates)
        layout = {
            "preset": preset,
            "customers_mapping": customers_map or [],
            "delimiter": delimiter,
            "encoding": encoding,
        }
        with_transactions = layout | {
            "customers": customers,
            "mapping": map_ or [],
            "date_format": date_format,
        }
        # one transaction: a failure anywhere (options are checked first) stores nothing
        with progress_bar(quiet or as_json) as progress:
            if engine == "spark":
                if transactions is None:
                    raise SegmintError(
                        "--engine spark segments transactions: give --transactions FILES"
                    )
                if value:
                    raise SegmintError("--value applies to customers alone (no --transactions)")
                if _sources(sources):
                    raise SegmintError(
                        "--engine spark segments purchases; --sources needs the DuckDB engine "
                        "(segmint ingest the other sources, then segmint run)"
                    )
                result = pipeline.segment_on_spark(
                    Workspace(workspace),
                    transactions,
                    **with_transactions,
                    master=spark_master,
                    output=output,
                    as_of=None if as_of is None else pipeline.parse_date(as_of),
                    options=pipeline.SegmentOptions(
                        segments,
                        method=method,
                        random_state=seed,
                        use_attributes=use_attributes,
                        space=space,
                    ),
                    fit_sample=fit_sample,
                    report_path=report,
                    progress=progress,
                )
                show_run(result, as_json)
                return
            if output is not None:
                raise SegmintError(
                    "--output applies to --engine spark; a DuckDB run's results are in the "
                    "workspace (segmint export writes them)"
                )
            if transactions is None and customers is None:
                # nothing to read: segment what the workspace holds (segmint ingest put there)
                results, result = (
                    [],
                    _segment_workspace(
                        workspace,
                        as_of,
                        segments,
                        method,
                        seed,
                        use_attributes,
                        space,
                        _sources(sources),
                        report,
                        progress,
                    ),
                )
            elif transactions is None:
                results, result = pipeline.segment_customers(
                    Workspace(workspace),
                    _customers_alone(customers, as_of),
                    **layout,
                    value=[v.strip() for item in value or [] for v in item.split(",") if v.strip()],
                    n_segments=segments,
                    method=method,
                    random_state=seed,
                    report_path=report,
                    progress=progress,
                )
            else:
                results, result = pipeline.ingest_and_segment(
                    Workspace(workspace),
                    transactions,
                    **with_transactions,
                    as_of=as_of,
                    n_segments=segments,
                    method=method,
                    random_state=seed,
                    use_attributes=use_attributes,
                    space=space,
                    sources=_sources(sources),
                    report_path=report,
                    progress=progress,
                )
    except SegmintError as exc:
        raise _fail(exc) from None
    if not as_json:
        _print_ingest(results)
    show_run(result, as_json)


def _customers_alone(customers: str, as_of: str | None) -> str:
    """The customers file of a ``run`` without transactions, once its options make sense."""
    if as_of is not None:
        raise SegmintError("--as-of applies to transactions; a customers file has no dates")
    return customers


def _sources(given: str | None) -> list[str] | None:
    """``--sources`` as a list: None for the default, empty for ``none``."""
    if given is None:
        return None
    names = [s.strip() for s in given.split(",") if s.strip()]
    return [] if names == ["none"] else names


def _segment_workspace(
    workspace, as_of, segments, method, seed, use_attributes, space, sources, report, progress
) -> pipeline.RunResult:
    ws = Workspace(workspace)
    if not ws.exists:
        raise SegmintError(
            f"nothing to segment: no workspace at {workspace}; give --transactions FILE (or "
            "--customers FILE), or store files first with segmint ingest SOURCE FILE"
        )
    return pipeline.segment(
        ws,
        as_of=None if as_of is None else pipeline.parse_date(as_of),
        n_segments=segments,
        method=method,
        random_state=seed,
        use_attributes=use_attributes,
        space=space,
        sources=sources,
        report_path=report,
        progress=progress,
    )


@app.command()
def ingest(
    source: Annotated[
        str,
        typer.Argument(
            help="What the file holds: " + ", ".join(pipeline.SOURCE_KINDS) + ".",
            show_default=False,
        ),
    ],
    file: Annotated[
        str,
        typer.Argument(
            help="The file: delimited text (optionally .gz), Parquet, JSON lines or XLSX.",
            show_default=False,
        ),
    ],
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            "-p",
            help="Column layout of a transactions or customers file ("
            + ", ".join(PRESETS)
            + "); events, messages, identities, intents and consent files use the canonical "
            "column names.",
        ),
    ] = "generic",
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            "-m",
            help="Map a column of the file onto a field, COLUMN=FIELD (repeatable). Fields: "
            + "; ".join(
                f"{name}: {', '.join(fields)}"
                for name, fields in (
                    ("transactions", TRANSACTION_FIELDS),
                    ("customers", CUSTOMER_FIELDS),
                    *((t.name, tuple(t.columns)) for t in SOURCE_TABLES.values()),
                )
            )
            + ".",
        ),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option("--delimiter", help="Column delimiter of a text file (default: sniffed)."),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of a text file.")] = "utf-8",
    date_format: Annotated[
        str | None, typer.Option(help="strptime format of the dates, if not ISO 8601.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Store one file of customer data in the workspace.

    Transactions, customer attributes,
    web/app/device/social events, conversation messages, identities, intents (labelled
    example messages: text, intent; conversations are then also read for those intents), or
    consent (customer_id, purpose, status granted/withdrawn, ts, source, evidence: appended to
    the tamper-evident consent ledger, see segmint consent).

    Bad rows are skipped and counted with the first example of each problem; re-ingesting a
    file adds nothing twice; on any error the workspace is left as it was. Then
    [bold]segmint run[/bold] (no file options) segments everything the workspace holds.
    """
    try:
        with progress_bar(quiet or as_json) as progress:
            result = pipeline.ingest_source(
                Workspace(workspace),
                source,
                file,
                preset=preset,
                mapping=map_ or [],
                delimiter=delimiter,
                encoding=encoding,
                date_format=date_format,
                progress=progress,
            )
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        out.print_json(data=result.to_dict())
    else:
        _print_ingest([result])


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
            help="assignments (one row per customer, with its segment and micro-segment), "
            "profiles (one row per segment), micro-segments (one row per micro-segment) or "
            "recommendations (one row per customer and product: `segmint recommend`)."
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
    purpose: Annotated[
        str,
        typer.Option(
            help="What the export is for (a consent purpose: analytics, email, sms, ads, "
            "personalisation by default); customers who have not consented to it are left out "
            "and counted."
        ),
    ] = "analytics",
    raw_ids: Annotated[
        bool,
        typer.Option(
            "--raw-ids",
            help="Export customer ids as they are instead of pseudonyms (recorded in the audit "
            "log).",
        ),
    ] = False,
    destination: Annotated[
        str,
        typer.Option(
            help="Who receives the file: each destination has its own pseudonym key, so two "
            "destinations cannot join their files on the ids."
        ),
    ] = "export",
    as_json: JsonOpt = False,
) -> None:
    """Export a run's assignments, segment profiles or micro-segments as CSV or Parquet.

    Written atomically; filtered by consent for --purpose, with pseudonymised customer ids
    and no group under the minimum audience size; recorded in the audit log."""
    options = {"run_id": run_id, "purpose": purpose, "raw_ids": raw_ids, "destination": destination}
    try:
        fmt = fmt or (output.suffix.lstrip(".").lower() if output and str(output) != "-" else "csv")
        to_stdout = output is None or str(output) == "-"
        if to_stdout and fmt != "csv":
            raise SegmintError("only CSV can be written to stdout; pass --output FILE")
        result = pipeline.export(
            Workspace(workspace), what, None if to_stdout else output, fmt=fmt, **options
        )
    except SegmintError as exc:
        raise _fail(exc) from None
    if to_stdout:
        result.frame.to_csv(sys.stdout, index=False)
    s = result.summary
    if as_json:
        (err if to_stdout else out).print_json(data=result.to_dict())
        return
    withheld = (
        f"{s['withheld']:,} customers withheld by consent"
        if "groups_under_min_audience" not in s
        else f"{s['groups_under_min_audience']:,} groups under {s['min_audience']} withheld"
    )
    where = "" if to_stdout else f" to {result.path}"
    err.print(
        f"exported {result.rows:,} {what} rows{where} for {s['purpose']} "
        f"(regime {s['regime']}); {withheld}" + (f"; ids {s['ids']}" if "ids" in s else ""),
        highlight=False,
    )


@app.command()
def erase(
    customer_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Customer ids to erase.", show_default=False),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="A text file of customer ids to erase, one per line."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Erase customers from the workspace (irreversible).

    Their transactions, events, messages, identities (and everything
    under the emails, phones, cookies and devices linked to them), run features, assignments,
    predictions and queued notifications. Their consent-ledger key is destroyed (the ledger
    still verifies) and the erasure logged there and in the audit log; the database file is
    rewritten so no deleted byte remains. Aggregates of earlier runs stay. Irreversible."""
    try:
        ids = list(customer_ids or [])
        if file is not None:
            try:
                ids += [
                    x.strip() for x in file.read_text(encoding="utf-8").splitlines() if x.strip()
                ]
            except OSError as exc:
                raise SegmintError(f"cannot read {file}: {exc.strerror}") from None
        if not ids:
            raise SegmintError("name the customers to erase (arguments or --file)")
        if not yes and not typer.confirm(f"Erase {len(ids)} customer(s)? This cannot be undone"):
            raise SegmintError("nothing erased")
        done = pipeline.erase(Workspace(workspace), ids)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        out.print_json(data=[d.to_dict() for d in done])
        return
    table = Table("customer (keyed hash)", "identifiers", "rows removed")
    for d in done:
        table.add_row(d.ref, str(len(d.ids)), f"{d.total:,}")
    out.print(table)
    err.print("erased; the database file was rewritten without them", highlight=False)


# after the data commands, so that --help lists them first
for commands in (
    model_commands,
    playbook_commands,
    audience_commands,
    campaign_commands,
    runs_commands,
    identity_commands,
    serve_commands,
    consent_commands,
    settings_commands,
    audit_commands,
    market_commands,
    recommend_commands,
):
    commands.register(app)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # a model's caveat is news for the user, not a source location
    err.print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def main() -> None:
    """Entry point of the ``segmint`` console script."""
    warnings.showwarning = _show_warning
    app()
