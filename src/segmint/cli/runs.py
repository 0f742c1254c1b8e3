"""``segmint runs``: list, inspect and compare the runs stored in a workspace."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from segmint import pipeline
from segmint.cli._options import JsonOpt, RunOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, err, out, print_json
from segmint.cli._output import fail as _fail
from segmint.cli._tables import micro_segment_table, show_run
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace

runs_app = typer.Typer(
    help="List, inspect and compare the runs stored in a workspace.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add ``runs`` (list, show, compare) and ``segments`` to the main app."""
    app.add_typer(runs_app, name="runs")
    app.command("segments")(segments)


def segments(
    segment: Annotated[
        int | None,
        typer.Argument(help="Show the micro-segments centred in this segment (implies --micro)."),
    ] = None,
    micro: Annotated[
        bool,
        typer.Option("--micro", "-m", help="List micro-segments, by the segment they centre in."),
    ] = False,
    top: Annotated[
        int | None,
        typer.Option("--top", min=1, help="At most this many micro-segments per segment."),
    ] = None,
    run_id: RunOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """A run's segments or, with --micro or a SEGMENT, its micro-segments: tastes across the
    segments, each listed under the segment most of its customers are in and named by what
    sets it apart from everyone, with its size, the share of it in that segment, its share of
    spend and the rule that separates it from all other customers."""
    try:
        ws = Workspace(workspace)
        if segment is None and not micro:
            show_run(pipeline.load_run(ws, run_id), as_json)
            return
        result, found = pipeline.load_micro_segments(ws, run_id, segment)
    except SegmintError as exc:
        raise _fail(exc) from None
    withheld = found.attrs.get("withheld", {"groups": 0, "min_audience": 1})
    if top is not None:
        found = found.groupby("segment_id", sort=False).head(top)
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "micro_segments": found.to_dict(orient="records"),
                "withheld_groups": withheld["groups"],
            }
        )
        return
    if withheld["groups"]:
        err.print(
            f"{withheld['groups']:,} micro-segments under the minimum audience of "
            f"{withheld['min_audience']} customers are not described",
            highlight=False,
        )
    if found.empty and not withheld["groups"]:
        err.print(
            f"run {result.run_id} has no described micro-segments (runs stored before they "
            "were described have ids only; run `segmint run` again)",
            highlight=False,
        )
        return
    if not found.empty:
        out.print(micro_segment_table(result, found))


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
    show_run(result, as_json)


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
