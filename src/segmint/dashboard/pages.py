"""The dashboard's pages: server-rendered HTML over the service's workspace and live state.

Every page needs a session (signed in with an API key); every form carries the session's CSRF
token; exporting and erasing need an admin key, and the server checks that whatever the page
showed. Customers appear in URLs only as the session's opaque handles.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from segmint.activate.demand import demand_forecast
from segmint.consent.audit import record
from segmint.consent.ledger import latest_checkpoint, verify
from segmint.consent.policy import load_policy
from segmint.consent.pseudonym import destination_key, pseudonym_sql
from segmint.dashboard import queries
from segmint.dashboard.session import COOKIE, Session
from segmint.dashboard.site import (
    LOGIN_COOKIE,
    STATIC,
    Dashboard,
    Forbidden,
    SignInRequired,
    secure,
)
from segmint.errors import ConsentError, SegmintError
from segmint.pipeline import feature_labels, load_campaigns
from segmint.report import (
    campaigns_section,
    flow_chart,
    flows_from_comparison,
    fmt_plain,
    sizes_chart,
)
from segmint.service import Engine, NotFound
from segmint.store.alerts import list_alerts
from segmint.store.runs import compare_runs, get_run, list_runs

__all__ = ["install_dashboard"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
#: the purpose a dashboard reader's view of customers serves
VIEW_PURPOSE = "analytics"
#: exports from the dashboard are pseudonymised with this destination's key by default
EXPORT_DESTINATION = "dashboard-export"
_STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


def install_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` of the service's app."""
    app.state.dashboard = Dashboard()
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.method == "GET" and not request.url.path.startswith("/ui/"):
            return secure(RedirectResponse("/login", status_code=303))
        return secure(Response("sign in first", status_code=401))

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        dash: Dashboard = request.app.state.dashboard
        return dash.message(request, None, 403, "Not allowed", exc.message)


def _parts(request: Request) -> tuple[Engine, Dashboard]:
    return request.app.state.engine, request.app.state.dashboard


def _key(engine: Engine, session: Session):
    return engine.keys[session.key_id]


def _int(value: str | None, default: int, low: int = 1, high: int = 1_000_000) -> int:
    try:
        return min(max(int(value or default), low), high)
    except ValueError:
        return default


# ---------------------------------------------------------------------- sign in


@router.get("/login")
async def login_page(request: Request, error: str | None = None) -> Response:
    _, dash = _parts(request)
    token = dash.login_token(request)
    response = dash.render(request, "login.html.j2", None, login_token=token, error=None)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/login",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    engine, dash = _parts(request)
    form = await dash.form(request)
    client = request.client.host if request.client else "unknown"
    token = request.cookies.get(LOGIN_COOKIE)

    def refuse(message: str, status: int) -> Response:
        fresh = dash.login_token(request)
        response = dash.render(
            request, "login.html.j2", None, status, login_token=fresh, error=message
        )
        response.set_cookie(
            LOGIN_COOKIE,
            fresh,
            httponly=True,
            samesite="strict",
            path="/login",
            secure=request.url.scheme == "https",
        )
        return response

    if not token or form.get("login_token") != token:
        return refuse("The sign-in form expired; please try again.", 403)
    if engine.failed_auth.wait(client) > 0:
        return refuse("Too many failed sign-ins from this address; wait a minute.", 429)
    key = engine.authenticate(form.get("key", "").strip())
    if key is None or key.scope not in ("read", "admin"):
        engine.failed_auth.take(client)
        why = "an ingest key cannot read" if key is not None else "unknown or revoked key"
        return refuse(f"Sign-in refused: {why}. Use a read or admin API key.", 401)
    return dash.sign_in(request, engine, key)


@router.post("/logout")
async def logout(request: Request) -> Response:
    engine, dash = _parts(request)
    dash.checked(request, engine, await dash.form(request))
    dash.sessions.end(request.cookies.get(COOKIE))
    response = secure(RedirectResponse("/login", status_code=303))
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/ui/static/{name}")
async def static(name: str) -> Response:
    if name not in _STATIC_FILES:
        return Response("not found", status_code=404)
    return FileResponse(STATIC / name, media_type=_STATIC_FILES[name])


# ---------------------------------------------------------------------- overview


@router.get("/")
async def overview(request: Request) -> Response:
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    run_id = engine.live.run_id
    if run_id is None:
        return dash.message(
            request,
            session,
            200,
            "No run yet",
            "Run `segmint run` or `segmint demo` to find segments.",
        )
    summary = await dash.summary(engine, run_id)
    alerts = await engine.read(list_alerts, limit=10)
    live_sizes = engine.live.live_sizes()
    return dash.render(
        request,
        "overview.html.j2",
        session,
        s=summary,
        live_sizes=live_sizes,
        sizes=sizes_chart(summary["segments"]) if summary["segments"] else None,
        changes=await dash.changes(engine, run_id),
        alerts=alerts,
    )


# ---------------------------------------------------------------------- segments


def _find_segment(summary: dict, segment_id: int) -> dict | None:
    return next((s for s in summary["segments"] if s["segment_id"] == segment_id), None)


def _micro_rows(summary: dict, segment_id: int) -> list[dict]:
    micro = summary.get("micro_segments") or {}
    for section in micro.get("segments", []):
        if section["segment_id"] == segment_id:
            return section["rows"]
    return []


def _find_micro(summary: dict, micro_id: str) -> tuple[dict, dict] | None:
    micro = summary.get("micro_segments") or {}
    for section in micro.get("segments", []):
        for row in section["rows"]:
            if row["micro_segment_id"] == micro_id:
                return section, row
    return None


def _playbook(engine: Engine, segment_id: int, micro_id: str | None) -> Any:
    actions = engine.actions
    if actions is None or actions.run_id != engine.live.run_id:
        return None
    return actions.current().entry(segment_id, micro_id)


async def _group_page(request: Request, summary: dict, seg: dict, micro: dict | None) -> Response:
    """A segment's page or, with ``micro``, a micro-segment's (``seg`` is the segment most of
    its customers are in): the profile, the playbook, and a page of the members the session
    may see, as the query string asks."""
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    segment_id = seg["segment_id"]
    micro_id = None if micro is None else micro["micro_segment_id"]
    view = f"segment:{segment_id}" if micro is None else f"micro:{micro_id}"
    params = request.query_params
    search = session.searches.get(view)
    desc = params.get("dir")
    page = await engine.read(
        queries.member_page,
        dash.live(engine, VIEW_PURPOSE),
        engine.live.run_id,
        segment_id=segment_id if micro is None else None,
        micro_id=micro_id,
        search=search,
        sort=params.get("sort", "clv"),
        descending=None if desc is None else desc == "desc",
        page=_int(params.get("page"), 1),
        size=PAGE_SIZE,
    )
    for row in page.rows:
        row["handle"] = session.handle(row["customer_id"])
    if micro is None:
        live_size = engine.live.live_sizes().get(segment_id, 0)
    else:
        live_size = engine.live.live_micro_sizes().get(micro_id, 0)
    return dash.render(
        request,
        "segment.html.j2",
        session,
        s=summary,
        seg=seg,
        micro=micro,
        micro_rows=_micro_rows(summary, segment_id) if micro is None else [],
        live_size=live_size,
        playbook=_playbook(engine, segment_id, micro_id),
        base=f"/segments/{segment_id}" if micro is None else f"/micro/{micro_id}",
        purposes=engine.consent.policy.purposes,
        page=page,
        search=search,
        sorts=queries.SORTS,
    )


@router.get("/segments/{segment_id}")
async def segment_page(request: Request, segment_id: int) -> Response:
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    summary = await dash.summary(engine, engine.live.run_id)
    seg = _find_segment(summary, segment_id)
    if seg is None:
        return dash.message(
            request,
            session,
            404,
            "No such segment",
            f"Run {engine.live.run_id} has no segment {segment_id}.",
        )
    return await _group_page(request, summary, seg, None)


@router.get("/micro/{micro_id}")
async def micro_page(request: Request, micro_id: str) -> Response:
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    summary = await dash.summary(engine, engine.live.run_id)
    found = _find_micro(summary, micro_id)
    if found is None:
        return dash.message(
            request,
            session,
            404,
            "No such micro-segment",
            f"Run {engine.live.run_id} describes no micro-segment {micro_id} (small ones are "
            "counted, not described).",
        )
    section, micro = found
    return await _group_page(request, summary, _find_segment(summary, section["segment_id"]), micro)


def _view(path: str) -> tuple[str, int | None, str | None]:
    """``/segments/3/...`` or ``/micro/m12/...`` -> (view key, segment id, micro id)."""
    kind, ident = path.strip("/").split("/")[:2]
    if kind == "segments":
        return f"segment:{ident}", int(ident), None
    return f"micro:{ident}", None, ident


@router.post("/segments/{segment_id}/search")
@router.post("/micro/{micro_id}/search")
async def search_members(request: Request) -> Response:
    engine, dash = _parts(request)
    form = await dash.form(request)
    session = dash.checked(request, engine, form)
    view, _, _ = _view(request.url.path)
    query = form.get("q", "").strip()[:128]
    if query:
        session.searches[view] = query
    else:
        session.searches.pop(view, None)
    return secure(RedirectResponse(request.url.path.rsplit("/", 1)[0], status_code=303))


@router.post("/segments/{segment_id}/export")
@router.post("/micro/{micro_id}/export")
async def export_members(request: Request) -> Response:
    """The view's members as CSV, consent-filtered for the chosen purpose, pseudonymised
    unless the admin asks for raw ids; audited; refused under the minimum audience."""
    engine, dash = _parts(request)
    form = await dash.form(request)
    session = dash.admin(request, engine, form)
    view, segment_id, micro_id = _view(request.url.path)
    purpose = form.get("purpose", "email")
    try:
        engine.consent.policy.check(purpose)
    except SegmintError as exc:
        raise Forbidden(str(exc)) from exc
    raw = form.get("raw_ids") == "on"
    live = dash.live(engine, purpose)
    table = await engine.read(
        queries.member_rows,
        live,
        engine.live.run_id,
        segment_id=segment_id,
        micro_id=micro_id,
        search=session.searches.get(view),
    )
    minimum = engine.consent.policy.min_audience
    if table.num_rows < minimum:
        raise Forbidden(
            f"only {table.num_rows} customers of this view may be used for {purpose}, under "
            f"the minimum audience of {minimum}; nothing was exported"
        )
    key = _key(engine, session)

    def finish(con: Any) -> bytes:
        ids = table
        if not raw:
            expr, params = pseudonym_sql(
                "customer_id", destination_key(con, engine.workspace.path, EXPORT_DESTINATION)
            )
            local = con.cursor()
            try:
                local.register("_export", table)
                ids = local.execute(
                    f"SELECT {expr} AS customer_id, * EXCLUDE (customer_id) FROM _export",
                    params,
                ).to_arrow_table()
            finally:
                local.close()
        record(
            con,
            engine.workspace.path,
            actor=f"key:{key.key_id}",
            action="export",
            purpose=purpose,
            target=f"dashboard {view} of run {engine.live.run_id}",
            rows=ids.num_rows,
            detail={"raw_ids": raw, "withheld": len(live) - ids.num_rows},
        )
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(ids.column_names)
        writer.writerows(zip(*(c.to_pylist() for c in ids.columns), strict=True))
        return out.getvalue().encode()

    body = await engine.db(finish)
    name = view.replace(":", "-") + f"-{purpose}.csv"
    response = Response(body, media_type="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return secure(response)


# ---------------------------------------------------------------------- customers


async def _names(engine: Engine, dash: Dashboard) -> dict:
    """The served run's segment names and currency, for pages that list customers."""
    if engine.live.run_id is None:
        return {"segment_names": {}, "cur": None}
    summary = await dash.summary(engine, engine.live.run_id)
    return {
        "segment_names": {s["segment_id"]: s["name"] for s in summary["segments"]},
        "cur": summary["run"]["currency"],
    }


@router.post("/customers/search")
async def search_customers(request: Request) -> Response:
    engine, dash = _parts(request)
    form = await dash.form(request)
    session = dash.checked(request, engine, form)
    query = form.get("q", "").strip()[:128]
    found: list[dict] = []
    if query:
        live = dash.live(engine, VIEW_PURPOSE)
        page = await engine.read(
            queries.member_page, live, engine.live.run_id, search=query, sort="id", size=50
        )
        for row in page.rows:
            row["handle"] = session.handle(row["customer_id"])
        found = page.rows
        withheld = page.withheld
        total = page.total
    else:
        withheld = total = 0
    return dash.render(
        request,
        "customers.html.j2",
        session,
        query=query,
        rows=found,
        total=total,
        withheld=withheld,
        **await _names(engine, dash),
    )


@router.get("/customers")
async def customers_page(request: Request) -> Response:
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    return dash.render(
        request,
        "customers.html.j2",
        session,
        query="",
        rows=[],
        total=0,
        withheld=0,
        **await _names(engine, dash),
    )


@router.get("/customers/{handle}")
async def customer_page(request: Request, handle: str) -> Response:
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    customer_id = session.customer(handle)
    if customer_id is None:
        return dash.message(
            request,
            session,
            404,
            "Unknown customer",
            "This link belongs to another session; search again.",
        )
    try:
        found = engine.read_customer(customer_id, _key(engine, session), VIEW_PURPOSE)
    except ConsentError:
        return dash.message(
            request,
            session,
            451,
            "Withheld",
            "This customer has not consented to analytics, or was erased.",
        )
    if found is None:
        return dash.message(
            request,
            session,
            404,
            "Unknown customer",
            "This customer is no longer in the live profiles.",
        )
    features = found.get("profile", {}).get("features", {})
    labels = feature_labels(features)
    profile = [(labels[k], fmt_plain(v, k)) for k, v in features.items() if v is not None]
    predictions = await engine.predictions(customer_id)
    if predictions and isinstance(predictions.get("churn_reasons"), str):
        # stored as one sentence of reasons joined by "; "
        predictions["churn_reasons"] = [
            r.strip() for r in predictions["churn_reasons"].split(";") if r.strip()
        ]
    recommendations = None
    if engine.consent.allows(customer_id, "personalisation"):
        try:
            recommendations = engine.recommendation_book().for_customer(
                customer_id, 5, found["segment_id"]
            )
        except (NotFound, SegmintError):
            recommendations = []
    policy = engine.consent.policy
    consent_now = [
        {"purpose": p, "regime": policy.regime(p), "allowed": engine.consent.allows(customer_id, p)}
        for p in policy.purposes
    ]
    history, timeline, ledger = await asyncio.gather(
        engine.read(queries.segment_history, customer_id),
        engine.read(queries.customer_timeline, customer_id),
        engine.read(queries.consent_history, customer_id),
    )
    return dash.render(
        request,
        "customer.html.j2",
        session,
        handle=handle,
        customer_id=customer_id,
        c=found,
        profile=profile,
        predictions=predictions,
        recommendations=recommendations,
        consent_now=consent_now,
        history=history,
        timeline=timeline,
        ledger=ledger,
        cur=(await _names(engine, dash))["cur"],
    )


# ---------------------------------------------------------------------- runs


@router.get("/runs")
async def runs_page(request: Request) -> Response:
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    runs = await engine.read(list_runs)
    return dash.render(request, "runs.html.j2", session, runs=runs, live_run=engine.live.run_id)


@router.get("/runs/compare")
async def compare_page(request: Request) -> Response:
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    params = request.query_params
    runs = await engine.read(list_runs)
    ids = [r["run_id"] for r in runs]
    a, b = _int(params.get("a"), 0, 0), _int(params.get("b"), 0, 0)
    if a not in ids or b not in ids:
        return dash.message(
            request,
            session,
            404,
            "No such run",
            f"Pick two of the stored runs: {', '.join(map(str, ids))}.",
        )
    frame = dash.comparison((a, b))
    if frame is None:
        frame = await engine.read(compare_runs, a, b)
        dash.remember_comparison((a, b), frame)
    chart = flow_chart(flows_from_comparison(frame), title=f"Customers from run {a} to run {b}")
    total = int(frame["customers"].sum())
    same = int(frame.loc[frame["from_segment"] == frame["to_segment"], "customers"].sum())
    return dash.render(
        request,
        "compare.html.j2",
        session,
        a=a,
        b=b,
        runs=runs,
        chart=chart,
        rows=frame.head(40).to_dict("records"),
        total=total,
        same=same,
    )


# ---------------------------------------------------------------------- alerts, campaigns


@router.get("/alerts")
async def alerts_page(request: Request) -> Response:
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    alerts = await engine.read(list_alerts, limit=100)
    demand = None
    if engine.live.run_id is not None:

        def forecast(con: Any) -> dict | None:
            try:
                found = get_run(con, engine.live.run_id)
                return demand_forecast(
                    con, found, weeks=4, by="category", min_audience=load_policy(con).min_audience
                ).to_dict()
            except SegmintError:
                return None

        demand = await engine.read(forecast)
    return dash.render(request, "alerts.html.j2", session, alerts=alerts, demand=demand)


@router.get("/campaigns")
async def campaigns_page(request: Request) -> Response:
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    campaigns = campaigns_section(await engine.read(load_campaigns)) or []
    return dash.render(
        request, "campaigns.html.j2", session, campaigns=campaigns, **await _names(engine, dash)
    )


# ---------------------------------------------------------------------- consent and audit


async def _consent_page(
    request: Request, session: Session, message: str | None = None, status: int = 200
) -> Response:
    engine, dash = _parts(request)
    directory = engine.workspace.path

    def read(con: Any) -> dict:
        return {
            "latest": latest_checkpoint(con, directory),
            "checkpoints": queries.ledger_checkpoints(con),
            "erasures": queries.erasures(con),
        }

    found = await engine.read(read)
    return dash.render(
        request,
        "consent.html.j2",
        session,
        status,
        policy=engine.consent.policy,
        verification=dash.verification,
        message=message,
        **found,
    )


@router.get("/consent")
async def consent_page(request: Request) -> Response:
    engine, dash = _parts(request)
    return await _consent_page(request, dash.session(request, engine))


@router.post("/consent/verify")
async def verify_ledger(request: Request) -> Response:
    engine, dash = _parts(request)
    session = dash.checked(request, engine, await dash.form(request))
    result = await engine.read(verify, engine.workspace.path)
    dash.verification = {"at": datetime.now(UTC), **result.to_dict()}
    return await _consent_page(request, session)


@router.post("/consent/erase")
async def erase_customer(request: Request) -> Response:
    engine, dash = _parts(request)
    form = await dash.form(request)
    session = dash.admin(request, engine, form)
    customer_id = form.get("customer_id", "").strip()
    handle = form.get("handle", "").strip()
    if handle:
        customer_id = session.customer(handle) or ""
    if not customer_id or form.get("confirm") != "erase":
        return await _consent_page(
            request, session, "Give the customer id and type erase to confirm.", 400
        )
    done = await engine.erase(customer_id, _key(engine, session))
    return await _consent_page(
        request,
        session,
        f"Erased: {done.get('total', 0)} rows removed; the customer is "
        "left out of every output from now on.",
    )


# ---------------------------------------------------------------------- live updates


@router.get("/ui/stream")
async def stream(request: Request) -> StreamingResponse:
    """Segment changes and alerts for the open pages, as server-sent events: customers named
    only by this session's handles (a customer the session has not seen is not named)."""
    engine, dash = _parts(request)
    session = dash.session(request, engine)
    queue: asyncio.Queue = asyncio.Queue(maxsize=10_000)
    engine.subscribers.add(queue)

    async def events():
        try:
            yield b"retry: 2000\n: connected\n\n"
            while True:
                try:
                    msg = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                out = _for_session(msg, session, engine)
                if out is not None:
                    yield f"event: {msg['type']}\ndata: {json.dumps(out, default=str)}\n\n".encode()
        finally:
            engine.subscribers.discard(queue)

    response = StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    return secure(response)


def _for_session(msg: dict, session: Session, engine: Engine) -> dict | None:
    kind = msg.get("type")
    data = dict(msg.get("data") or {})
    if kind == "alert":
        return {
            k: data.get(k) for k in ("alert_id", "created_at", "segment_id", "metric", "message")
        }
    if kind in ("segment.entered", "segment.left"):
        customer = data.pop("customer_id", None)
        handle = session.by_customer.get(customer) if customer is not None else None
        if customer is not None and not engine.consent.allows(customer, VIEW_PURPOSE):
            return None
        data["handle"] = handle
        return data
    if kind == "run.loaded":
        return {"run_id": msg.get("run_id")}
    return None
