"""GET /health: no key needed."""

from __future__ import annotations

from fastapi import APIRouter

from segmint.api.deps import EngineDep
from segmint.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness and what is loaded")
async def health(engine: EngineDep) -> Health:
    sources = engine.live.sources
    return Health(
        status="ok" if engine.ready else "starting",
        run_id=engine.live.run_id,
        customers=len(engine.live.ids),
        events_pending=engine.buffered_events,
        sources_pending=0 if sources is None else len(sources.stale) + len(sources.refreshing),
        sources_lag_s=0.0 if sources is None else round(sources.lag_s(), 3),
        sources_refreshed=0 if sources is None else sources.refreshed,
    )
