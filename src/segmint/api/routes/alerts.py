"""GET /v1/alerts: changes detected in segments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from segmint.api.deps import EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.api.schemas import AlertList, AlertOut
from segmint.store.alerts import list_alerts

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get(
    "",
    response_model=AlertList,
    summary="Alerts raised by change detection, newest first",
    responses=error_responses(401, 403, 422, 429),
)
async def get_alerts(
    engine: EngineDep, key: ReadKey, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> AlertList:
    rows = await engine.db(lambda con: list_alerts(con, limit=limit))
    return AlertList(alerts=[AlertOut(**r) for r in rows])
