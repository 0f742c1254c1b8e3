"""What a request passes before any route reads it: the size of its headers, an API key, and
the size of its body.

The key is checked here, in front of FastAPI, because FastAPI parses a JSON body before it
runs a route's dependencies: checked there, a bad key would cost the parse of a 10 MB body.
Failed authentications are counted per client address; an address over its allowance gets
429 for every request with a key until its allowance refills, before the key is looked at.
The route's dependency (:mod:`segmint.api.deps`) then only checks the key's scope.
"""

from __future__ import annotations

import math

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from segmint.api.errors import problem

#: the scope entry where the authenticated key is left for the routes
KEY_STATE = "api_key"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit:,} bytes")


class Guard:
    """ASGI middleware in front of the app.

    Parameters
    ----------
    app : ASGI app
    max_header_bytes : int
        Largest total size of the request line's target and the headers (431 above it).
    max_body_bytes : int
        Largest body (by Content-Length, or counted while it streams in; 413 above it).
    protected : str
        Path prefix whose requests need an API key (``/v1``).
    """

    def __init__(
        self, app: ASGIApp, *, max_header_bytes: int, max_body_bytes: int, protected: str
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_sizes(scope) or self._authenticate(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, self._limited(receive), send)

    def _check_sizes(self, scope: Scope) -> JSONResponse | None:
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        size += sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if size > self.max_header_bytes:
            return problem(
                431, f"the request headers are larger than {self.max_header_bytes:,} bytes"
            )
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return problem(400, "invalid Content-Length header")
                if length > self.max_body_bytes:
                    return problem(413, str(BodyTooLarge(self.max_body_bytes).detail))
        return None

    def _authenticate(self, scope: Scope) -> JSONResponse | None:
        path = scope["path"]
        if not (path == self.protected or path.startswith(self.protected + "/")):
            return None
        engine = scope["app"].state.engine
        client = scope["client"][0] if scope.get("client") else "unknown"
        blocked = engine.failed_auth.wait(client)
        if blocked > 0:
            return problem(
                429,
                f"too many failed authentications from {client}; retry later",
                headers={"Retry-After": str(max(1, math.ceil(blocked)))},
            )
        token = _bearer(scope["headers"])
        if token is None:
            return problem(
                401, "missing API key: send `Authorization: Bearer KEY`", headers=_CHALLENGE
            )
        key = engine.authenticate(token)
        if key is None:
            engine.failed_auth.take(client)
            return problem(401, "invalid or revoked API key", headers=_CHALLENGE)
        wait = engine.rate.take(key.key_id)
        if wait > 0:
            return problem(
                429,
                f"rate limit of {engine.config.rate_per_second:g} requests/s per key exceeded",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        scope.setdefault("state", {})[KEY_STATE] = key
        return None

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return limited


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None
