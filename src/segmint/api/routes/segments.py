"""Segments of the loaded run with live sizes, their micro-segments, and paged members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from segmint.api.deps import EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.api.schemas import (
    Members,
    MicroSegmentList,
    MicroSegmentOut,
    Purpose,
    SegmentList,
    SegmentOut,
)
from segmint.service import NotFound

router = APIRouter(prefix="/segments", tags=["segments"])
SegmentId = Annotated[int, Path(ge=-1, le=10_000)]


def _segment(engine, segment_id: int, live: dict[int, int]) -> SegmentOut:
    seg = engine.live.segments.get(segment_id)
    if seg is None:
        known = sorted(engine.live.segments)
        raise NotFound(f"no segment {segment_id} in the loaded run; segments: {known or 'none'}")
    return SegmentOut(**seg, live_size=live.get(segment_id, 0))


@router.get(
    "",
    response_model=SegmentList,
    summary="Segments of the latest run",
    responses=error_responses(401, 403, 429),
)
async def list_segments(engine: EngineDep, key: ReadKey) -> SegmentList:
    live = engine.live.live_sizes()
    return SegmentList(
        run_id=engine.live.run_id,
        segments=[_segment(engine, s, live) for s in sorted(engine.live.segments)],
    )


@router.get(
    "/{segment_id}",
    response_model=SegmentOut,
    summary="One segment",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def get_segment(engine: EngineDep, key: ReadKey, segment_id: SegmentId) -> SegmentOut:
    return _segment(engine, segment_id, engine.live.live_sizes())


@router.get(
    "/{segment_id}/members",
    response_model=Members,
    summary="Customers in a segment now, by customer id, paged",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def segment_members(
    engine: EngineDep,
    key: ReadKey,
    segment_id: SegmentId,
    cursor: Annotated[
        str | None, Query(max_length=128, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    purpose: Annotated[Purpose, Query()] = "analytics",
) -> Members:
    """Only customers ``purpose`` is permitted for (the others are counted in
    `consent.withheld`); a segment under the minimum audience size is refused (403). Each
    page read is recorded in the audit log."""
    if segment_id not in engine.live.segments:
        _segment(engine, segment_id, {})
    engine.consent.policy.check(purpose)
    ids, nxt, summary = engine.members(segment_id, purpose, cursor, limit)
    engine.audit_later(
        key, "members.read", purpose=purpose, target=f"segment {segment_id}", rows=len(ids)
    )
    return Members(segment_id=segment_id, customer_ids=ids, next_cursor=nxt, consent=summary)


@router.get(
    "/{segment_id}/micro-segments",
    response_model=MicroSegmentList,
    summary="The micro-segments centred in a segment: names, rules, sizes and value shares",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def segment_micro_segments(
    engine: EngineDep, key: ReadKey, segment_id: SegmentId
) -> MicroSegmentList:
    """The micro-segments most of whose customers are in this segment (micro-segments are tastes
    found across all customers), each named by what sets it apart from everyone, with the rule
    that separates it from all other customers and the share of its customers in this segment;
    largest first."""
    _segment(engine, segment_id, {})
    live = engine.live.live_micro_sizes()
    found = [m for m in engine.live.micro_segments.values() if m["segment_id"] == segment_id]
    found.sort(key=lambda m: -m["size"])
    # a group smaller than the minimum audience is not described: it could single people out
    smallest = engine.consent.policy.min_audience
    shown = [m for m in found if m["size"] >= smallest]
    return MicroSegmentList(
        run_id=engine.live.run_id,
        segment_id=segment_id,
        micro_segments=[
            MicroSegmentOut(**m, live_size=live.get(m["micro_segment_id"], 0)) for m in shown
        ],
        withheld_groups=len(found) - len(shown),
    )
