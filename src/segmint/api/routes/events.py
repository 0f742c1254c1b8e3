"""POST /v1/events: one event or a batch, stored durably before the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic_core import to_json

from segmint.api.deps import EngineDep, IngestKey
from segmint.api.errors import error_responses
from segmint.api.schemas import EventBatch, EventsIn, IngestResult, normalise_events

router = APIRouter(prefix="/events", tags=["events"])

EXAMPLE = {
    "event_id": "e-1001",
    "customer_id": "c-42",
    "ts": "2024-05-01T12:00:00Z",
    "type": "purchase",
    "properties": {
        "order_id": "o-9",
        "product_id": "p-1",
        "category": "garden",
        "quantity": 2,
        "unit_price": 12.5,
    },
}


@router.post(
    "",
    response_model=IngestResult,
    summary='Send events (one, or up to 10,000 as {"events": [...]})',
    responses=error_responses(400, 401, 403, 413, 422, 429, 503),
)
async def post_events(
    engine: EngineDep,
    key: IngestKey,
    body: Annotated[EventsIn, Body(examples=[EXAMPLE])],
) -> Response:
    """Store events durably (write-ahead log, fsync'd), update the customers' live profiles and
    segments, and answer with each touched customer's segment.

    Idempotent by ``event_id``: an event sent again is acknowledged as a duplicate and not
    counted twice, also after a restart. Unknown customers are created.
    """
    events = normalise_events(body)
    batch = isinstance(body, EventBatch)
    purposes = engine.consent.policy.purposes
    wrong = [
        {
            "loc": (*(("body", "events", i) if batch else ("body",)), "properties", "purpose"),
            "msg": f"unknown consent purpose; this workspace's purposes are {', '.join(purposes)}",
            "type": "value_error",
        }
        for i, e in enumerate(events)
        if e["type"] == "consent" and e["properties"]["purpose"] not in purposes
    ]
    if wrong:
        raise RequestValidationError(wrong)
    result = await engine.ingest(events)
    # the answer names customers: only those permitted for personalisation
    shown = [
        c for c in result["customers"] if engine.consent.allows(c["customer_id"], "personalisation")
    ]
    result["withheld"] = len(result["customers"]) - len(shown)
    result["customers"] = shown
    # serialised as is: 10,000 customers are not worth re-validating on the way out
    return Response(to_json(result), media_type="application/json")
