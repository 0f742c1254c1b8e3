"""The app factory and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from segmint import __version__
from segmint.api.errors import fix_openapi, install_handlers
from segmint.api.guards import Guard
from segmint.api.routes import (
    actions,
    alerts,
    consent,
    customers,
    demand,
    events,
    health,
    keys,
    markets,
    recommendations,
    runs,
    segments,
    stream,
    webhooks,
)
from segmint.dashboard import install_dashboard
from segmint.service import Engine, ServiceConfig
from segmint.service.notify import Notifier
from segmint.store.workspace import Workspace

API_PREFIX = "/v1"
#: where the documentation pages' scripts and styles are served
DOCS_ASSETS = "/docs-assets"


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(workspace: Workspace | str | Path, config: ServiceConfig | None = None) -> FastAPI:
    """Build the service for one workspace.

    Parameters
    ----------
    workspace : Workspace or path
        The workspace the batch pipeline writes; created if missing.
    config : ServiceConfig, optional
        Limits (body size, rate per key) and timings.

    Examples
    --------
    >>> import uvicorn                                         # doctest: +SKIP
    >>> uvicorn.run(create_app("segmint-workspace"), port=8000)  # doctest: +SKIP
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    cfg = config or ServiceConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = Engine(ws, cfg)
        app.state.engine = engine
        notifier = Notifier(engine)
        engine.notifier = notifier
        await engine.start()
        await notifier.start()
        dashboard = app.state.dashboard
        await dashboard.warm(engine)
        engine.on_reload.append(lambda: dashboard.warm(engine))
        try:
            yield
        finally:
            await notifier.stop()
            await engine.stop()

    # Swagger UI and ReDoc from the assets fastapi-offline ships, not from a CDN: /docs works
    # on a machine without internet access
    app = FastAPIOffline(
        title="segmint",
        version=__version__,
        summary="Events in; live customer profiles, segments, alerts and webhooks out.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        static_url=DOCS_ASSETS,
    )
    app.add_middleware(
        Guard,
        max_header_bytes=cfg.max_header_bytes,
        max_body_bytes=cfg.max_body_bytes,
        protected=API_PREFIX,
    )
    install_handlers(app)
    app.include_router(health.router)
    v1 = APIRouter(prefix=API_PREFIX)
    # actions before customers: ``/customers/{id:path}`` would match its suffixed paths
    for module in (
        events,
        consent,
        actions,
        recommendations,
        customers,
        segments,
        runs,
        alerts,
        webhooks,
        stream,
        keys,
        demand,
        markets,
    ):
        v1.include_router(module.router)
    app.include_router(v1)
    install_dashboard(app)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            app.openapi_schema = fix_openapi(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
