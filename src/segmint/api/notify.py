"""Notifications: webhook deliveries (signed, retried, logged) and change detection."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from segmint.store import service as store

if TYPE_CHECKING:
    from segmint.api.engine import Engine

log = logging.getLogger("segmint.api")
SIGNATURE_HEADER = "X-Segmint-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """``t=TIMESTAMP,v1=HEX``, HEX = HMAC-SHA256(secret, b"TIMESTAMP." + body)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300) -> bool:
    """Check a signature header (for receivers and tests)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Notifier:
    """Delivers notifications to webhooks and runs change detection over incoming events."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cfg = engine.config
        self.webhooks: list[dict] = []
        self._queue: asyncio.Queue | None = None
        self._workers: list[asyncio.Task] = []
        self._client: httpx.AsyncClient | None = None
        self._inflight: set[asyncio.Task] = set()
        self.drift: Any = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=self.cfg.webhook_timeout_s)
        self.engine.webhooks_changed = self._schedule_reload  # type: ignore[method-assign]
        await self.reload()
        for d in await self.engine.db(store.pending_deliveries):  # resume after a restart
            hook = next((w for w in self.webhooks if w["webhook_id"] == d["webhook_id"]), None)
            if hook is not None:
                d["status"] = "retrying"
                self._queue.put_nowait(d)
        self._workers = [asyncio.create_task(self._worker()) for _ in range(4)]

    async def stop(self) -> None:
        for t in self._workers + list(self._inflight):
            t.cancel()
        for t in self._workers + list(self._inflight):
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        if self._client is not None:
            await self._client.aclose()

    async def reload(self) -> None:
        self.webhooks = await self.engine.db(store.list_webhooks)

    def _schedule_reload(self) -> None:
        task = asyncio.create_task(self.reload())
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    # ------------------------------------------------------------------ events in

    def observe(self, events: list[dict]) -> None:
        """Feed change detection (see ``segmint.realtime.drift``)."""
        if self.drift is None:
            return
        for alert in self.drift.observe(events):
            self.engine.publish(alert)

    # ------------------------------------------------------------------ delivery

    def deliver(self, message: dict) -> None:
        if self._queue is None:
            return
        for hook in self.webhooks:
            if message["type"] in hook["event_types"]:
                self._queue.put_nowait(
                    {
                        "delivery_id": "dlv_" + secrets.token_hex(8),
                        "webhook_id": hook["webhook_id"],
                        "event_type": message["type"],
                        "payload": message,
                        "status": "pending",
                        "attempts": 0,
                        "created_at": datetime.now(UTC).replace(tzinfo=None),
                    }
                )

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            d = await self._queue.get()
            try:
                await self._send(d)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - never let one delivery stop the worker
                log.exception("webhook delivery %s failed unexpectedly", d.get("delivery_id"))

    async def _send(self, d: dict) -> None:
        hook = next((w for w in self.webhooks if w["webhook_id"] == d["webhook_id"]), None)
        if hook is None:
            return
        await self.engine.db(store.record_delivery, d)
        body = json.dumps(d["payload"], default=str, separators=(",", ":")).encode()
        assert self._client is not None
        while True:
            d["attempts"] += 1
            ts = int(time.time())
            try:
                resp = await self._client.post(
                    hook["url"],
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        SIGNATURE_HEADER: sign(hook["secret"], body, ts),
                        "X-Segmint-Event": d["event_type"],
                        "X-Segmint-Delivery": d["delivery_id"],
                        "User-Agent": "segmint-webhooks",
                    },
                )
                d["response_code"] = resp.status_code
                d["error"] = None if resp.is_success else f"HTTP {resp.status_code}"
                ok = resp.is_success
            except httpx.HTTPError as exc:
                d["response_code"] = None
                d["error"] = f"{type(exc).__name__}: {exc}"[:500]
                ok = False
            if ok:
                d["status"] = "delivered"
            elif d["attempts"] >= self.cfg.webhook_max_attempts:
                d["status"] = "failed"
            else:
                d["status"] = "retrying"
            await self.engine.db(store.record_delivery, d)
            if d["status"] != "retrying":
                return
            await asyncio.sleep(self.cfg.webhook_backoff_s * 2 ** (d["attempts"] - 1))
