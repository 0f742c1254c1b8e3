"""Runs: list them, and trigger a batch refit (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from segmint.api.deps import AdminKey, EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.api.schemas import RunCreate, RunList, RunOut, RunStatus
from segmint.service import Engine
from segmint.store.runs import list_runs

router = APIRouter(prefix="/runs", tags=["runs"])


def _status(engine: Engine) -> RunStatus:
    r = engine.refits.last
    return RunStatus(
        state=r.state,
        run_id=r.run_id,
        started_at=r.started_at,
        finished_at=r.finished_at,
        error=r.error,
        trigger=r.trigger,
        next_scheduled_at=engine.refits.next_at,
    )


@router.get(
    "",
    response_model=RunList,
    summary="Stored runs and the state of the last refit",
    responses=error_responses(401, 403, 429),
)
async def get_runs(engine: EngineDep, key: ReadKey) -> RunList:
    runs = await engine.db(list_runs)
    return RunList(
        runs=[RunOut(**{k: r[k] for k in RunOut.model_fields}) for r in runs],
        refit=_status(engine),
    )


@router.post(
    "",
    response_model=RunStatus,
    status_code=202,
    summary="Refit the segmentation on all stored data (runs in the background)",
    responses=error_responses(400, 401, 403, 409, 413, 422, 429),
)
async def post_run(
    engine: EngineDep, key: AdminKey, body: Annotated[RunCreate | None, Body()] = None
) -> RunStatus:
    """Starts `segment` on everything stored so far (events received up to now included); when
    it finishes, the service assigns customers with the new run's model. Poll GET /v1/runs."""
    body = body or RunCreate()
    engine.refits.start(body.n_segments, body.random_state)
    return _status(engine)
