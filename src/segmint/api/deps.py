"""Dependencies: the engine, and API-key authentication with scopes and rate limits."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from segmint.service import Engine
from segmint.store.keys import ApiKey

bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `segmint keys create --scope ingest|read|admin`.",
)


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def _authorise(
    engine: Engine, creds: HTTPAuthorizationCredentials | None, scopes: tuple[str, ...]
) -> ApiKey:
    challenge = {"WWW-Authenticate": "Bearer"}
    if creds is None or not creds.credentials:
        raise HTTPException(401, "missing API key: send `Authorization: Bearer KEY`", challenge)
    key = engine.authenticate(creds.credentials)
    if key is None:
        raise HTTPException(401, "invalid or revoked API key", challenge)
    if key.scope != "admin" and key.scope not in scopes:
        needed = " or ".join(scopes + ("admin",)) if scopes else "admin"
        raise HTTPException(403, f"this key has scope {key.scope!r}; this needs {needed}")
    wait = engine.rate.take(key.key_id)
    if wait > 0:
        raise HTTPException(
            429,
            f"rate limit of {engine.config.rate_per_second:g} requests/s per key exceeded",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key


Creds = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def require_ingest(engine: EngineDep, creds: Creds) -> ApiKey:
    return _authorise(engine, creds, ("ingest",))


async def require_read(engine: EngineDep, creds: Creds) -> ApiKey:
    return _authorise(engine, creds, ("read",))


async def require_admin(engine: EngineDep, creds: Creds) -> ApiKey:
    return _authorise(engine, creds, ())


IngestKey = Annotated[ApiKey, Depends(require_ingest)]
ReadKey = Annotated[ApiKey, Depends(require_read)]
AdminKey = Annotated[ApiKey, Depends(require_admin)]
