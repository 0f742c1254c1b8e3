"""GET /v1/customers/{customer_id}: live profile, segment and predictions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from segmint.api.deps import EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.api.schemas import CustomerOut
from segmint.service import NotFound

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get(
    "/{customer_id}",
    response_model=CustomerOut,
    summary="A customer's live profile and segment",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def get_customer(
    engine: EngineDep,
    key: ReadKey,
    customer_id: Annotated[str, Path(min_length=1, max_length=128)],
) -> CustomerOut:
    """Profile features as of the live clock (the latest run's date, moved on by event time),
    the segment with its rule and the assignment confidence, and the latest predictions where
    the workspace has them."""
    found = engine.live.customer(customer_id)
    if found is None:
        raise NotFound(f"no customer {customer_id!r}")
    found["predictions"] = await engine.predictions(customer_id)
    return CustomerOut(**found)
