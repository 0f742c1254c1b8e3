"""``segmint audit``: verify the audit log's chain, list its entries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from segmint.cli._options import JsonOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, err, out, print_json
from segmint.cli._output import fail as _fail
from segmint.consent.audit import read_audit, verify_audit
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace

audit_app = typer.Typer(
    help="The audit log: who read, exported, erased or changed what; verify that it is intact.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``audit verify`` and ``audit list`` to the main app."""
    app.add_typer(audit_app, name="audit")


@audit_app.command()
def verify(workspace: WorkspaceOpt = DEFAULT_WORKSPACE, as_json: JsonOpt = False) -> None:
    """Check every entry's seal and link and the anchor; exit 1 naming what was tampered with."""
    ws = Workspace(workspace)
    try:
        with ws.connect() as con:
            found = verify_audit(con, ws.path)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(found.to_dict())
    elif found.ok:
        err.print(f"audit log intact: {found.entries:,} entries", highlight=False)
    else:
        for problem in found.problems:
            err.print(f"[bold red]tampered:[/bold red] {problem}", highlight=False, soft_wrap=True)
    if not found.ok:
        raise typer.Exit(code=1)


@audit_app.command("list")
def list_entries(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest entries shown.")] = 50,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action, e.g. export or erase.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """The newest audit entries: when, who, what, for which purpose, on what."""
    try:
        with Workspace(workspace).connect() as con:
            entries = read_audit(con, limit=limit, action=action)
    except SegmintError as exc:
        raise _fail(exc) from None
    # None for NULL: NaN and <NA> are not JSON, and print as noise in a table
    entries = entries.astype(object).where(entries.notna(), None)
    if as_json:
        records = entries.to_dict(orient="records")
        for entry in records:  # the detail as JSON, not as a string holding JSON
            entry["detail"] = None if entry["detail"] is None else json.loads(entry["detail"])
        print_json(records)
        return
    table = Table(title="Audit log")
    for column in entries.columns:
        # what identifies an entry stays on one line; the rest folds, never cut: an audit
        # listing that shortens a path or a key id hides what it is for (the detail, often
        # long JSON, is shortened: --json gives it whole)
        table.add_column(
            column,
            justify="right" if column in ("seq", "rows") else "left",
            no_wrap=column in ("seq", "ts", "action", "rows", "detail"),
            overflow="ellipsis" if column == "detail" else "fold",
            max_width=40 if column == "detail" else None,
        )
    for row in entries.itertuples(index=False):
        table.add_row(*(_cell(value) for value in row))
    out.print(table)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)
