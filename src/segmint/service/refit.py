"""Refits: the batch segmentation run again on everything stored, on request or on schedule.

The refit runs :func:`segmint.pipeline.segment` in a worker thread while the service keeps
taking events; when it is stored, the engine loads the new run's model. Each refit is recorded
in the workspace as it starts and as it ends (:mod:`segmint.store.refits`), so one that never
ended -- the process killed or crashed -- is reported as interrupted after a restart. A
graceful shutdown waits for a running refit: its thread cannot be stopped, and the process
would not exit before it anyway.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from segmint.errors import SegmintError
from segmint.service.errors import Conflict
from segmint.store import refits as store
from segmint.store.workspace import utcnow

if TYPE_CHECKING:
    import duckdb

    from segmint.service.engine import Engine

log = logging.getLogger(__name__)

#: the reason given for a refit found unfinished when the service starts
DIED = "the service stopped before the refit finished (killed, crashed or lost power)"


@dataclass
class RefitState:
    state: str = "idle"  # idle, running, done, failed, interrupted
    run_id: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    trigger: str | None = None  # "request" or "schedule"
    refit_id: int | None = None


class Refits:
    """The latest refit of one service, and its schedule."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.last = RefitState()
        self.next_at: datetime | None = None
        #: events received since the last refit started (a schedule skips periods without)
        self.new_events = 0
        self._refit_task: asyncio.Task | None = None
        self._timer: asyncio.Task | None = None

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        """Mark refits left unfinished by a dead process interrupted; show the latest."""
        if store.interrupt_unfinished(con, DIED):
            log.warning("a refit was interrupted by the last shutdown: %s", DIED)
        latest = store.latest_refit(con)
        if latest is not None:
            self.last = RefitState(**latest)

    async def start(
        self, n_segments: int | None, random_state: int, trigger: str = "request"
    ) -> RefitState:
        """Record a refit as running and start it in the background."""
        if self.last.state == "running":
            raise Conflict("a refit is already running; see GET /v1/runs")
        previous, started = self.last, utcnow()
        self.last = RefitState("running", None, started, None, None, trigger)
        try:
            self.last.refit_id = await self.engine.db(
                lambda con: store.start_refit(con, trigger=trigger, started_at=started)
            )
        except BaseException:
            self.last = previous
            raise
        self.new_events = 0
        self._refit_task = asyncio.create_task(
            self._refit(n_segments, random_state), name="segmint-refit"
        )
        return self.last

    def schedule(self, interval_s: float) -> None:
        self._timer = asyncio.create_task(self._scheduler(interval_s), name="segmint-refit-timer")

    async def stop(self) -> None:
        """Stop the schedule, and wait for a running refit to finish and be recorded."""
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
        if self._refit_task is not None and not self._refit_task.done():
            log.info("waiting for the running refit to finish")
            await asyncio.gather(self._refit_task, return_exceptions=True)

    async def _refit(self, n_segments: int | None, random_state: int) -> None:
        from segmint import pipeline

        engine = self.engine
        refit = self.last
        try:
            await engine.flush()
            result = await asyncio.to_thread(
                pipeline.segment,
                engine.workspace,
                n_segments=n_segments,
                random_state=random_state,
                write_html=False,
            )
            await engine.reload()
            refit.run_id = result.run_id
            refit.state = "done"
        except Exception as exc:  # noqa: BLE001 - reported through GET /v1/runs
            log.exception("refit failed")
            refit.state = "failed"
            refit.error = str(exc) if isinstance(exc, SegmintError) else type(exc).__name__
        await self._record(refit)

    async def _record(self, refit: RefitState) -> None:
        refit.finished_at = utcnow()
        assert refit.refit_id is not None
        try:
            await self.engine.db(
                lambda con: store.finish_refit(
                    con,
                    refit.refit_id,
                    state=refit.state,
                    finished_at=refit.finished_at,
                    run_id=refit.run_id,
                    error=refit.error,
                )
            )
        except Exception:  # noqa: BLE001 - the next start reports it as interrupted instead
            log.exception("recording the end of refit %s failed", refit.refit_id)

    async def _scheduler(self, interval_s: float) -> None:
        """Refit every ``interval_s``; a period without new events, or with a refit still
        running, is skipped (the same data would give the same segments)."""
        while True:
            self.next_at = utcnow() + timedelta(seconds=interval_s)
            await asyncio.sleep(interval_s)
            if self.new_events == 0 or self.last.state == "running":
                continue
            log.info("scheduled refit (%d new events)", self.new_events)
            try:
                await self.start(None, self.engine.config.refit_random_state, trigger="schedule")
            except Exception:  # noqa: BLE001 - try again next period
                log.exception("starting the scheduled refit failed")
