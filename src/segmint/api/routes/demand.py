"""GET /v1/demand: expected orders per category (or segment x category) over the next weeks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from segmint.activate.demand import MAX_WEEKS, demand_forecast
from segmint.api.deps import EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.consent.policy import load_policy
from segmint.store.runs import get_run

router = APIRouter(prefix="/demand", tags=["demand"])


class DemandOut(BaseModel):
    run_id: int
    as_of: str
    weeks: int
    by: str
    method: str
    note: str
    level: float
    withheld_segments: int
    rows: list[dict[str, Any]]


@router.get(
    "",
    response_model=DemandOut,
    summary="Expected orders per category or segment x category, with an interval, against "
    "the recent run rate",
    responses=error_responses(400, 401, 403, 404, 422, 429, 503),
)
async def get_demand(
    engine: EngineDep,
    key: ReadKey,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS)] = 4,
    by: Literal["category", "segment"] = "category",
    run: Annotated[int | None, Query(ge=1, description="Run id (default: the loaded run)")] = None,
) -> DemandOut:
    """Orders containing each category expected over ``weeks`` weeks after the run's as-of
    date: customers' expected purchases (with predictions) spread by each segment's category
    mix and blended with the run rate, else the run rate (``method`` and ``note`` say which);
    a 90% interval; segments under the minimum audience left out."""

    def compute(con) -> dict:
        found = get_run(con, run or engine.live.run_id)
        result = demand_forecast(
            con, found, weeks=weeks, by=by, min_audience=load_policy(con).min_audience
        )
        return result.to_dict()

    return DemandOut(**await engine.db(compute))
