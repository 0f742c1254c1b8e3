"""``segmint recommend``: store product recommendations for a run; ``recommend evaluate``:
the recommenders against popularity and co-occurrence at a split date."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from segmint.cli._options import JsonOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, err, out, print_json
from segmint.cli._output import fail as _fail
from segmint.errors import SegmintError
from segmint.pipeline import evaluate_recommendations, parse_date, recommend
from segmint.pipeline._recommend import DEFAULT_MODEL
from segmint.store.workspace import Workspace

recommend_app = typer.Typer(
    help="Product recommendations: store each customer's top items and each segment's "
    "featured items for a run (served at /v1/customers/{id}/recommendations, exported as "
    "`segmint export recommendations`); `evaluate` compares the models at a split date.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    """Add ``recommend`` and ``recommend evaluate`` to the main app."""
    app.add_typer(recommend_app, name="recommend")


@recommend_app.callback()
def store(
    ctx: typer.Context,
    top: Annotated[int, typer.Option("--top", help="Items per customer and segment.")] = 10,
    model: Annotated[
        str, typer.Option("--model", help="ease (default), als, cooccurrence or popularity.")
    ] = DEFAULT_MODEL,
    run: Annotated[int | None, typer.Option("--run", help="The run (default: the latest).")] = None,
    include_bought: Annotated[
        bool,
        typer.Option(
            "--include-bought", help="Also recommend items the customer already bought (rebuys)."
        ),
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Fit on the run's purchases up to its date; store the top items for every customer
    of the run and the most bought items per segment (replacing the run's earlier ones)."""
    if ctx.invoked_subcommand is not None:
        return
    ws = Workspace(workspace)
    try:
        summary = recommend(ws, run_id=run, top=top, model=model, exclude_bought=not include_bought)
        with ws.connect(read_only=True) as con:
            featured = con.execute(
                """SELECT s.segment_id, s.name, list(r.description ORDER BY r.rank)[1:3]
                   FROM segments s LEFT JOIN segment_recommendations r USING (run_id, segment_id)
                   WHERE s.run_id = ? GROUP BY ALL ORDER BY s.segment_id""",
                [summary["run_id"]],
            ).fetchall()
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json({**summary, "featured": {r[0]: r[2] for r in featured}})
        return
    table = Table(title=f"Featured products per segment, run {summary['run_id']}")
    table.add_column("segment", justify="right")
    table.add_column("name")
    table.add_column("most bought there")
    for segment_id, name, items in featured:
        table.add_row(str(segment_id), name, "; ".join(i or "?" for i in (items or [])))
    out.print(table)
    err.print(
        f"{summary['model']}: top {top} stored for {summary['customers']:,} customers "
        f"({summary['items']:,} products; fitted in {summary['fit_seconds']:.1f} s)",
        highlight=False,
    )


@recommend_app.command()
def evaluate(
    split: Annotated[
        str, typer.Option("--split", help="Fit before this date (YYYY-MM-DD), score after.")
    ],
    k: Annotated[int, typer.Option("--k", help="Recommendations scored per customer.")] = 10,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
) -> None:
    """Precision, recall, NDCG at k and catalogue coverage of each model and baseline on the
    purchases after --split, with and without already bought items."""
    try:
        table = evaluate_recommendations(Workspace(workspace), parse_date(split, "--split"), k=k)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(table.to_dict(orient="records"))
        return
    shown = Table(title=f"Recommendations at k={k}, split {split}")
    for col in table.columns:
        shown.add_column(col, justify="left" if col in ("mode", "model") else "right")
    for row in table.itertuples(index=False):
        shown.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    out.print(shown)
