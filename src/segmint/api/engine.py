"""The service engine: workspace connection, write-ahead log, live state, flushing, refits.

One :class:`Engine` per app, created in the lifespan. The event path:

1. the request's events are validated and de-duplicated by ``event_id`` (in memory: the MD5
   digests of every id stored, 16 bytes each (:mod:`segmint.api.dedupe`), plus the ids in
   flight);
2. the new ones go to the write-ahead log as one record; the writer fsyncs groups of records
   (group commit) and then, in sequence order, applies each record to the live state and queues
   it for DuckDB -- only then is the request answered;
3. a background task stores queued records in DuckDB in batches (events, purchase lines,
   customers) together with the last applied sequence number, in one transaction, and deletes
   log files that are wholly stored.

On start the state is loaded from DuckDB and the log records after the stored sequence number
are replayed, so an acknowledged event is never lost and never stored twice.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic_core import to_json

from segmint.api.dedupe import DIGEST, digests, digests_from_halves
from segmint.api.live import Change, LiveState
from segmint.api.wal import WriteAheadLog
from segmint.errors import SegmintError, WorkspaceError
from segmint.realtime import SortedKeys
from segmint.store import service as store
from segmint.store.workspace import Workspace

log = logging.getLogger("segmint.api")
T = TypeVar("T")


@dataclass
class ServiceConfig:
    """Limits and timings of one service instance."""

    max_body_bytes: int = 10 * 1024 * 1024
    rate_per_second: float = 2000.0
    rate_burst: float = 4000.0
    flush_interval_s: float = 0.2
    flush_max_events: int = 200_000
    wal_segment_bytes: int = 64 * 1024 * 1024
    webhook_timeout_s: float = 5.0
    webhook_max_attempts: int = 6
    webhook_backoff_s: float = 0.5
    #: weeks of stored purchases the change-detection baseline is fitted on
    drift_baseline_weeks: int = 26
    #: refit the segmentation this often (seconds) when events arrived since the last refit;
    #: None: only on request (POST /v1/runs)
    refit_interval_s: float | None = None
    #: seed of scheduled refits (a requested one names its own)
    refit_random_state: int = 0
    #: in-control average run length of the whole family of charts, in weeks: one false alarm
    #: in about 370 weeks per chart would be one a week or two over ~50 charts, so the limit
    #: is set per chart from 370.4 x 50
    drift_arl0: float = 370.4 * 50


@dataclass
class RefitState:
    state: str = "idle"
    run_id: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    trigger: str | None = None  # "request" or "schedule"


class ServiceUnavailable(SegmintError):
    """The service cannot take the request now (starting, shutting down, log failed)."""


class Conflict(SegmintError):
    """The request conflicts with work in progress."""


class NotFound(SegmintError, LookupError):
    """No such resource."""


@dataclass
class _Bucket:
    tokens: float
    last: float


@dataclass
class Engine:
    workspace: Workspace
    config: ServiceConfig = field(default_factory=ServiceConfig)

    def __post_init__(self) -> None:
        self._stack = ExitStack()
        self.con: Any = None
        self._db_lock = threading.Lock()
        self.wal = WriteAheadLog(
            self.workspace.path / "service" / "wal", segment_bytes=self.config.wal_segment_bytes
        )
        self.live = LiveState()
        self.keys: dict[str, store.ApiKey] = {}
        self.seen = SortedKeys(DIGEST)
        self.pending: dict[str, asyncio.Future] = {}
        # (sequence number, event count, the log record's JSON): decoded dicts are not kept,
        # so the collector has nothing to walk however much is waiting for DuckDB
        self.buffer: list[tuple[int, int, bytes]] = []
        self.buffered_events = 0
        self.applied_seq = 0
        self.refit = RefitState()
        self.next_refit_at: datetime | None = None
        self.events_since_refit = 0
        self.ready = False
        self._flush_lock: asyncio.Lock | None = None
        self._flush_wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._buckets: dict[str, _Bucket] = {}
        self.subscribers: set[asyncio.Queue] = set()
        self.notifier: Any = None  # set by the app (webhooks + drift), called on changes
        self.has_predictions = False
        self._read_con: Any = None
        self._read_lock = threading.Lock()
        self._background: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._flush_lock = asyncio.Lock()
        self._flush_wake = asyncio.Event()
        await asyncio.to_thread(self._open)
        records = self.wal.open()
        replay = [(seq, json.loads(p), p) for seq, p in records if seq > self.applied_seq]
        for seq, events, payload in replay:
            self.live.apply(events)
            self.buffer.append((seq, len(events), payload))
            self.buffered_events += len(events)
            self.seen.add(digests([e["event_id"] for e in events]))
        if self.wal.last_seq < self.applied_seq:  # log files removed by hand: keep counting
            self.wal.last_seq = self.applied_seq
        if replay:
            log.info("replayed %d log records (%d events)", len(replay), self.buffered_events)
        self.wal.start(self._commit)
        await self.flush()
        self._tasks.append(asyncio.create_task(self._flusher(), name="segmint-flusher"))
        if self.config.refit_interval_s:
            self._tasks.append(asyncio.create_task(self._scheduler(), name="segmint-refit-timer"))
        # the loaded state lives as long as the process: keep it out of the collector's
        # full passes, which would otherwise walk it and stall requests; and collect the
        # older generations less often -- a 10,000-event batch allocates ~100,000 containers,
        # which at the default thresholds means several full passes per request (measured:
        # validation 4x slower)
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 50, 100)
        self.ready = True

    def _open(self) -> None:
        self.con = self._stack.enter_context(self.workspace.connect(create=True))
        self.keys = {k.key_id: k for k in store.list_keys(self.con)}
        self.applied_seq = store.applied_seq(self.con)
        stored = digests_from_halves(*store.load_event_id_digests(self.con))
        self.seen = SortedKeys(DIGEST, stored)
        self.live = LiveState.load(self.con)
        self._read_con = self.con.cursor()
        self.has_predictions = _has_rows(self.con, "predictions")

    async def stop(self) -> None:
        self.ready = False
        await self.wal.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        try:
            await self.flush()
        finally:
            if self._read_con is not None:
                self._read_con.close()
            self._stack.close()

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(con, *args, **kwargs)`` in a worker thread, one at a time."""

        def call() -> T:
            with self._db_lock:
                return fn(self.con, *args, **kwargs)

        return await asyncio.to_thread(call)

    # ------------------------------------------------------------------ keys and limits

    def authenticate(self, token: str) -> store.ApiKey | None:
        key_id = store.split_token(token)
        key = self.keys.get(key_id) if key_id else None
        if key is None or not key.active or not store.token_matches(token, key):
            return None
        return key

    def take_token(self, key_id: str) -> float:
        """Spend one request from the key's bucket; return 0, or seconds until one is free."""
        now = time.monotonic()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(self.config.rate_burst, now)
        bucket.tokens = min(
            self.config.rate_burst,
            bucket.tokens + (now - bucket.last) * self.config.rate_per_second,
        )
        bucket.last = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.config.rate_per_second

    async def create_key(self, scope: str, name: str | None) -> tuple[store.ApiKey, str]:
        key, token = await self.db(lambda con: store.create_key(con, scope=scope, name=name))
        self.keys[key.key_id] = key
        return key, token

    async def revoke_key(self, key_id: str) -> store.ApiKey:
        key = await self.db(store.revoke_key, key_id)
        self.keys[key.key_id] = key
        return key

    # ------------------------------------------------------------------ ingest

    async def ingest(self, events: list[dict]) -> dict:
        """Store new events durably, apply them, and say which were duplicates."""
        if not self.ready:
            raise ServiceUnavailable("the service is starting or stopping; retry shortly")
        new: list[dict] = []
        dups: list[str] = []
        waits: list[asyncio.Future] = []
        batch_ids: set[str] = set()
        ids = digests([e["event_id"] for e in events])
        stored = self.seen.contains(ids).tolist()
        fresh: list[int] = []
        for i, (e, known) in enumerate(zip(events, stored, strict=True)):
            eid = e["event_id"]
            if known or eid in batch_ids:
                dups.append(eid)
            elif eid in self.pending:
                dups.append(eid)
                waits.append(self.pending[eid])
            else:
                batch_ids.add(eid)
                new.append(e)
                fresh.append(i)
        customers: list[dict] = []
        if new:
            payload = to_json(new)
            item = (new, payload, ids[fresh])
            fut = asyncio.ensure_future(self.wal.append(payload, item))
            for e in new:
                self.pending[e["event_id"]] = fut
            try:
                customers = await asyncio.shield(fut)
            finally:
                for e in new:
                    self.pending.pop(e["event_id"], None)
        for w in waits:  # a duplicate of an event still being written: ack once it is durable
            try:
                await asyncio.shield(w)
            except Exception as exc:
                raise ServiceUnavailable(f"an earlier copy of an event failed: {exc}") from None
        if dups and not new:
            customers = [
                self.live.membership(c) for c in dict.fromkeys(e["customer_id"] for e in events)
            ]
        return {
            "accepted": len(new),
            "duplicates": len(dups),
            "duplicate_ids": dups,
            "customers": customers,
        }

    def _commit(self, records: list[tuple[int, object]]) -> list:
        """Called by the log writer, in order, once a group is durable.

        The whole group is applied to the live state in one vectorised call (a group holds the
        requests that arrived during the previous fsync), then each request gets its customers.
        """
        everything: list[dict] = []
        for seq, item in records:
            events, payload, ids = item  # type: ignore[misc]
            self.seen.insert_new(ids)
            self.buffer.append((seq, len(events), payload))
            self.buffered_events += len(events)
            self.events_since_refit += len(events)
            everything.extend(events)
        try:
            customers, changes = self.live.apply(everything)
        except Exception:  # noqa: BLE001 - stored already; the live view catches up on reload
            log.exception("applying events to the live state failed")
            customers, changes = [], []
        if changes:
            self._announce_changes(changes)
        by_id = {c["customer_id"]: c for c in customers}
        results = []
        for _, (events, _payload, _ids) in records:  # type: ignore[misc]
            ids = dict.fromkeys(e["customer_id"] for e in events)
            results.append([by_id.get(c) or self.live.membership(c) for c in ids])
        if self.notifier is not None:
            try:
                self.notifier.observe(everything)
            except Exception:  # noqa: BLE001
                log.exception("change detection failed")
        if self.buffered_events >= self.config.flush_max_events and self._flush_wake:
            self._flush_wake.set()
        return results

    # ------------------------------------------------------------------ flushing to DuckDB

    async def _flusher(self) -> None:
        assert self._flush_wake is not None
        while True:
            try:
                await asyncio.wait_for(self._flush_wake.wait(), self.config.flush_interval_s)
            except TimeoutError:
                pass
            self._flush_wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - keep the records, try again later
                log.exception("storing events in the workspace failed; will retry")
                await asyncio.sleep(1.0)

    async def flush(self) -> int:
        """Store every queued record in DuckDB now; return the number of events stored."""
        assert self._flush_lock is not None
        async with self._flush_lock:
            return await self._flush_locked()

    async def _flush_locked(self) -> int:
        if not self.buffer:
            return 0
        taken, self.buffer = self.buffer, []
        n = sum(count for _, count, _ in taken)
        self.buffered_events -= n
        try:
            # the log's own JSON goes to DuckDB, which parses it (no per-event Python work)
            payload = b"[" + b",".join(p[1:-1] for _, _, p in taken) + b"]"
            seq = taken[-1][0]
            await self.db(lambda con: store.store_event_json(con, seq=seq, payload=payload))
        except BaseException:
            self.buffer = taken + self.buffer
            self.buffered_events += n
            raise
        self.applied_seq = seq
        self.wal.discard_applied(seq)
        return n

    # ------------------------------------------------------------------ runs

    async def reload(self) -> None:
        """Load the latest run's state, then re-apply events not yet in DuckDB."""
        assert self._flush_lock is not None
        async with self._flush_lock:
            await self._flush_locked()
            state = await self.db(LiveState.load)
            self.has_predictions = await self.db(_has_rows, "predictions")
            for _, _, payload in self.buffer:  # events committed while loading
                state.apply(json.loads(payload))
            self.live = state
            if self.notifier is not None:
                await self.notifier.fit_drift()
        self.publish({"type": "run.loaded", "run_id": state.run_id})

    def start_refit(
        self, n_segments: int | None, random_state: int, trigger: str = "request"
    ) -> RefitState:
        if self.refit.state == "running":
            raise Conflict("a refit is already running; see GET /v1/runs")
        self.refit = RefitState("running", None, datetime.now(UTC), None, None, trigger)
        self.events_since_refit = 0
        self._tasks.append(
            asyncio.create_task(self._refit(n_segments, random_state), name="segmint-refit")
        )
        return self.refit

    async def _refit(self, n_segments: int | None, random_state: int) -> None:
        from segmint import pipeline

        try:
            await self.flush()
            result = await asyncio.to_thread(
                pipeline.segment,
                self.workspace,
                n_segments=n_segments,
                random_state=random_state,
                write_html=False,
            )
            await self.reload()
            self.refit.run_id = result.run_id
            self.refit.state = "done"
        except Exception as exc:  # noqa: BLE001 - reported through GET /v1/runs
            log.exception("refit failed")
            self.refit.state = "failed"
            self.refit.error = str(exc) if isinstance(exc, SegmintError) else type(exc).__name__
        finally:
            self.refit.finished_at = datetime.now(UTC)

    async def _scheduler(self) -> None:
        """Refit every ``refit_interval_s``; a period without new events, or with a refit
        still running, is skipped (the same data would give the same segments)."""
        interval = float(self.config.refit_interval_s or 0)
        while True:
            self.next_refit_at = datetime.now(UTC) + timedelta(seconds=interval)
            await asyncio.sleep(interval)
            if self.events_since_refit == 0 or self.refit.state == "running":
                continue
            log.info("scheduled refit (%d new events)", self.events_since_refit)
            self.start_refit(None, self.config.refit_random_state, trigger="schedule")

    # ------------------------------------------------------------------ reads

    async def predictions(self, customer_id: str) -> dict | None:
        """The customer's row of the latest prediction run, where the workspace has one."""
        if not self.has_predictions:
            return None

        def query() -> dict | None:
            with self._read_lock:
                cur = self._read_con
                rel = cur.execute(
                    "SELECT * FROM predictions WHERE customer_id = ? ORDER BY run_id DESC LIMIT 1",
                    [customer_id],
                )
                names = [d[0] for d in rel.description]
                rows = rel.fetchall()
            if not rows:
                return None
            return {k: _plain(v) for k, v in zip(names, rows[0], strict=True)}

        return await asyncio.to_thread(query)

    # ------------------------------------------------------------------ notifications

    def webhooks_changed(self) -> None:
        """Replaced by the notifier: reload the webhook list."""

    def raise_alert(self, alert: dict) -> None:
        """Store an alert and announce it."""
        task = asyncio.get_running_loop().create_task(self.db(store.record_alert, alert))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        self.publish(
            {
                "id": alert["alert_id"],
                "type": "alert",
                "created_at": str(alert.get("created_at")),
                "data": alert,
            }
        )

    def _announce_changes(self, changes: list[Change]) -> None:
        for ch in changes:
            if ch.old_segment is not None:
                self.publish(self._segment_event("segment.left", ch, ch.old_segment))
            if ch.new_segment is not None:
                self.publish(self._segment_event("segment.entered", ch, ch.new_segment))

    def _segment_event(self, kind: str, ch: Change, segment_id: int) -> dict:
        seg = self.live.segments.get(segment_id, {})
        return {
            "id": "evt_" + secrets.token_hex(8),
            "type": kind,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "data": {
                "customer_id": ch.customer_id,
                "segment_id": segment_id,
                "segment": seg.get("name"),
                "from_segment_id": ch.old_segment,
                "to_segment_id": ch.new_segment,
                "confidence": ch.confidence,
                "run_id": self.live.run_id,
                "event_ts": ch.ts,
            },
        }

    def publish(self, message: dict) -> None:
        """Send a notification to stream subscribers and (through the notifier) webhooks."""
        for q in list(self.subscribers):
            try:
                q.put_nowait(message)
            except asyncio.QueueFull:  # a slow reader loses messages rather than stall ingest
                pass
        if self.notifier is not None and message.get("type") in (
            "segment.entered",
            "segment.left",
            "alert",
        ):
            self.notifier.deliver(message)


def _has_rows(con: Any, table: str) -> bool:
    """Whether a table exists and holds rows (lookups skip empty optional tables)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
    ).fetchall()[0][0]
    if not found:
        return False
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchall()[0][0])


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def workspace_lock_hint(exc: Exception, path: Path) -> WorkspaceError:
    return WorkspaceError(
        f"{exc}. Is `segmint serve` running on {path}? While it runs, manage keys through the "
        "API (POST/GET/DELETE /v1/keys with an admin key)."
    )
