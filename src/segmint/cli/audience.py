"""``segmint audience export``: a segment to the tools marketers use, through consent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from segmint import pipeline
from segmint.activate.audiences import PLATFORMS
from segmint.cli._options import SEGMENT_SPEC_HELP, JsonOpt, RunOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, err, out, print_json
from segmint.cli._output import fail as _fail
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace

audience_app = typer.Typer(
    help="Audiences for Google Ads, Meta, Mailchimp, Klaviyo or files, filtered by consent.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``audience export`` to the main app."""
    app.add_typer(audience_app, name="audience")


@audience_app.command("export")
def export(
    segment: Annotated[
        str,
        typer.Argument(
            help=SEGMENT_SPEC_HELP,
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help=f"One of {', '.join(PLATFORMS)}: google and meta hash normalised emails and "
            "phones (ads consent); mailchimp and klaviyo carry addresses and merge fields "
            "(email consent); csv and parquet carry pseudonymised ids (--purpose).",
        ),
    ] = "csv",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: WORKSPACE/audiences/...)."),
    ] = None,
    campaign: Annotated[
        str | None,
        typer.Option("--campaign", help="Leave out this campaign's holdout."),
    ] = None,
    purpose: Annotated[
        str | None,
        typer.Option("--purpose", help="Consent purpose of a csv or parquet audience."),
    ] = None,
    default_country: Annotated[
        str | None,
        typer.Option(
            "--default-country",
            help="Two-letter country code for phone numbers written without one, where the "
            "customer's country is not a two-letter code.",
        ),
    ] = None,
    run: RunOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Export a segment's customers as an audience. Customers held out by --campaign, without
    consent for the format's purpose, or without a usable email or phone are withheld and
    counted; an audience under the minimum audience size is refused. Recorded in the audit
    log."""
    fmt = fmt.lower()
    suffix = "parquet" if fmt == "parquet" else "csv"
    slug = "".join(ch if ch.isalnum() else "-" for ch in segment.lower()).strip("-")
    path = output or Path(workspace) / "audiences" / f"{fmt}-{slug}.{suffix}"
    try:
        result = pipeline.export_audience(
            Workspace(workspace),
            segment,
            path,
            fmt=fmt,
            run_id=run,
            campaign_name=campaign,
            purpose=purpose,
            default_country=default_country,
        )
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(
        title=f"{result.platform} audience of {result.segment}: {result.rows:,} customers"
    )
    table.add_column("withheld because")
    table.add_column("customers", justify="right")
    for reason, count in result.withheld.items():
        table.add_row(reason, f"{count:,}")
    out.print(table)
    err.print(f"written to {result.path} ({result.ids}; purpose {result.purpose})", highlight=False)
