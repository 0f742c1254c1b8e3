"""Dependencies: the engine, and the request's API key checked against the route's scopes.

The key itself is authenticated (and rate-limited) by :class:`segmint.api.guards.Guard`
before the body is read; here only its scope is checked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from segmint.api.guards import KEY_STATE
from segmint.service import Engine
from segmint.store.keys import ApiKey

#: declares the scheme in OpenAPI; the guard has read the header already
bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `segmint keys create --scope ingest|read|admin`.",
)


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]
Creds = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _authorise(request: Request, scopes: tuple[str, ...]) -> ApiKey:
    key: ApiKey | None = request.scope.get("state", {}).get(KEY_STATE)
    if key is None:  # a route outside the guarded prefix cannot ask for a key
        raise HTTPException(401, "missing API key: send `Authorization: Bearer KEY`")
    if key.scope != "admin" and key.scope not in scopes:
        needed = " or ".join(scopes + ("admin",)) if scopes else "admin"
        raise HTTPException(403, f"this key has scope {key.scope!r}; this needs {needed}")
    return key


async def require_ingest(request: Request, creds: Creds) -> ApiKey:
    return _authorise(request, ("ingest",))


async def require_read(request: Request, creds: Creds) -> ApiKey:
    return _authorise(request, ("read",))


async def require_admin(request: Request, creds: Creds) -> ApiKey:
    return _authorise(request, ())


IngestKey = Annotated[ApiKey, Depends(require_ingest)]
ReadKey = Annotated[ApiKey, Depends(require_read)]
AdminKey = Annotated[ApiKey, Depends(require_admin)]
