"""``segmint settings``: show or change the workspace settings (the currency money is shown in)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from segmint.cli._options import JsonOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, err, out, print_json
from segmint.cli._output import fail as _fail
from segmint.consent.audit import local_actor, record
from segmint.errors import DataValidationError, SegmintError
from segmint.store.settings import CURRENCY, all_settings, check_currency, set_setting
from segmint.store.workspace import Workspace


def register(app: typer.Typer) -> None:
    """Add ``settings`` to the main app."""
    app.command("settings")(settings)


def _shown(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def settings(
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            metavar="CODE",
            help="The currency money is in, as a 3-letter ISO 4217 code (EUR, USD, GBP...); "
            "reports show amounts with it.",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Show the workspace settings, or change them with an option (changes are recorded in
    the audit log)."""
    if currency is not None:
        try:
            code = check_currency(currency)
        except DataValidationError:
            # the option is named so the user knows which argument to fix
            err.print(
                f"[bold red]error:[/bold red] --currency {currency!r}: expected a 3-letter "
                "ISO 4217 code such as EUR, USD or GBP",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(code=2) from None
    try:
        ws = Workspace(workspace)
        if currency is not None:
            with ws.transaction(create=True) as con:
                set_setting(con, CURRENCY, code)
                record(
                    con,
                    ws.path,
                    actor=local_actor(),
                    action="settings.change",
                    detail={CURRENCY: code},
                )
                found = all_settings(con)
        else:
            with ws.connect(read_only=True) as con:
                found = all_settings(con)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(found)
        return
    table = Table("setting", "value", title="Workspace settings", title_justify="left")
    table.add_row(
        CURRENCY, found.get(CURRENCY) or "[dim]not set (segmint settings --currency EUR)[/dim]"
    )
    for name, value in found.items():
        if name != CURRENCY:
            table.add_row(name, _shown(value))
    out.print(table)
