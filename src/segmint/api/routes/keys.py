"""API keys through the API (admin), for when the server holds the workspace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from segmint.api.deps import AdminKey, EngineDep
from segmint.api.errors import error_responses
from segmint.api.schemas import KeyCreate, KeyCreated, KeyList, KeyOut

router = APIRouter(prefix="/keys", tags=["keys"])


@router.post(
    "",
    response_model=KeyCreated,
    status_code=201,
    summary="Create an API key (shown once)",
    responses=error_responses(400, 401, 403, 413, 422, 429),
)
async def create_key(engine: EngineDep, key: AdminKey, body: KeyCreate) -> KeyCreated:
    new, token = await engine.create_key(body.scope, body.name, actor=f"key:{key.key_id}")
    return KeyCreated(**new.to_dict(), key=token)


@router.get(
    "", response_model=KeyList, summary="API keys", responses=error_responses(401, 403, 429)
)
async def list_keys(engine: EngineDep, key: AdminKey) -> KeyList:
    return KeyList(keys=[KeyOut(**k.to_dict()) for k in engine.keys.values()])


@router.delete(
    "/{key_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke an API key",
    responses=error_responses(401, 403, 404, 422, 429),
)
async def revoke_key(
    engine: EngineDep, key: AdminKey, key_id: Annotated[str, Path(max_length=64)]
) -> Response:
    await engine.revoke_key(key_id, actor=f"key:{key.key_id}")
    return Response(status_code=204)
