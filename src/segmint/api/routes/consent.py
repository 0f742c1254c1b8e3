"""Consent changes into the ledger, its latest signed checkpoint, and customers' proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from segmint.api.deps import AdminKey, EngineDep, IngestKey, ReadKey
from segmint.api.errors import error_responses
from segmint.api.schemas import Checkpoint, ConsentIn, ConsentRecorded
from segmint.consent.ledger import latest_checkpoint, proof
from segmint.errors import SegmintError
from segmint.service import NotFound
from segmint.store.workspace import utcnow

router = APIRouter(prefix="/consent", tags=["consent"])


@router.post(
    "",
    response_model=ConsentRecorded,
    status_code=201,
    summary="Record consent changes in the ledger",
    responses=error_responses(400, 401, 403, 413, 422, 429),
)
async def record_consent(engine: EngineDep, key: IngestKey, body: ConsentIn) -> ConsentRecorded:
    """Each change (customer, purpose, granted or withdrawn, when, source, evidence) is
    appended to the tamper-evident ledger, a new checkpoint is signed, and every output
    (member lists, customer reads, webhooks, the stream, exports) follows it from now on."""
    rows = [
        {
            "customer_id": c.customer_id,
            "purpose": c.purpose,
            "status": c.status,
            "source": c.source or "api",
            "ts": (c.ts.replace(tzinfo=None) if c.ts else utcnow()),
            "evidence": c.evidence,
        }
        for c in body.changes
    ]
    done = await engine.record_consent(rows, key)
    return ConsentRecorded(
        first_seq=done.first_seq, count=done.count, checkpoint=Checkpoint(**done.checkpoint)
    )


@router.get(
    "/checkpoint",
    response_model=Checkpoint,
    summary="The ledger's latest signed checkpoint (to publish)",
    responses=error_responses(401, 403, 404, 429),
)
async def checkpoint(engine: EngineDep, key: ReadKey) -> Checkpoint:
    found = await engine.db(latest_checkpoint)
    if found is None:
        raise NotFound("the consent ledger is empty: no checkpoint yet")
    return Checkpoint(**found)


@router.get(
    "/proof/{customer_id:path}",
    summary="A proof of a customer's consent state (admin)",
    responses=error_responses(401, 403, 404, 429),
)
async def customer_proof(
    engine: EngineDep, key: AdminKey, customer_id: Annotated[str, Path(max_length=128)]
) -> dict[str, Any]:
    """Their latest entry per purpose with inclusion proofs against the latest signed
    checkpoint, checkable without segmint by the standalone verifier."""
    try:
        return await engine.db(proof, engine.workspace.path, customer_id)
    except SegmintError as exc:  # an unknown or erased customer has nothing to prove
        raise NotFound(str(exc)) from None
