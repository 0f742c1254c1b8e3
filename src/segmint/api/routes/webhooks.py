"""Webhooks (admin): register, list, delete, and each one's delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from segmint.api.deps import AdminKey, EngineDep
from segmint.api.errors import error_responses
from segmint.api.schemas import (
    DeliveryList,
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
)
from segmint.realtime.urlguard import resolve_destination
from segmint.service import NotFound
from segmint.store import outbox
from segmint.store import webhooks as store

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
WebhookId = Annotated[str, Path(max_length=64)]


def _public(w: dict) -> WebhookOut:
    return WebhookOut(**{k: w[k] for k in WebhookOut.model_fields})


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=201,
    summary="Register a webhook",
    responses=error_responses(400, 401, 403, 413, 422, 429),
)
async def create_webhook(engine: EngineDep, key: AdminKey, body: WebhookCreate) -> WebhookCreated:
    """Notifications are POSTed as JSON with headers ``X-Segmint-Signature: t=TIMESTAMP,
    v1=HEX`` where HEX is HMAC-SHA256(secret, "TIMESTAMP." + body), ``X-Segmint-Event`` and
    ``X-Segmint-Delivery`` (the same on every retry: delivery is at least once). Connection
    errors, timeouts, 429 and 5xx answers are retried with exponential back-off. The URL must
    resolve to public addresses only (checked now and before every delivery). Notifications
    about customers serve ``purpose``: customers who have not consented to it are left out
    (counted in `withheld`), and customers are named by this webhook's own pseudonym unless
    ``raw_ids`` (recorded in the audit log)."""
    url = str(body.url)
    engine.consent.policy.check(body.purpose)
    await resolve_destination(url, engine.webhook_policy)
    w = await engine.db(
        lambda con: store.create_webhook(
            con,
            url=url,
            event_types=list(body.event_types),
            description=body.description,
            box=engine.box,
            purpose=body.purpose,
            raw_ids=body.raw_ids,
        )
    )
    # a webhook is an output of customer data: who registered it, for what, with which ids
    engine.audit_later(
        key,
        "webhook.create",
        purpose=body.purpose,
        target=w["webhook_id"],
        detail={"raw_ids": body.raw_ids, "event_types": list(body.event_types)},
    )
    return WebhookCreated(**{k: w[k] for k in WebhookCreated.model_fields})


@router.get(
    "", response_model=WebhookList, summary="Webhooks", responses=error_responses(401, 403, 429)
)
async def list_webhooks(engine: EngineDep, key: AdminKey) -> WebhookList:
    rows = await engine.db(store.list_webhooks)
    return WebhookList(webhooks=[_public(w) for w in rows])


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def delete_webhook(engine: EngineDep, key: AdminKey, webhook_id: WebhookId) -> Response:
    if not await engine.delete_webhook(webhook_id):
        raise NotFound(f"no webhook {webhook_id!r}")
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryList,
    summary="A webhook's delivery log, newest first",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def deliveries(
    engine: EngineDep,
    key: AdminKey,
    webhook_id: WebhookId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    if await engine.db(store.get_webhook, webhook_id) is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    rows = await engine.db(lambda con: outbox.list_deliveries(con, webhook_id, limit=limit))
    return DeliveryList(deliveries=[DeliveryOut(**r) for r in rows])
