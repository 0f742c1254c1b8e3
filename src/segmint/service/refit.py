"""Refits: the batch segmentation run again on everything stored, on request or on schedule.

The refit runs :func:`segmint.pipeline.segment` in a worker thread while the service keeps
taking events; when it is stored, the engine loads the new run's model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError
from segmint.service.errors import Conflict

if TYPE_CHECKING:
    from segmint.service.engine import Engine

log = logging.getLogger("segmint.api")


@dataclass
class RefitState:
    state: str = "idle"
    run_id: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    trigger: str | None = None  # "request" or "schedule"


class Refits:
    """The latest refit of one service, and its schedule."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.last = RefitState()
        self.next_at: datetime | None = None
        #: events received since the last refit started (a schedule skips periods without)
        self.new_events = 0
        self._tasks: set[asyncio.Task] = set()

    def start(self, n_segments: int | None, random_state: int, trigger: str = "request") -> None:
        if self.last.state == "running":
            raise Conflict("a refit is already running; see GET /v1/runs")
        self.last = RefitState("running", None, datetime.now(UTC), None, None, trigger)
        self.new_events = 0
        self._spawn(self._refit(n_segments, random_state), "segmint-refit")

    def schedule(self, interval_s: float) -> None:
        self._spawn(self._scheduler(interval_s), "segmint-refit-timer")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refit(self, n_segments: int | None, random_state: int) -> None:
        from segmint import pipeline

        engine = self.engine
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
            self.last.run_id = result.run_id
            self.last.state = "done"
        except Exception as exc:  # noqa: BLE001 - reported through GET /v1/runs
            log.exception("refit failed")
            self.last.state = "failed"
            self.last.error = str(exc) if isinstance(exc, SegmintError) else type(exc).__name__
        finally:
            self.last.finished_at = datetime.now(UTC)

    async def _scheduler(self, interval_s: float) -> None:
        """Refit every ``interval_s``; a period without new events, or with a refit still
        running, is skipped (the same data would give the same segments)."""
        while True:
            self.next_at = datetime.now(UTC) + timedelta(seconds=interval_s)
            await asyncio.sleep(interval_s)
            if self.new_events == 0 or self.last.state == "running":
                continue
            log.info("scheduled refit (%d new events)", self.new_events)
            self.start(None, self.engine.config.refit_random_state, trigger="schedule")
