"""The service engine: workspace connection, write-ahead log, live state, flushing, refits.

One :class:`Engine` per app, created in the lifespan. The event path:

1. the request's events are validated and de-duplicated by ``event_id`` (in memory: the MD5
   digests of every id stored, 16 bytes each (:mod:`segmint.realtime.dedupe`), plus the ids in
   flight);
2. the new ones go to the write-ahead log as one record; the writer fsyncs groups of records
   (group commit) and then, in sequence order, applies each record to the live state and queues
   it for DuckDB -- only then is the request answered;
3. a background task stores queued records in DuckDB in batches (events, purchase lines,
   customers) together with the last applied sequence number, in one transaction, and deletes
   log files that are wholly stored;
4. for a run found on more than purchases, the customers whose events were just stored have
   their web, conversation, device and social features recomputed from the store by the
   batch's own queries (:mod:`segmint.realtime.live_sources`), chat text read there, in a
   worker thread, and are re-assigned: asynchronously, with the lag reported by ``/health``.

On start the state is loaded from DuckDB and the log records after the stored sequence number
are replayed, so an acknowledged event is never lost and never stored twice.

Webhook notifications (a customer entering or leaving a segment, an alert) are queued in the
workspace's outbox in the transaction that stores their cause: segment changes with the events
that caused them (step 3; replay recomputes the changes of records not stored yet), alerts with
the alert. :class:`~segmint.realtime.webhooks.WebhookSender` delivers from there.

Keys and rate limits (:mod:`~segmint.service.auth`, :mod:`~segmint.service.ratelimit`) and
refits (:mod:`~segmint.service.refit`) live in their own modules; the engine holds them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
from pydantic_core import to_json

from segmint.activate.recommend import RecommendationBook
from segmint.consent.audit import record, record_many
from segmint.consent.ledger import Appended, append_rows
from segmint.consent.permitted import ConsentView
from segmint.consent.policy import ConsentPolicy
from segmint.consent.pseudonym import destination_key, pseudonym
from segmint.errors import AudienceTooSmall, ConsentError
from segmint.pipeline._erase import erase_in_transaction, wal_directory
from segmint.realtime import SortedKeys
from segmint.realtime.dedupe import DIGEST, digests, digests_from_halves
from segmint.realtime.live import Change, LiveState
from segmint.realtime.urlguard import DestinationPolicy
from segmint.realtime.wal import WriteAheadLog, scrub_log
from segmint.realtime.webhooks import RetryPolicy, WebhookSender
from segmint.service import auth
from segmint.service.actions import ActionIndex
from segmint.service.config import ServiceConfig
from segmint.service.errors import NotFound, ServiceUnavailable
from segmint.service.privacy import route_notifications
from segmint.service.ratelimit import TokenBuckets
from segmint.service.refit import Refits
from segmint.store.alerts import record_alert
from segmint.store.events import applied_seq, load_event_id_digests, store_event_json
from segmint.store.keys import ApiKey, list_keys, revoke_key
from segmint.store.sealing import SecretBox
from segmint.store.webhooks import count_withheld, delete_webhook, seal_plaintext_secrets
from segmint.store.workspace import Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        self.keys: dict[str, ApiKey] = {}
        self.seen = SortedKeys(DIGEST)
        self.pending: dict[str, asyncio.Future] = {}
        # (sequence number, event count, the log record's JSON): decoded dicts are not kept,
        # so the collector has nothing to walk however much is waiting for DuckDB
        self.buffer: list[tuple[int, int, bytes]] = []
        self.buffered_events = 0
        # webhook notifications caused by the events in ``buffer``, stored with them
        self.notifications: list[dict] = []
        self.applied_seq = 0
        self.box: SecretBox | None = None
        self.sender: WebhookSender | None = None
        self.webhook_policy = DestinationPolicy(
            allow_loopback=self.config.allow_loopback_webhooks, own_port=self.config.port
        )
        self.refits = Refits(self)
        self.ready = False
        self._flush_lock: asyncio.Lock | None = None
        self._flush_wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self.rate = TokenBuckets(self.config.rate_per_second, self.config.rate_burst)
        failures = self.config.auth_failures_per_minute
        self.failed_auth = TokenBuckets(failures / 60.0, failures)
        self.subscribers: set[asyncio.Queue] = set()
        self.notifier: Any = None  # set by the app (change detection), fed the events
        #: called after another run is loaded (the dashboard prepares its pages of it)
        self.on_reload: list[Callable[[], Awaitable[None]]] = []
        self.has_predictions = False
        # the next best action: playbooks and customer facts of the run served
        self.actions: ActionIndex | None = None
        self._read_con: Any = None
        self._read_lock = threading.Lock()
        self._background: set[asyncio.Task] = set()
        # customers whose events are stored and whose source features are to be recomputed
        self._source_con: Any = None
        self._source_ids: list[str] = []
        self._source_wake: asyncio.Event | None = None
        # consent: the view every output checks, consent events waiting for the ledger, and
        # audit records (customer reads) waiting for the next flush
        self.consent = ConsentView(ConsentPolicy(), {}, set(), None)
        self._consent_events: list[dict] = []
        self._audit: list[dict] = []
        self._audit_key = b""
        # an erasure's deleted bytes leave the database file when it is rewritten, which
        # needs the workspace to itself: at stop (or, after a crash, at the next start)
        self._purge_flag = self.workspace.path / "erasure.pending"
        self._recommendations: tuple[float, RecommendationBook] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._flush_lock = asyncio.Lock()
        self._flush_wake = asyncio.Event()
        self._source_wake = asyncio.Event()
        await asyncio.to_thread(self._open)
        records = self.wal.open()
        replay = [(seq, json.loads(p), p) for seq, p in records if seq > self.applied_seq]
        for seq, events, payload in replay:
            self._consent_events.extend(e for e in events if e["type"] == "consent")
            _, changes = self.live.apply(events)
            self.notifications.extend(self._notifications(changes))
            self.buffer.append((seq, len(events), payload))
            self.buffered_events += len(events)
            self.seen.add(digests([e["event_id"] for e in events]))
        if self.wal.last_seq < self.applied_seq:  # log files removed by hand: keep counting
            self.wal.last_seq = self.applied_seq
        if replay:
            log.info("replayed %d log records (%d events)", len(replay), self.buffered_events)
        self.wal.start(self._commit)
        await self.flush()
        assert self.box is not None
        self.sender = WebhookSender(
            self.db,
            self.box,
            policy=self.webhook_policy,
            retry=RetryPolicy(
                max_attempts=self.config.webhook_max_attempts,
                base_delay=self.config.webhook_backoff_s,
                max_age=self.config.webhook_max_age_s,
            ),
            timeout=self.config.webhook_timeout_s,
            concurrency=self.config.webhook_concurrency,
        )
        await self.sender.start()
        self._tasks.append(asyncio.create_task(self._flusher(), name="segmint-flusher"))
        self._tasks.append(asyncio.create_task(self._source_refresher(), name="segmint-sources"))
        if self.config.refit_interval_s:
            self.refits.schedule(self.config.refit_interval_s)
        # the loaded state lives as long as the process: keep it out of the collector's
        # full passes, which would otherwise walk it and stall requests; and collect the
        # older generations less often -- a 10,000-event batch allocates ~100,000 containers,
        # which at the default thresholds means several full passes per request (measured:
        # validation 4x slower)
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 50, 100)
        self.ready = True
        log.info(
            "workspace %s open: run %s, %d customers, %d API keys",
            self.workspace.path,
            self.live.run_id,
            len(self.live.ids),
            sum(k.active for k in self.keys.values()),
        )

    def _open(self) -> None:
        if self._purge_flag.exists():
            self._purge()
        self.con = self._stack.enter_context(self.workspace.connect(create=True))
        self.box = SecretBox.for_workspace(self.workspace.path)
        seal_plaintext_secrets(self.con, self.box)
        self.keys = {k.key_id: k for k in list_keys(self.con)}
        self.applied_seq = applied_seq(self.con)
        stored = digests_from_halves(*load_event_id_digests(self.con))
        self.seen = SortedKeys(DIGEST, stored)
        self.live = LiveState.load(self.con)
        self.actions = ActionIndex.load(self.con, self.workspace.path, self.live.run_id)
        # loaded here, not on the first request: a load stalls the event loop
        self._recommendations = (
            time.monotonic(),
            RecommendationBook.load(self.con, self.live.run_id),
        )
        self.refits.load(self.con)
        self._read_con = self.con.cursor()
        self._source_con = self.con.cursor()
        self.has_predictions = _has_rows(self.con, "predictions")
        self.consent = ConsentView.load(self.con, self.workspace.path)
        self._audit_key = destination_key(self.con, self.workspace.path, "audit")

    def _purge(self) -> None:
        """Finish erasures: the log's records already in the database go (they may name an
        erased customer), and the database file is rewritten without the deleted rows."""
        with self.workspace.connect() as con:
            applied = applied_seq(con)
        scrub_log(wal_directory(self.workspace), applied, lambda e: True)
        self.workspace.compact()
        self._purge_flag.unlink(missing_ok=True)

    async def stop(self) -> None:
        self.ready = False
        if self.sender is not None:
            await self.sender.stop()
        await self.wal.close()
        await self.refits.stop()
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
            for cursor in (self._read_con, self._source_con):
                if cursor is not None:
                    cursor.close()
            self._stack.close()
        if self._purge_flag.exists():
            await asyncio.to_thread(self._purge)

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(con, *args, **kwargs)`` in a worker thread, one at a time."""

        def call() -> T:
            with self._db_lock:
                return fn(self.con, *args, **kwargs)

        return await asyncio.to_thread(call)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(cursor, *args, **kwargs)`` on the reading cursor in a worker thread: it sees
        what the flushes committed and never waits for one."""

        def call() -> T:
            with self._read_lock:
                return fn(self._read_con, *args, **kwargs)

        return await asyncio.to_thread(call)

    # ------------------------------------------------------------------ keys and limits

    def authenticate(self, token: str) -> ApiKey | None:
        return auth.authenticate(self.keys, token)

    async def create_key(
        self, scope: str, name: str | None, actor: str = "service"
    ) -> tuple[ApiKey, str]:
        def create(con: Any) -> tuple[ApiKey, str]:
            key, token = auth.create_key(con, scope=scope, name=name)
            record(
                con,
                self.workspace.path,
                actor=actor,
                action="key.create",
                target=key.key_id,
                detail={"scope": scope},
            )
            return key, token

        key, token = await self.db(create)
        self.keys[key.key_id] = key
        return key, token

    async def revoke_key(self, key_id: str, actor: str = "service") -> ApiKey:
        def revoke(con: Any) -> ApiKey:
            key = revoke_key(con, key_id)
            record(con, self.workspace.path, actor=actor, action="key.revoke", target=key_id)
            return key

        key = await self.db(revoke)
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
            self.refits.new_events += len(events)
            everything.extend(events)
        self._consent_events.extend(e for e in everything if e["type"] == "consent")
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
        # the customers made stale by the events taken now: their source features can be
        # recomputed once these are stored
        sources = self.live.sources
        stale = sources.take_stale() if sources is not None else []
        if not self.buffer:
            self._refresh_later(stale)
            return 0
        taken, self.buffer = self.buffer, []
        notes, self.notifications = self.notifications, []
        n = sum(count for _, count, _ in taken)
        self.buffered_events -= n
        try:
            # the log's own JSON goes to DuckDB, which parses it (no per-event Python work)
            payload = b"[" + b",".join(p[1:-1] for _, _, p in taken) + b"]"
            seq = taken[-1][0]
            await self.db(self._store, seq, payload, notes)
        except BaseException:
            self.buffer = taken + self.buffer
            self.notifications = notes + self.notifications
            self.buffered_events += n
            if sources is not None:
                sources.give_back(stale)
            raise
        self.applied_seq = seq
        self.wal.discard_applied(seq)
        if notes and self.sender is not None:
            self.sender.wake()
        self._refresh_later(stale)
        await self._store_consent_and_audit()
        return n

    def _store(self, con: Any, seq: int, payload: bytes, notes: list[dict]) -> None:
        routed, withheld = route_notifications(con, self.workspace.path, self.consent, notes)
        store_event_json(con, seq=seq, payload=payload, notifications=routed)
        count_withheld(con, withheld)

    async def _store_consent_and_audit(self) -> None:
        """Consent events into the ledger (once each: the event id is their evidence), and
        buffered audit records; the consent view is reloaded after a change."""
        events, self._consent_events = self._consent_events, []
        audit, self._audit = self._audit, []
        if not events and not audit:
            return
        rows = [
            {
                "customer_id": e["customer_id"],
                "purpose": e["properties"]["purpose"],
                "status": e["properties"]["status"],
                "source": "event",
                "ts": e["ts"],
                "evidence": "event:" + e["event_id"],
            }
            for e in events
        ]

        def store(con: Any) -> ConsentView | None:
            con.execute("BEGIN TRANSACTION")
            try:
                new = _not_in_ledger(con, rows)
                if new:
                    append_rows(con, self.workspace.path, new)
                if audit:
                    record_many(con, self.workspace.path, audit)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return ConsentView.load(con, self.workspace.path) if new else None

        try:
            view = await self.db(store)
        except Exception:  # noqa: BLE001 - kept for the next flush
            self._consent_events = events + self._consent_events
            self._audit = audit + self._audit
            raise
        if view is not None:
            self.consent = view

    # ------------------------------------------------------------------ live source features

    def _refresh_later(self, customer_ids: list[str]) -> None:
        if customer_ids and self._source_wake is not None:
            self._source_ids.extend(customer_ids)
            self._source_wake.set()

    async def _source_refresher(self) -> None:
        assert self._source_wake is not None
        while True:
            await self._source_wake.wait()
            self._source_wake.clear()
            ids, self._source_ids = list(dict.fromkeys(self._source_ids)), []
            state = self.live
            if ids and state.sources is not None:
                await self.refresh_sources(state, ids)

    async def refresh_sources(self, state: LiveState, customer_ids: list[str]) -> None:
        """Recompute customers' source features from the store and re-assign them."""
        sources = state.sources
        assert sources is not None
        as_of = state.source_as_of()

        def compute() -> Any:
            return sources.compute(self._source_con, customer_ids, as_of)

        try:
            frame = await asyncio.to_thread(compute)
        except Exception:  # noqa: BLE001 - stale again: the next flush retries them
            log.exception("recomputing %d customers' source features failed", len(customer_ids))
            sources.give_back(customer_ids)
            await asyncio.sleep(1.0)
            return
        if state is not self.live:  # a new run was loaded meanwhile, with its own values
            return
        changes = state.store_sources(frame, as_of)
        if changes:
            self._announce_changes(changes)

    # ------------------------------------------------------------------ runs

    async def reload(self) -> None:
        """Load the latest run's state, then re-apply events not yet in DuckDB."""
        assert self._flush_lock is not None
        async with self._flush_lock:
            await self._flush_locked()
            state = await self.db(LiveState.load)
            actions = await self.db(ActionIndex.load, self.workspace.path, state.run_id)
            book = await self.db(RecommendationBook.load, state.run_id)
            self.has_predictions = await self.db(_has_rows, "predictions")
            for _, _, payload in self.buffer:  # events committed while loading
                state.apply(json.loads(payload))
            self.live = state
            self.actions = actions
            self._recommendations = (time.monotonic(), book)
            if self.notifier is not None:
                await self.notifier.fit_drift()
        for hook in self.on_reload:
            await hook()
        self.publish({"type": "run.loaded", "run_id": state.run_id})

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

    def recommendation_book(self) -> RecommendationBook:
        """The live run's stored recommendations: loaded on first use and again when the
        service loads another run (or, while the run has none, at most every 30 seconds, so
        that ``segmint recommend`` run meanwhile is picked up)."""
        now = time.monotonic()
        cached = self._recommendations
        if (
            cached is None
            or cached[1].run_id != self.live.run_id
            or (len(cached[1]) == 0 and now - cached[0] > 30.0)
        ):
            with self._read_lock:
                book = RecommendationBook.load(self._read_con, self.live.run_id)
            self._recommendations = cached = (now, book)
        return cached[1]

    def next_best_action(self, customer_id: str, limit: int) -> dict:
        """The playbook action for the customer's live segment, finished for them, their top
        ``limit`` recommendations and the reasons (personalisation consent required)."""
        self.check_consent(customer_id, "personalisation")
        live = self.live
        membership = live.membership(customer_id)
        if membership["segment_id"] is None:
            raise NotFound(f"no customer {customer_id!r}")
        actions = self.actions
        if actions is None or actions.run_id != live.run_id:
            raise NotFound(
                "no playbooks for the run served; run `segmint playbooks init --force` for it"
            )
        customer = membership["customer_id"]
        recommendations = self.recommendation_book().for_customer(
            customer, limit, membership["segment_id"]
        )
        found = actions.next_best_action(
            membership,
            allows=lambda purpose: self.consent.allows(customer, purpose),
            recommendations=recommendations,
            rule=live.segments.get(membership["segment_id"], {}).get("rule"),
            now=datetime.now(UTC),
        )
        if found is None:
            raise NotFound(f"segment {membership['segment_id']} has no playbook entry")
        return {
            **membership,
            "customer_id": customer_id,
            "run_id": live.run_id,
            **found,
            "recommendations": recommendations,
        }

    # ------------------------------------------------------------------ consent and erasure

    def audit_later(self, key: ApiKey, action: str, **entry: Any) -> None:
        """An audit record stored with the next flush (reads must not wait for a write)."""
        self._audit.append({"actor": f"key:{key.key_id}", "action": action, **entry})

    def customer_ref(self, customer_id: str) -> str:
        """How the audit log names a customer: a keyed hash, never the id."""
        return pseudonym(self._audit_key, customer_id)

    def read_customer(self, customer_id: str, key: ApiKey, purpose: str) -> dict | None:
        """The customer's live profile for ``purpose`` (None when unknown), the read recorded
        in the audit log; raises :class:`ConsentError` when the purpose is not permitted."""
        self.check_consent(customer_id, purpose)
        found = self.live.customer(customer_id)
        self.audit_later(
            key,
            "customer.read",
            purpose=purpose,
            target=self.customer_ref(customer_id),
            rows=int(found is not None),
        )
        return found

    def check_consent(self, customer_id: str, purpose: str) -> None:
        """Raise unless ``customer_id`` may be used for ``purpose`` now."""
        self.consent.policy.check(purpose)
        if not self.consent.allows(self.live.resolve(customer_id), purpose):
            raise ConsentError(
                f"customer {customer_id!r} has not consented to {purpose} (regime "
                f"{self.consent.policy.regime(purpose)}), or was erased"
            )

    def members(
        self, segment_id: int, purpose: str, cursor: str | None, limit: int
    ) -> tuple[list[str], str | None, dict]:
        """A page of a segment's members permitted for ``purpose``, and the consent summary."""
        policy = self.consent.policy
        regime = policy.regime(purpose)
        size = self.live.live_sizes().get(segment_id, 0)
        if size < policy.min_audience:
            raise AudienceTooSmall(
                f"segment {segment_id} has {size} customers now, under the minimum audience of "
                f"{policy.min_audience}; its members are not listed"
            )
        ids, nxt, withheld = self.live.members(
            segment_id,
            cursor,
            limit,
            keep=lambda c: self.consent.allows(c, purpose),
            token=(purpose, self.consent.serial),
        )
        summary = {
            "purpose": purpose,
            "regime": regime,
            "withheld": withheld,
            "min_audience": policy.min_audience,
        }
        return ids, nxt, summary

    async def record_consent(self, rows: list[dict], key: ApiKey) -> Appended:
        """Append consent changes to the ledger (one signed checkpoint), audit them, and
        apply them to every output at once."""
        for row in rows:
            self.consent.policy.check(row["purpose"])

        def store(con: Any) -> tuple[Appended, ConsentView]:
            con.execute("BEGIN TRANSACTION")
            try:
                done = append_rows(con, self.workspace.path, rows)
                record(
                    con,
                    self.workspace.path,
                    actor=f"key:{key.key_id}",
                    action="consent.change",
                    rows=len(rows),
                    detail={
                        "first_seq": done.first_seq,
                        "purposes": sorted({r["purpose"] for r in rows}),
                    },
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return done, ConsentView.load(con, self.workspace.path)

        done, self.consent = await self.db(store)
        return done

    async def erase(self, customer_id: str, key: ApiKey) -> dict:
        """Erase a customer now: their rows, consent key and live state go at once; the
        bytes leave the database file when the service stops (it is then rewritten)."""
        assert self._flush_lock is not None
        async with self._flush_lock:
            await self._flush_locked()  # their events still in memory are stored, then erased

            def run(con: Any) -> Any:
                con.execute("BEGIN TRANSACTION")
                try:
                    done = erase_in_transaction(
                        con, self.workspace, customer_id, f"key:{key.key_id}"
                    )
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                return done, ConsentView.load(con, self.workspace.path)

            done, self.consent = await self.db(run)
            self._purge_flag.touch()
        if not done.total:
            log.info("erasure of a customer with no stored rows (remembered as erased)")
        await self.reload()
        return {**done.to_dict(), "purged_at": "service stop"}

    # ------------------------------------------------------------------ notifications

    async def delete_webhook(self, webhook_id: str) -> bool:
        """Delete a webhook with its queued notifications, and abandon its delivery in flight;
        return whether it existed."""
        found = await self.db(delete_webhook, webhook_id)
        if found and self.sender is not None:
            self.sender.forget(webhook_id)
        return found

    def raise_alert(self, alert: dict) -> None:
        """Store an alert with its webhook notification, then announce it to the stream (a
        client told of an alert finds it in ``GET /v1/alerts``)."""
        message = {
            "id": alert["alert_id"],
            "type": "alert",
            "created_at": str(alert.get("created_at")),
            "data": alert,
        }

        async def store() -> None:
            await self.db(record_alert, alert, notification=message)
            self.publish(message)
            if self.sender is not None:
                self.sender.wake()

        task = asyncio.get_running_loop().create_task(store())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _notifications(self, changes: list[Change]) -> list[dict]:
        out = []
        for ch in changes:
            if ch.old_segment is not None:
                out.append(self._segment_event("segment.left", ch, ch.old_segment))
            if ch.new_segment is not None:
                out.append(self._segment_event("segment.entered", ch, ch.new_segment))
                out.extend(self._action_event(ch))
        return out

    def _action_event(self, ch: Change) -> list[dict]:
        """The entering customer's next best action, for webhooks that subscribe to it (none
        without playbooks, or without the customer's consent to personalisation)."""
        if self.actions is None:
            return []
        try:
            found = self.next_best_action(ch.customer_id, 5)
        except (ConsentError, NotFound):
            return []
        return [
            {
                "id": "evt_" + secrets.token_hex(8),
                "type": "action.next",
                "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "data": found,
            }
        ]

    def _announce_changes(self, changes: list[Change]) -> None:
        """To the stream now; to webhooks with the next flush (see the module docstring)."""
        notes = self._notifications(changes)
        for message in notes:
            self.publish(message)
        self.notifications.extend(notes)

    def _segment_event(self, kind: str, ch: Change, segment_id: int) -> dict:
        seg = self.live.segments.get(segment_id, {})
        # the customer's micro-segment now (a taste, whatever their segment)
        now = self.live.membership(ch.customer_id)
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
                "micro_segment_id": now["micro_segment_id"],
                "micro_segment": now["micro_segment"],
                "run_id": self.live.run_id,
                "event_ts": ch.ts,
            },
        }

    def publish(self, message: dict) -> None:
        """Send a message to the stream's subscribers."""
        for q in list(self.subscribers):
            try:
                q.put_nowait(message)
            except asyncio.QueueFull:  # a slow reader loses messages rather than stall ingest
                pass


def _not_in_ledger(con: Any, rows: list[dict]) -> list[dict]:
    """The consent rows whose evidence (the event id) the ledger does not hold yet: a log
    record replayed after a crash between the flush and the ledger append adds each once."""
    if not rows:
        return []
    found = con.execute(
        "SELECT evidence FROM consent_ledger WHERE evidence IN (SELECT unnest(?))",
        [[r["evidence"] for r in rows]],
    ).fetchall()
    known = {f[0] for f in found}
    return [r for r in rows if r["evidence"] not in known]


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
