"""A customer's live profile (read, under a declared consent purpose), and erasure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from segmint.api.deps import AdminKey, EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.api.schemas import CustomerOut, Erased, Purpose
from segmint.service import NotFound

router = APIRouter(prefix="/customers", tags=["customers"])
CustomerId = Annotated[str, Path(min_length=1, max_length=128)]


# ``:path``: ids may hold ``/`` (sent as %2F, which the server decodes before routing)
@router.get(
    "/{customer_id:path}",
    response_model=CustomerOut,
    summary="A customer's live profile and segment",
    responses=error_responses(401, 403, 404, 422, 429, 451),
)
async def get_customer(
    engine: EngineDep,
    key: ReadKey,
    customer_id: CustomerId,
    purpose: Annotated[Purpose, Query()] = "analytics",
) -> CustomerOut:
    """Profile features as of the live clock (the latest run's date, moved on by event time),
    the segment with its rule and the assignment confidence, and the latest predictions where
    the workspace has them. Only for a customer ``purpose`` is permitted for (451 otherwise);
    every read is recorded in the audit log."""
    found = engine.read_customer(customer_id, key, purpose)
    if found is None:
        raise NotFound(f"no customer {customer_id!r}")
    found["predictions"] = await engine.predictions(customer_id)
    return CustomerOut(**found)


@router.delete(
    "/{customer_id:path}",
    response_model=Erased,
    summary="Erase a customer (admin)",
    # 404: an id with a line break or other control character matches no route
    responses=error_responses(401, 403, 404, 422, 429),
)
async def erase_customer(engine: EngineDep, key: AdminKey, customer_id: CustomerId) -> Erased:
    """Remove the customer's personal data from every table (and the identifiers linked to
    them), destroy their consent-ledger key (the ledger still verifies) and log the erasure
    in the ledger and the audit log. From now on no output includes them, also if their data
    is ingested again. The deleted bytes leave the database file when the service stops (the
    file is then rewritten). Erasing an unknown customer still remembers them as erased."""
    return Erased(**await engine.erase(customer_id, key))
