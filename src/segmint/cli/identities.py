"""``segmint identities``: how anonymous ids, emails and phones resolve to customers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from segmint import pipeline
from segmint.cli._options import JsonOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, out, print_json
from segmint.cli._output import fail as _fail
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace

identities_app = typer.Typer(
    help="Identity resolution: how cookies, devices, emails and phones link to customers.",
    no_args_is_help=True,
)

_ROWS = {
    "identifiers": "identifiers (cookies, devices, emails, phones)",
    "links": "links between an identifier and a customer",
    "customers": "customer ids linked to an identifier",
    "people": "people they resolve to",
    "customers_merged": "customer ids merged into another",
    "anonymous_resolved": "identifiers resolved to a customer",
    "shared_identifiers": "shared identifiers that link nobody (over the cap)",
    "clusters_over_cap": "clusters left unmerged (over the cap)",
}


def register(app: typer.Typer) -> None:
    """Add ``identities stats`` to the main app."""
    app.add_typer(identities_app, name="identities")


@identities_app.command()
def stats(
    max_customers: Annotated[
        int,
        typer.Option(
            "--max-customers",
            min=1,
            help="Most customers one person's identifiers may link; an identifier or cluster "
            "linking more is shared (a kiosk, a family tablet chain) and merges nobody.",
        ),
    ] = pipeline.MAX_IDENTITY_CUSTOMERS,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """What identity resolution does with the workspace's identities and identify events."""
    try:
        found = pipeline.identity_stats(Workspace(workspace), max_customers=max_customers)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(found.to_dict())
        return
    table = Table(title="Identity resolution")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, label in _ROWS.items():
        table.add_row(label, f"{getattr(found, key):,}")
    out.print(table)
