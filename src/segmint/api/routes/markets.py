"""GET /v1/markets: the market view per country or customer attribute."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from segmint.activate.markets import market_view
from segmint.api.deps import EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.consent.policy import load_policy
from segmint.store.runs import get_run

router = APIRouter(prefix="/markets", tags=["markets"])


class MarketsOut(BaseModel):
    run_id: int
    as_of: str
    by: str
    min_audience: int
    high_value: str
    markets: list[dict[str, Any]]


@router.get(
    "",
    response_model=MarketsOut,
    summary="Markets: customers, segment mix, value, growth, penetration, where to expand",
    responses=error_responses(400, 401, 403, 404, 422, 429, 503),
)
async def get_markets(
    engine: EngineDep,
    key: ReadKey,
    by: Annotated[str, Query(max_length=200, description="country or a customer attribute")] = (
        "country"
    ),
    run: Annotated[int | None, Query(ge=1, description="Run id (default: the loaded run)")] = None,
) -> MarketsOut:
    """One row per market, ranked by ``expand_score`` (see ``segmint markets --help``); markets
    under the minimum audience are grouped as ``other``."""

    def compute(con) -> dict:
        found = get_run(con, run or engine.live.run_id)
        view = market_view(con, found, by=by, min_audience=load_policy(con).min_audience)
        return view.to_dict()

    return MarketsOut(**await engine.db(compute))
