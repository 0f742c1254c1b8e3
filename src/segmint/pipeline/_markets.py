"""``segmint markets``: the market view of a stored run."""

from __future__ import annotations

from pathlib import Path

from segmint.activate.markets import MarketView, market_view, read_population
from segmint.consent.policy import load_policy
from segmint.io.readers import close_source, open_source
from segmint.store.runs import get_run
from segmint.store.workspace import Workspace

_VIEW = "_segmint_population"


def markets(
    workspace: Workspace,
    *,
    by: str = "country",
    run_id: int | None = None,
    population: str | Path | None = None,
) -> MarketView:
    """The market view of a run (latest by default) per ``by`` (country or a customer
    attribute), small markets grouped under the workspace's minimum audience; ``population``
    a file of market,population rows for customers per 1,000 people."""
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        people = None
        if population is not None:
            open_source(con, population, _VIEW)
            try:
                people = read_population(con, _VIEW, str(population))
            finally:
                close_source(con, _VIEW)
        return market_view(
            con, run, by=by, min_audience=load_policy(con).min_audience, population=people
        )
