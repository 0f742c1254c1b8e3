"""Product recommendations of the loaded run: per customer (under a consent purpose) and the
items featured per segment (`segmint recommend` stores them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from segmint.api.deps import EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.api.schemas import Purpose
from segmint.errors import AudienceTooSmall
from segmint.realtime.live import UNASSIGNED
from segmint.service import NotFound

router = APIRouter(tags=["recommendations"])
CustomerId = Annotated[str, Path(min_length=1, max_length=128)]
SegmentId = Annotated[int, Path(ge=-1, le=10_000)]
Count = Annotated[int, Query(ge=1, le=100, description="How many items, best first.")]


class Item(BaseModel):
    product_id: str
    description: str
    score: float


class SegmentRecommendations(BaseModel):
    run_id: int | None
    segment_id: int | None = None
    source: str = Field(
        description="`customer`: the customer's own; `segment`: the segment's featured "
        "items (for a customer: one the run has no recommendations for); `none`: nothing "
        "stored."
    )
    items: list[Item]


class Recommendations(SegmentRecommendations):
    customer_id: str


# registered before the customers routes: their ``{customer_id:path}`` would take this path
@router.get(
    "/customers/{customer_id:path}/recommendations",
    response_model=Recommendations,
    summary="A customer's recommended products",
    responses=error_responses(401, 403, 404, 422, 429, 451),
)
async def customer_recommendations(
    engine: EngineDep,
    key: ReadKey,
    customer_id: CustomerId,
    n: Count = 10,
    purpose: Annotated[Purpose, Query()] = "personalisation",
) -> Recommendations:
    """The customer's top ``n`` products of the loaded run (items they already bought left
    out), or their live segment's featured items when the run has none for them. Only for a
    customer ``purpose`` is permitted for (451 otherwise); every read is audited."""
    engine.check_consent(customer_id, purpose)
    person = engine.live.resolve(customer_id)
    row = engine.live.row(person)
    segment = None if row is None else int(engine.live.seg[row])
    if segment == UNASSIGNED:
        segment = None
    book = engine.recommendation_book()
    own = book.has_customer(person)
    items = book.for_customer(person, n, segment_id=segment)
    engine.audit_later(
        key,
        "recommendations.read",
        purpose=purpose,
        target=engine.customer_ref(customer_id),
        rows=len(items),
    )
    if row is None and not own:
        raise NotFound(f"no customer {customer_id!r}")
    source = "customer" if own else ("segment" if items else "none")
    return Recommendations(
        run_id=book.run_id,
        customer_id=customer_id,
        segment_id=segment,
        source=source,
        items=[Item(**i) for i in items],
    )


@router.get(
    "/segments/{segment_id}/recommendations",
    response_model=SegmentRecommendations,
    summary="A segment's featured products",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def segment_recommendations(
    engine: EngineDep, key: ReadKey, segment_id: SegmentId, n: Count = 10
) -> SegmentRecommendations:
    """The products most of the segment's customers bought (score: the share who did). A
    segment under the minimum audience size is refused (403)."""
    seg = engine.live.segments.get(segment_id)
    if seg is None:
        known = sorted(engine.live.segments)
        raise NotFound(f"no segment {segment_id} in the loaded run; segments: {known or 'none'}")
    minimum = engine.consent.policy.min_audience
    if seg["size"] < minimum:
        raise AudienceTooSmall(
            f"segment {segment_id} has {seg['size']} customers, under the minimum audience of "
            f"{minimum}; its featured products are not shown"
        )
    book = engine.recommendation_book()
    items = book.for_segment(segment_id, n)
    return SegmentRecommendations(
        run_id=book.run_id,
        segment_id=segment_id,
        source="segment" if items else "none",
        items=[Item(**i) for i in items],
    )
