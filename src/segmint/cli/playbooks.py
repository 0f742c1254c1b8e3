"""``segmint playbooks``: propose what to do with each segment, and show the messages."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from segmint import pipeline
from segmint.cli._options import JsonOpt, RunOpt, SegmentSpecOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, out, print_json
from segmint.cli._output import fail as _fail
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace

playbooks_app = typer.Typer(
    help="Playbooks: per segment and micro-segment, the objective, offer, channel, send time "
    "and message, as YAML files under WORKSPACE/playbooks/ that you edit.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``playbooks init`` and ``playbooks render`` to the main app."""
    app.add_typer(playbooks_app, name="playbooks")


@playbooks_app.command()
def init(
    run: RunOpt = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite existing playbook files (edits are lost)."),
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Write a playbook per segment, derived from its traits and predictions: objective
    (retain, win back, grow, onboard, upsell), an offer whose discount is bounded by the
    customers' lifetime value, channels by reach, the send time from when the segment
    orders, and a Jinja message template. Existing files are kept unless --force."""
    try:
        files = pipeline.init_playbooks(Workspace(workspace), run_id=run, force=force)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json([{**asdict(f), "path": str(f.path)} for f in files])
        return
    table = Table(title="Playbooks")
    for column in ("segment", "name", "objective", "discount", "channels", "micro", "file"):
        table.add_column(column)
    for f in files:
        table.add_row(
            str(f.segment_id),
            f.name,
            f.objective,
            f"{f.discount_pct:g}%",
            ", ".join(f.channels),
            str(f.micro_segments),
            f"{f.path}" + ("" if f.written else " (kept: exists)"),
        )
    out.print(table)


@playbooks_app.command()
def render(
    segment: SegmentSpecOpt,
    sample: Annotated[
        int, typer.Option("--sample", "-n", min=1, help="How many customers to show.")
    ] = 5,
    run: RunOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Show the finished messages a sample of the segment's customers would receive: the
    channel each consented to and can be reached on (none: not contacted), their discount
    and the rendered message with their fields and recommendations."""
    try:
        actions = pipeline.render_playbook(Workspace(workspace), segment, sample=sample, run_id=run)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(actions)
        return
    for a in actions:
        offer = a["offer"]
        head = (
            f"[bold]{a['customer_id']}[/bold] · {a['objective']} · "
            f"{a['channel'] or 'no channel consented: not contacted'} · {a['send_at']} · "
            f"{offer['discount_pct']:g}% off up to {offer['max_discount']:g} · {a['playbook']}"
        )
        out.print(head, highlight=False)
        out.print(f"  subject: {a['subject']}", highlight=False, markup=False)
        for line in a["message"].splitlines():
            out.print(f"  | {line}", highlight=False, markup=False)
        out.print()
