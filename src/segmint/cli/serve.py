"""Commands: serve, keys (create, list, revoke)."""

from __future__ import annotations

import copy
from typing import Annotated

import typer
from rich.table import Table

from segmint.cli._output import DEFAULT_WORKSPACE, WorkspaceOpt, err, out, print_json
from segmint.cli._output import fail as _fail
from segmint.consent.audit import local_actor, record
from segmint.errors import SegmintError
from segmint.service.auth import create_key
from segmint.store.keys import list_keys, revoke_key
from segmint.store.workspace import Workspace

keys_app = typer.Typer(
    help="API keys of the service: create (printed once), list, revoke.", no_args_is_help=True
)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``30m``, ``24h`` or ``7d``."""
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        seconds = float(value) * _UNITS[unit]
    except (KeyError, ValueError):
        raise ValueError(
            f"{text!r} is not a duration; expected a number and a unit s, m, h or d, e.g. 24h"
        ) from None
    if not (1 <= seconds < float("inf")):
        raise ValueError(f"{text!r} is too short; a refit needs at least 1s between runs")
    return seconds


def serve(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    rate_limit: Annotated[
        float, typer.Option(min=0.1, help="Requests per second allowed per API key.")
    ] = 2000.0,
    max_body_mb: Annotated[
        float, typer.Option(min=0.001, help="Largest request body accepted, in MB.")
    ] = 10.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    auth_failures: Annotated[
        int,
        typer.Option(
            min=1,
            help="Failed authentications allowed per client address per minute; past them "
            "the address gets 429 until its allowance refills.",
        ),
    ] = 30,
    allow_loopback_webhooks: Annotated[
        bool,
        typer.Option(
            help="Let webhooks call loopback addresses (127.0.0.1, ::1, localhost), for local "
            "testing; private, link-local and metadata addresses stay refused.",
        ),
    ] = False,
    refit_every: Annotated[
        str | None,
        typer.Option(
            help="Refit the segmentation on all stored data this often, e.g. 24h, 30m, 1d "
            "(skipped when no event arrived since the last refit). Default: only on "
            "POST /v1/runs.",
            metavar="DURATION",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API and the web dashboard: events in, live profiles, segments, alerts and
    webhooks out; the dashboard at / (sign in with a read or admin API key)."""
    import uvicorn

    from segmint.api import ServiceConfig, create_app

    try:
        interval = None if refit_every is None else parse_duration(refit_every)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--refit-every") from None
    config = ServiceConfig(
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        rate_per_second=rate_limit,
        rate_burst=max(rate_limit * 2, 10.0),
        auth_failures_per_minute=auth_failures,
        refit_interval_s=interval,
        allow_loopback_webhooks=allow_loopback_webhooks,
        port=port,
    )
    ws = Workspace(workspace)
    try:  # a locked or broken workspace is one line here, not a traceback from the app's start
        with ws.connect(create=True):
            pass
    except SegmintError as exc:
        raise _fail(exc) from None
    app = create_app(ws, config)
    err.print(
        f"segmint serving {workspace} on http://{host}:{port} (dashboard at /, docs at /docs)"
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=_log_config(log_level),
        access_log=access_log,
        timeout_graceful_shutdown=10,
        # h11 rather than httptools: httptools buffers headers without any bound, h11 stops
        # at this size; the app refuses larger complete header blocks with 431
        http="h11",
        h11_max_incomplete_event_size=config.max_header_bytes,
    )


def _log_config(level: str) -> dict:
    """uvicorn's logging, with segmint's own loggers on the same console handler (otherwise
    their INFO lines would be dropped: only uvicorn's loggers get a handler)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["segmint"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option("--scope", "-s", help="ingest, read or admin.")],
    name: Annotated[str | None, typer.Option("--name", help="A label for the key.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Create an API key; the key is printed once, as the last line of stdout."""
    try:
        ws = Workspace(workspace)
        with ws.transaction(create=True) as con:
            key, token = create_key(con, scope=scope, name=name)
            record(
                con,
                ws.path,
                actor=local_actor(),
                action="key.create",
                target=key.key_id,
                detail={"scope": scope},
            )
    except SegmintError as exc:
        raise _fail(exc) from None
    err.print(f"created {key.scope} key {key.key_id}; store it now, it is not shown again")
    print(token)


@keys_app.command("list")
def keys_list(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """List API keys (never the keys themselves)."""
    try:
        with Workspace(workspace).connect() as con:
            keys = list_keys(con)
    except SegmintError as exc:
        raise _fail(exc) from None
    if as_json:
        print_json([k.to_dict() for k in keys])
        return
    table = Table("id", "scope", "name", "created", "revoked")
    for k in keys:
        d = k.to_dict()
        table.add_row(
            d["key_id"], d["scope"], d["name"] or "", d["created_at"], d["revoked_at"] or ""
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `segmint keys list`).")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Revoke an API key; requests with it get 401 from then on."""
    try:
        ws = Workspace(workspace)
        with ws.transaction() as con:
            key = revoke_key(con, key_id)
            record(con, ws.path, actor=local_actor(), action="key.revoke", target=key_id)
    except SegmintError as exc:
        raise _fail(exc) from None
    out.print(f"revoked {key.scope} key {key.key_id}")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``keys`` to the main app."""
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
