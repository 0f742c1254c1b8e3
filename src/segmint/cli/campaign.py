"""``segmint campaign``: create a campaign with a holdout, measure its lift, list them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from segmint import pipeline
from segmint.activate.campaigns import parse_share
from segmint.cli._options import JsonOpt, RunOpt, SegmentSpecOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, out, print_json
from segmint.cli._output import fail as _fail
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace

campaign_app = typer.Typer(
    help="Campaigns with a holdout group, and the lift they brought.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add ``campaign create``, ``measure`` and ``list`` to the main app."""
    app.add_typer(campaign_app, name="campaign")


@campaign_app.command()
def create(
    name: Annotated[str, typer.Argument(help="A new campaign's name.", show_default=False)],
    segment: SegmentSpecOpt,
    holdout: Annotated[
        str, typer.Option("--holdout", help="Share held out and never exported, e.g. 10%.")
    ] = "10%",
    start: Annotated[
        datetime | None,
        typer.Option(
            "--start",
            help="When the campaign starts (default: the latest purchase in the workspace, so "
            "history can be measured; use today's date for a live campaign).",
        ),
    ] = None,
    run: RunOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Fix the segment's customers as the campaign's members now and hold out a share of
    them, drawn from a keyed hash of customer and campaign (the same every time, unknowable
    without the workspace's key). `segmint audience export SEGMENT --campaign NAME` leaves the
    holdout out."""
    try:
        made = pipeline.create_campaign(
            Workspace(workspace), name, segment, holdout=holdout, start=start, run_id=run
        )
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(made)
        return
    out.print(
        f"campaign [bold]{made['name']}[/bold] on {made['segment']}: {made['treated']:,} "
        f"treated, {made['holdout']:,} held out ({made['holdout_share']:.0%}), from "
        f"{made['starts_at']}",
        highlight=False,
    )


@campaign_app.command()
def measure(
    name: Annotated[str, typer.Argument(help="The campaign.", show_default=False)],
    days: Annotated[int, typer.Option("--days", help="Days after the start to measure.")] = 30,
    effect: Annotated[
        str,
        typer.Option(
            "--effect",
            help="Relative lift in conversion to size the holdout for (power 80%, 5% level).",
        ),
    ] = "10%",
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Treated against holdout over the days after the start: conversion (any purchase),
    revenue per customer (net of returns) and retention (a purchase among those who bought in
    as many days before the start), each with its lift, 95% interval and p-value, and the
    customers per arm the chosen effect would need."""
    try:
        share = parse_share(effect) if str(effect).endswith("%") else float(effect)
        found = pipeline.measure_campaign(Workspace(workspace), name, days=days, effect=share)
    except (SegmintError, ValueError) as exc:
        raise _fail(SegmintError(str(exc))) from None
    if as_json:
        print_json(found)
        return
    table = Table(
        title=f"{found['name']} ({found['segment']}): {found['treated']:,} treated, "
        f"{found['holdout']:,} holdout, {found['starts_at']} + {found['days']} days"
        + ("" if found["complete"] else f" (incomplete: data ends {found['data_end']})")
    )
    for column in ("outcome", "treated", "holdout", "lift", "95% interval", "relative", "p"):
        table.add_column(column, justify="right" if column != "outcome" else "left")
    for key, fmt in (("conversion", "{:.2%}"), ("revenue", "{:,.2f}"), ("retention", "{:.2%}")):
        m = found[key]
        table.add_row(
            key + (" *" if m["significant"] else ""),
            fmt.format(m["treated"]),
            fmt.format(m["holdout"]),
            fmt.format(m["lift"]),
            f"{fmt.format(m['lower'])} to {fmt.format(m['upper'])}",
            "" if m["relative"] != m["relative"] else f"{m['relative']:+.1%}",
            f"{m['p_value']:.3f}",
        )
    out.print(table)
    power = found["power"]
    needed = power["per_arm_needed"]
    out.print(
        f"* significant at 5%. To detect a {power['effect']:+.0%} change in conversion with 80% "
        f"power: {'n/a' if needed is None else f'{needed:,}'} customers per arm (holdout has "
        f"{power['holdout_has']:,}).",
        highlight=False,
    )


@campaign_app.command("list")
def list_(workspace: WorkspaceOpt = DEFAULT_WORKSPACE, as_json: JsonOpt = False) -> None:
    """Campaigns with their latest measurement."""
    try:
        frame = pipeline.list_campaigns(Workspace(workspace))
    except SegmintError as exc:
        raise _fail(exc) from None
    rows = [] if frame.empty else frame.to_dict("records")
    for r in rows:
        r["metrics"] = json.loads(r["metrics"]) if isinstance(r["metrics"], str) else None
    if as_json:
        print_json(rows)
        return
    table = Table(title="Campaigns")
    for column in ("name", "segment", "treated", "holdout", "starts", "days", "conversion lift"):
        table.add_column(column)
    for r in rows:
        metrics = r["metrics"]
        lift = (
            f"{metrics['conversion']['lift']:+.2%} ({metrics['conversion']['p_value']:.3f})"
            if metrics
            else "not measured"
        )
        table.add_row(
            r["name"], r["segment"], f"{r['treated']:,}", f"{r['holdout']:,}",
            str(r["starts_at"]), "" if metrics is None else str(r["days"]), lift,
        )  # fmt: skip
    out.print(table)
