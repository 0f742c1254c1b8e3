"""Commands about models: ``predict`` (score and check the predictive models) and ``evaluate``
(segments against RFM on later spend)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from segmint import pipeline
from segmint.cli._options import JsonOpt, QuietOpt, RunOpt, SeedOpt, SegmentsOpt, SpaceOpt
from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, err, out, print_json, progress_bar
from segmint.cli._output import fail as _fail
from segmint.cli._tables import segment_table
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace


def register(app: typer.Typer) -> None:
    """Add ``predict`` and ``evaluate`` to the main app."""
    app.command("predict")(predict)
    app.command("evaluate")(evaluate)


def predict(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    run_id: RunOpt = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(
            "--horizon-days",
            min=7,
            help=(
                "Churn horizon: no purchase within it counts as churn "
                "(default: derived from the customers' usual gaps between purchases, shortened "
                "to the longest a short history can test)."
            ),
        ),
    ] = None,
    seed: SeedOpt = 0,
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            envvar="SEGMINT_SPARK_MASTER",
            help="For a run made with --engine spark: the Spark master to score on (default: "
            "the run's).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Score a run's customers: lifetime value, churn risk with reasons, next purchase.

    Fits a buy-till-you-die purchase model (BG/NBD, MBG/NBD or Pareto/NBD, chosen by held-out
    error) with Gamma-Gamma spend for 12-month CLV, and churn, propensity, next-purchase and
    spend models trained on past cut-offs. The stored CLV combines BTYD with the spend model
    where that ranks customers by their next spend better on held-out time (the BTYD CLV is
    kept as clv_btyd). Every model is checked on held-out time; short histories get fewer,
    closer cut-offs, said so. The evaluation is stored with the run, shown in its report, and
    the scores join the exports.

    A run made with --engine spark is scored on Spark from the files it read: every model is
    fitted on the run's sample of customers (the purchase model on every customer's compressed
    summary) and scores every customer where the data lives.
    """
    try:
        ws = Workspace(workspace)
        with progress_bar(quiet or as_json) as progress:
            evaluation = pipeline.predict(
                ws,
                run_id=run_id,
                horizon_days=horizon_days,
                random_state=seed,
                spark_master=spark_master,
                progress=progress,
            )
            result = pipeline.load_run(ws, run_id)
            result.report_path = pipeline.write_report(ws, run_id=result.run_id)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(evaluation)
        return
    out.print(segment_table(result))
    churn = evaluation["churn"]
    table = Table(
        title=f"Churn within {churn['horizon_days']} days, held-out cut-off "
        f"{churn['test_cutoff']} ({churn['n']:,} customers, "
        f"{churn['base_rate']:.0%} churned)",
        title_justify="left",
    )
    for col in ("model", "ROC-AUC", "Brier score"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in churn["models"].items():
        table.add_row(name, f"{m['roc_auc']:.3f}", f"{m['brier']:.3f}")
    out.print(table)
    ltv = evaluation["lifetime_value"]
    hold = ltv["holdout"]
    err.print(
        f"lifetime value: {ltv['purchase_model']} + Gamma-Gamma, {ltv['clv_months']} months; "
        f"held-out {hold['holdout_days']} days ({hold['model']} fitted before them): "
        f"{hold['predicted_repeat_purchases']:,.0f} repeat "
        f"purchases predicted vs {hold['actual_repeat_purchases']:,.0f} actual "
        f"({hold['error_pct']:+.1f}%); purchase model chosen by held-out error among "
        + ", ".join(
            f"{n} {e:+.1f}%" if e is not None and e == e else f"{n} (dropout not identified)"
            for n, e in hold["error_pct_by_model"].items()
        ),
        highlight=False,
    )
    if evaluation["propensity"] is not None:  # None: the data has no categories
        mean = evaluation["propensity"]["mean"]
        err.print(
            "category propensity, mean over "
            f"{len(evaluation['propensity']['categories'])} categories "
            "(ROC-AUC / average precision): "
            + "; ".join(
                f"{name} {m['roc_auc']:.3f} / {m['average_precision']:.3f}"
                for name, m in mean.items()
            ),
            highlight=False,
        )
    err.print(_clv_ranking_line(evaluation["clv_ranking"]), highlight=False)
    alive = evaluation["p_alive"]
    err.print(f"P(alive): from the {alive['model']} ({alive['reason']})", highlight=False)
    validation = evaluation["validation"]
    derived = validation["derived_horizon_days"]
    if derived is not None and derived > validation["horizon_days"]:
        err.print(
            f"horizon: {validation['horizon_days']} days, the longest this history can test "
            f"(the customers' usual gaps suggest {derived})",
            highlight=False,
        )
    if validation["reduced_validation"]:
        err.print(
            "weak validation: the history is short, so the models learn from "
            + (
                f"{validation['n_train_cutoffs']} cut-offs {validation['step_days']} days apart"
                if validation["n_train_cutoffs"] > 1
                else "one cut-off"
            )
            + f" and are tested on {validation['held_out_customers']:,} customers at "
            f"{validation['test_cutoff']}",
            highlight=False,
        )
    nxt = evaluation["next_purchase"]
    err.print(
        f"next purchase: mean absolute error {nxt['mae_days']:.1f} days "
        f"(median baseline {nxt['median_baseline_mae_days']:.1f}); "
        f"{evaluation['high_value_at_risk']:,} high-value customers at risk",
        highlight=False,
    )
    err.print(f"report: {result.report_path}", highlight=False)


def evaluate(
    cutoff: Annotated[
        str,
        typer.Option(
            "--cutoff",
            help=(
                "Segment on the data before this date (YYYY-MM-DD) and score the spend after it."
            ),
        ),
    ],
    horizon_days: Annotated[
        int,
        typer.Option(
            "--horizon-days",
            min=1,
            help="Length of the period after the cut-off that is measured.",
        ),
    ] = 90,
    segments: SegmentsOpt = None,
    space: SpaceOpt = "useful",
    seed: SeedOpt = 0,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Check segments against later behaviour: value and interest after a cut-off, vs baselines.

    Value: eta² of log(1 + net spend); interest: eta² of each buyer's spend shares over
    categories. Nothing after the cut-off is used to find the segments; each baseline (the RFM
    ladder, k-means on log R/F/M, k-means on log R/F/M plus category shares) gets the same
    number of groups as the segments, then as the micro-segments. Also: how CLV, BTYD CLV and
    past spend rank customers by their net spend in the period (models fitted before the cut-off).
    The result is stored with the latest run and shown in its report (`segmint report`
    rewrites it).
    """
    try:
        with progress_bar(quiet or as_json) as progress:
            result = pipeline.evaluate_future_spend(
                Workspace(workspace),
                cutoff=pipeline.parse_date(cutoff, "--cutoff"),
                horizon_days=horizon_days,
                n_segments=segments,
                random_state=seed,
                space=space,
                progress=progress,
            )
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json(result)
        return
    n_categories = result["n_categories"]
    among = f"from {n_categories} categories" if n_categories > 1 else "(no categories)"
    table = Table(
        title=f"The {horizon_days} days after {cutoff}: {result['n_customers']:,} customers, "
        f"{result['n_buyers']:,} buying {among}",
        title_justify="left",
    )
    table.add_column("grouping")
    table.add_column("groups", justify="right")
    table.add_column("value eta²", justify="right")
    table.add_column("interest eta²", justify="right")
    for row in result["groupings"]:
        interest = row["interest_eta2"]
        table.add_row(
            row["grouping"] if row["grouping"] == row["level"] else f"  {row['grouping']}",
            str(row["n_groups"]),
            f"{row['value_eta2']:.4f}",
            "-" if interest is None else f"{interest:.4f}",
        )
    out.print(table)
    if "clv_ranking" in result:
        err.print(_clv_ranking_line(result["clv_ranking"]), highlight=False)
    if result["stored_with_run"] is not None:
        err.print(
            f"stored with run {result['stored_with_run']}; `segmint report` shows it in the "
            "run's report",
            highlight=False,
        )


def _clv_ranking_line(ranking: dict) -> str:
    """How well CLV, BTYD CLV and past spend rank customers by their next spend, in words."""
    if "skipped" in ranking:
        return f"CLV ranking not checked: {ranking['skipped']}"
    figures = ", ".join(f"{name} {rho:.3f}" for name, rho in ranking["spearman"].items())
    stored = f"; stored CLV: {ranking['clv']}" if "clv" in ranking else ""
    return (
        f"CLV ranking, held out at {ranking['test_cutoff']} ({ranking['n']:,} customers): "
        f"Spearman with the next {ranking['horizon_days']} days' net spend: {figures}{stored}"
    )
