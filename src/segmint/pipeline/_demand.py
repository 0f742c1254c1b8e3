"""``segmint demand``: expected orders per category (and per segment) after a stored run."""

from __future__ import annotations

from segmint.activate.demand import DemandForecast, demand_forecast
from segmint.consent.policy import load_policy
from segmint.store.runs import get_run
from segmint.store.workspace import Workspace


def demand(
    workspace: Workspace,
    *,
    weeks: int = 4,
    by: str = "category",
    run_id: int | None = None,
    level: float = 0.9,
) -> DemandForecast:
    """Expected orders over the next ``weeks`` weeks after the run's as-of date, per category
    (``by="category"``) or per segment × category (``by="segment"``; segments under the
    minimum audience left out and counted)."""
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        return demand_forecast(
            con, run, weeks=weeks, by=by, level=level, min_audience=load_policy(con).min_audience
        )
