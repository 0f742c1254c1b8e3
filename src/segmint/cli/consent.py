"""``segmint consent``: check the consent ledger, prove a customer's consent, publish a
checkpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.table import Table

from segmint.cli._options import JsonOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, err, out, print_json
from segmint.cli._output import fail as _fail
from segmint.consent import ledger
from segmint.consent.audit import local_actor, record
from segmint.consent.policy import change_policy, load_policy, save_policy
from segmint.errors import SegmintError, WorkspaceError
from segmint.files import atomic_path
from segmint.store.workspace import Workspace

consent_app = typer.Typer(
    help="The consent ledger: verify it, prove a customer's consent, publish checkpoints; "
    "the consent policy (purposes, regimes, minimum audience).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``consent verify``, ``proof``, ``checkpoint`` and ``settings`` to the main app."""
    app.add_typer(consent_app, name="consent")


@contextmanager
def _reading(workspace: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection (so a running service does not block it) to a workspace whose
    database has the ledger's tables."""
    with Workspace(workspace).connect(read_only=True) as con:
        found = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'consent_ledger'"
        ).fetchall()
        if not found[0][0]:
            raise WorkspaceError(
                f"workspace {workspace} has no consent ledger yet; store consent first with "
                "segmint ingest consent FILE"
            )
        yield con


def _read_checkpoints(paths: list[Path]) -> list[dict]:
    """Published checkpoints from JSON files: one checkpoint object or a list of them each."""
    found: list[dict] = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SegmintError(f"cannot read checkpoint file {path}: {exc}") from None
        items = data if isinstance(data, list) else [data]
        if not all(isinstance(i, dict) and "checkpoint_id" in i for i in items):
            raise SegmintError(f"{path} holds no consent checkpoint (a JSON object or a list)")
        found.extend(items)
    return found


@consent_app.command()
def verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            "-c",
            help="A checkpoint published earlier (JSON, as `segmint consent checkpoint --json` "
            "prints it); repeatable. The ledger must still hold what each one signed.",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Check every entry and checkpoint of the consent ledger; exit 1 naming what was changed,
    deleted or inserted."""
    try:
        published = _read_checkpoints(checkpoint or [])
        with _reading(workspace) as con:
            found = ledger.verify(con, workspace, published)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(found.to_dict())
    else:
        table = Table(title="Consent ledger")
        table.add_column("what")
        table.add_column("value", justify="right")
        table.add_row("entries", f"{found.entries:,}")
        table.add_row("checkpoints", f"{found.checkpoints:,}")
        table.add_row("published checkpoints checked", f"{len(published):,}")
        table.add_row("result", "ok" if found.ok else f"{len(found.problems)} problem(s)")
        if found.first_bad_seq is not None:
            table.add_row("first entry not to trust", str(found.first_bad_seq))
        out.print(table)
        for problem in found.problems:
            out.print(f"- {problem}", highlight=False)
    if not found.ok:
        raise typer.Exit(code=1)


@consent_app.command()
def proof(
    customer: Annotated[str, typer.Argument(help="The customer id.", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="JSON file to write (default: stdout)."),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """The proof of a customer's current consent, checkable anywhere with
    segmint/consent/verifier.py (Python and `cryptography` only)."""
    try:
        with _reading(workspace) as con:
            found = ledger.proof(con, workspace, customer)
    except SegmintError as exc:
        raise _fail(exc) from None
    if output is None:
        print_json(found)
        return
    with atomic_path(output) as tmp:
        tmp.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    err.print(f"wrote the consent proof of {customer} to {output}", highlight=False)


@consent_app.command("checkpoint")
def show_checkpoint(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """The latest signed checkpoint, to publish: whoever keeps a copy can later show that
    the ledger still holds what it signed (segmint consent verify --checkpoint FILE)."""
    try:
        with _reading(workspace) as con:
            found = ledger.latest_checkpoint(con, workspace)
    except SegmintError as exc:
        raise _fail(exc) from None
    if found is None:
        raise _fail(SegmintError("the consent ledger has no checkpoint yet"))
    if as_json:
        print_json(found)
        return
    table = Table(title="Latest consent checkpoint")
    table.add_column("field")
    table.add_column("value", overflow="fold")  # whole: the root and key are copied from here
    for name, value in found.items():
        table.add_row(name, str(value))
    out.print(table)


@consent_app.command("settings")
def settings(
    purposes: Annotated[
        str | None,
        typer.Option(help="The purposes, comma-separated (replaces the list)."),
    ] = None,
    regime: Annotated[
        list[str] | None,
        typer.Option(
            help="opt-in or opt-out for every purpose, or PURPOSE=opt-in|opt-out for one "
            "(repeatable): what a customer without a record counts as."
        ),
    ] = None,
    min_audience: Annotated[
        int | None, typer.Option(help="The smallest group an output may describe.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Show or change the consent policy: purposes, regimes and the minimum audience size
    (changes are recorded in the audit log)."""
    try:
        ws = Workspace(workspace)
        with ws.transaction(create=True) as con:
            policy = load_policy(con)
            changed = change_policy(policy, purposes, regime or [], min_audience)
            if changed != policy:
                save_policy(con, changed)
                record(
                    con,
                    ws.path,
                    actor=local_actor(),
                    action="settings.change",
                    detail=changed.to_dict(),
                )
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(changed.to_dict())
        return
    table = Table("purpose", "regime (no record)")
    for p in changed.purposes:
        table.add_row(p, changed.regime(p))
    out.print(table)
    out.print(f"minimum audience: {changed.min_audience}")
