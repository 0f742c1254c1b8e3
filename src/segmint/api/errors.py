"""Errors as problem JSON (RFC 9457): handlers and OpenAPI responses."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from segmint.api.schemas import ID_PATTERN, TEXT_PATTERN, Problem
from segmint.errors import (
    AudienceTooSmall,
    ConsentError,
    DataValidationError,
    ModelError,
    SegmintError,
    WorkspaceError,
)
from segmint.service import Conflict, NotFound, ServiceUnavailable

log = logging.getLogger("segmint.api")
PROBLEM = "application/problem+json"
PATTERN_MESSAGES = {
    ID_PATTERN: "identifiers may not contain control characters (NUL included) "
    "or start or end with whitespace",
    TEXT_PATTERN: "text may not contain NUL characters",
}


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
    title: str | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": f"https://segmint.dev/problems/{phrase.lower().replace(' ', '-')}",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def status_for(exc: SegmintError) -> int:
    if isinstance(exc, ConsentError):
        return 451  # Unavailable For Legal Reasons
    if isinstance(exc, AudienceTooSmall):
        return 403
    if isinstance(exc, LookupError | NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, DataValidationError | ModelError):
        return 422
    if isinstance(exc, ServiceUnavailable | WorkspaceError):
        return 503
    return 400


def _loc(loc: tuple) -> list:
    out = [p if isinstance(p, int) else str(p) for p in loc]
    if len(out) > 1 and out[0] == "body" and out[1] in ("event", "batch"):
        del out[1]  # the single-event-or-batch tag says nothing the caller needs
    return out


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        malformed = False
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                malformed = True
            msg = str(e.get("msg", "invalid"))
            if e.get("type") == "string_pattern_mismatch":
                msg = PATTERN_MESSAGES.get((e.get("ctx") or {}).get("pattern"), msg)
            errors.append({"loc": _loc(tuple(e.get("loc", ()))), "msg": msg, "type": e.get("type")})
        if malformed:
            return problem(400, "the request body is not valid JSON", errors=errors[:20])
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem(
            422,
            f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}",
            errors=errors[:100],
        )

    @app.exception_handler(SegmintError)
    async def _segmint(request: Request, exc: SegmintError) -> JSONResponse:
        status = status_for(exc)
        headers = {"Retry-After": "1"} if status == 503 else None
        return problem(status, str(exc), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it has been logged")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses an operation can give."""
    text = {
        400: "Malformed request (e.g. the body is not JSON).",
        401: "Missing or invalid API key.",
        403: "The API key's scope does not allow this, or the group is under the minimum "
        "audience size.",
        404: "Not found.",
        409: "Conflicts with work in progress.",
        413: "Request body too large.",
        422: "Invalid input; `errors` lists each problem with its location.",
        429: "Rate limit exceeded; see Retry-After.",
        451: "The customer has not consented to this purpose, or was erased.",
        503: "Starting, stopping, or the workspace is unavailable; retry later.",
    }
    return {c: {"model": Problem, "description": text[c]} for c in codes}


def fix_openapi(schema: dict) -> dict:
    """Problem responses as ``application/problem+json``; drop FastAPI's default 422 schema."""
    ref = {"$ref": "#/components/schemas/Problem"}
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for code, resp in op.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    resp["content"] = {PROBLEM: {"schema": ref}}
    comps = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        comps.pop(name, None)
    return schema
