"""GET /health: no key needed."""

from __future__ import annotations

from fastapi import APIRouter

from segmint.api.deps import EngineDep
from segmint.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness and what is loaded")
async def health(engine: EngineDep) -> Health:
    return Health(
        status="ok" if engine.ready else "starting",
        run_id=engine.live.run_id,
        customers=len(engine.live.ids),
        events_pending=engine.buffered_events,
    )
