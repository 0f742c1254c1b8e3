"""GET /v1/stream: segment changes and alerts as server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from segmint.api.deps import EngineDep, ReadKey
from segmint.api.errors import error_responses
from segmint.api.schemas import Purpose
from segmint.service.privacy import customer_of

router = APIRouter(tags=["stream"])


@router.get(
    "/stream",
    summary="Server-sent events: segment.entered, segment.left, alert, run.loaded",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An endless `text/event-stream` (a comment line every 15 s).",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 422, 429),
    },
)
async def stream(
    request: Request,
    engine: EngineDep,
    key: ReadKey,
    max_seconds: Annotated[
        float | None, Query(gt=0, le=86400, description="Close the stream after this long.")
    ] = None,
    purpose: Annotated[Purpose, Query()] = "personalisation",
) -> StreamingResponse:
    """Messages about a customer who has not consented to ``purpose`` are left out (each one
    counted in the `withheld` field of the next keep-alive comment)."""
    engine.consent.policy.check(purpose)
    queue: asyncio.Queue = asyncio.Queue(maxsize=10_000)
    engine.subscribers.add(queue)

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = None if max_seconds is None else loop.time() + max_seconds
        withheld = 0
        try:
            yield b": connected\n\n"
            while True:
                timeout = 15.0
                if deadline is not None:
                    timeout = min(timeout, deadline - loop.time())
                    if timeout <= 0:
                        return
                try:
                    msg = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield f": keep-alive withheld={withheld}\n\n".encode()
                    continue
                customer = customer_of(msg)
                if customer is not None and not engine.consent.allows(customer, purpose):
                    withheld += 1
                    continue
                data = json.dumps(msg, default=str)
                yield f"id: {msg.get('id', '')}\nevent: {msg['type']}\ndata: {data}\n\n".encode()
        finally:
            engine.subscribers.discard(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
