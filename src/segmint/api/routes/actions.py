"""The next best action for a customer, live."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from segmint.api.deps import EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.api.schemas import NextBestAction

router = APIRouter(prefix="/customers", tags=["customers"])


# before the customer routes: their ``{customer_id:path}`` would take the suffix as the id
@router.get(
    "/{customer_id:path}/next-best-action",
    response_model=NextBestAction,
    summary="The next best action for a customer, live",
    responses=error_responses(401, 403, 404, 422, 429, 451),
)
async def next_best_action(
    engine: EngineDep,
    key: ReadKey,
    customer_id: Annotated[str, Path(min_length=1, max_length=128)],
    limit: Annotated[int, Query(ge=1, le=50, description="Recommendations to include.")] = 5,
) -> NextBestAction:
    """The playbook action of the customer's segment now (micro-segment where it has its own
    entry): objective, the channel they consented to and can be reached on, the offer with a
    discount bounded by their expected value, the send time and the rendered message; their
    top recommendations; and the reasons. Needs personalisation consent (451 otherwise); the
    read is recorded in the audit log."""
    found = engine.next_best_action(customer_id, limit)
    engine.audit_later(
        key,
        "customer.next_best_action",
        purpose="personalisation",
        target=engine.customer_ref(customer_id),
        rows=1,
    )
    return NextBestAction(**found)
