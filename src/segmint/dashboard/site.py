"""The dashboard's shared machinery: templates, sessions, security headers, and the caches
that keep a page at a million customers under a second (the run's summary, the live
membership as Arrow)."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
import numpy as np
import pyarrow as pa
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from segmint import __version__
from segmint.dashboard.queries import live_table
from segmint.dashboard.session import COOKIE, Session, Sessions
from segmint.pipeline import run_summary
from segmint.report import configure_environment
from segmint.service import Engine
from segmint.store.runs import compare_runs, list_runs

__all__ = ["Dashboard", "SignInRequired", "Forbidden"]

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
#: the login form's anti-forgery cookie (there is no session yet to hold its token)
LOGIN_COOKIE = "segmint_login"
#: what every page may load: only its own files; styles inline (the report's components
#: colour swatches with style attributes); no frames
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


class SignInRequired(Exception):
    """The request has no live session: the browser is sent to the sign-in page."""


class Forbidden(Exception):
    """The session's key may not do this (a read key asking to export or erase)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("segmint.dashboard", "templates"),
                jinja2.PackageLoader("segmint.report", "templates"),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    configure_environment(env)
    env.globals["version"] = __version__
    return env


class Dashboard:
    """One per app: the signed-in sessions and the caches pages share."""

    def __init__(self) -> None:
        self.sessions = Sessions()
        self._summaries: dict[int, dict] = {}
        self._summary_lock = asyncio.Lock()
        self._live: dict[str, tuple[tuple, pa.Table]] = {}
        self._compare: dict[tuple[int, int], Any] = {}
        #: the latest ledger verification run from the consent page
        self.verification: dict | None = None

    # ------------------------------------------------------------------ sessions

    def session(self, request: Request, engine: Engine) -> Session:
        found = self.sessions.get(request.cookies.get(COOKIE), engine.keys)
        if found is None:
            raise SignInRequired
        return found

    def admin(self, request: Request, engine: Engine, form: dict[str, str]) -> Session:
        """The session of a form that changes or exports data: admin scope and its CSRF
        token required."""
        session = self.checked(request, engine, form)
        if not session.admin:
            raise Forbidden("this needs an admin key; you signed in with a read key")
        return session

    def checked(self, request: Request, engine: Engine, form: dict[str, str]) -> Session:
        session = self.session(request, engine)
        if not session.csrf_ok(form.get("csrf")):
            raise Forbidden("the form's security token is missing or stale; reload the page")
        return session

    @staticmethod
    async def form(request: Request) -> dict[str, str]:
        """An urlencoded form's fields (the last value of each)."""
        body = (await request.body()).decode("utf-8", "replace")
        return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}

    def sign_in(self, request: Request, engine: Engine, key: Any) -> Response:
        sid, _ = self.sessions.create(key)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE,
            sid,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @staticmethod
    def login_token(request: Request) -> str:
        return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)

    # ------------------------------------------------------------------ rendering

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = (
            environment()
            .get_template(template)
            .render(session=session, path=request.url.path, **context)
        )
        return secure(HTMLResponse(html, status_code=status))

    def message(
        self, request: Request, session: Session | None, status: int, title: str, message: str
    ) -> HTMLResponse:
        """A page that only says something: not found, not allowed, withheld."""
        return self.render(
            request, "message.html.j2", session, status, title=title, message=message
        )

    # ------------------------------------------------------------------ caches

    async def summary(self, engine: Engine, run_id: int) -> dict:
        """The report's summary of a run, built once per run (the run is immutable)."""
        found = self._summaries.get(run_id)
        if found is not None:
            return found
        async with self._summary_lock:
            found = self._summaries.get(run_id)
            if found is None:
                found = await engine.read(run_summary, run_id)
                self._summaries = {run_id: found, **dict(list(self._summaries.items())[:3])}
        return found

    async def warm(self, engine: Engine) -> None:
        """Build the served run's summary and its comparison with the run before before the
        first page asks for them: as the service starts (before it accepts requests) and when
        it loads another run."""
        if engine.live.run_id is None:
            return
        try:
            await self.summary(engine, engine.live.run_id)
            await self.changes(engine, engine.live.run_id)
        except Exception:  # the API must start whatever the pages' summary meets
            log.exception("dashboard: the summary of run %s failed", engine.live.run_id)

    async def changes(self, engine: Engine, run_id: int) -> dict | None:
        """Since the run before: the share of customers who moved, and each segment's size
        then and now (None for the first run)."""
        runs = await engine.read(list_runs)
        earlier = [r["run_id"] for r in runs if r["run_id"] < run_id]
        if not earlier:
            return None
        key = (max(earlier), run_id)
        found = self.comparison(key)
        if found is None:
            found = await engine.read(compare_runs, *key)
            self.remember_comparison(key, found)
        total = int(found["customers"].sum())
        same = int(found.loc[found["from_segment"] == found["to_segment"], "customers"].sum())
        before = found.groupby("from_segment")["customers"].sum()
        after = found.groupby("to_segment")["customers"].sum()
        rows = [
            {"segment": name, "before": int(before.get(name, 0)), "after": int(after.get(name, 0))}
            for name in after.index
            if not str(name).startswith("(not in run")
        ]
        return {
            "previous": key[0],
            "moved_share": (total - same) / total if total else 0.0,
            "rows": sorted(rows, key=lambda r: -r["after"]),
        }

    def live(self, engine: Engine, purpose: str) -> pa.Table:
        """Every live customer's segment now and whether ``purpose`` permits them, rebuilt
        only when a customer moved or consent changed."""
        state = engine.live
        token = (id(state), state.version, engine.consent.serial)
        cached = self._live.get(purpose)
        if cached is not None and cached[0] == token:
            return cached[1]
        n = len(state.ids)
        ids = pa.array(state.ids[:n], pa.string())
        micro_codes = np.asarray(state.micro[:n])
        names = np.array([*state.micro_ids, None], dtype=object)
        micro = names[np.where(micro_codes < 0, len(state.micro_ids), micro_codes)]
        seg = np.asarray(state.seg[:n])
        table = live_table(
            ids,
            seg,
            list(micro),
            np.asarray(state.conf[:n]),
            engine.consent.allows_many(ids, purpose),
        )
        self._live[purpose] = (token, table)
        return table

    def comparison(self, key: tuple[int, int]) -> Any:
        return self._compare.get(key)

    def remember_comparison(self, key: tuple[int, int], value: Any) -> None:
        self._compare = {key: value, **dict(list(self._compare.items())[:7])}


def secure(response: Response) -> Response:
    """Headers every dashboard response carries."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
