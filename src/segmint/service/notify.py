"""Notifications: webhook deliveries (signed, retried, logged) and change detection."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from segmint.realtime.drift import DriftDetector
from segmint.realtime.live import UNASSIGNED
from segmint.realtime.webhooks import SIGNATURE_HEADER, sign, verify
from segmint.store import webhooks as store

if TYPE_CHECKING:
    from segmint.service.engine import Engine

log = logging.getLogger("segmint.api")
__all__ = ["Notifier", "sign", "verify"]


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
        self._set_week(np.datetime64("2000-01-03", "D"))
        self._lines = []

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=self.cfg.webhook_timeout_s)
        self.engine.webhooks_changed = self._schedule_reload  # type: ignore[method-assign]
        await self.reload()
        await self.fit_drift()
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

    async def fit_drift(self) -> None:
        """Baseline of every segment's weekly category shares, value and size from the
        stored purchases (buyers in their live segment), then watch the weeks that follow."""
        live = self.engine.live
        if live.run_id is None or not live.ids:
            self.drift = None
            return
        lines = await self.engine.db(_weekly_lines, self.cfg.drift_baseline_weeks)
        if lines is None:
            self.drift = None
            return
        rows = np.array([live.index.get(c, -1) for c in lines["customer_id"]], dtype=np.int64)
        seg = np.where(rows >= 0, live.seg[np.maximum(rows, 0)], UNASSIGNED)
        keep = seg != UNASSIGNED
        drift = DriftDetector(
            period_days=7,
            arl0=self.cfg.drift_arl0,
            segment_names={s: v["name"] for s, v in live.segments.items()},
        )
        periods = lines["week"][keep]
        if len(np.unique(periods)) < drift.min_baseline_periods:
            self.drift = None
            return
        drift.fit_baseline(
            periods,
            seg[keep],
            lines["category"][keep],
            lines["amount"][keep],
            customer_ids=lines["customer_id"][keep],
        )
        self.drift = drift
        self._set_week(np.datetime64(lines["week"].max(), "D") + np.timedelta64(7, "D"))
        self._lines: list[tuple[int, str | None, float, str]] = []

    def _set_week(self, week: np.datetime64) -> None:
        self._week = week
        self._week_str = str(week)
        self._next_str = str(week + np.timedelta64(7, "D"))

    def observe(self, events: list[dict]) -> None:
        """Feed change detection with purchases (event time drives the weekly periods)."""
        if self.drift is None:
            return
        live = self.engine.live
        for e in events:
            if e["type"] != "purchase":
                continue
            day = e["ts"][:10]  # ISO dates compare as strings: no per-event date objects
            while day >= self._next_str:  # the period is over: chart it
                self._close_period()
            if day < self._week_str:
                continue  # late lines of a charted period are not charted again
            row = live.index.get(e["customer_id"])
            s = UNASSIGNED if row is None else int(live.seg[row])
            if s != UNASSIGNED:
                p = e["properties"]
                self._lines.append((s, p.get("category"), p["amount"], e["customer_id"]))

    def _close_period(self) -> None:
        lines, self._lines = self._lines, []
        start = str(self._week)
        self._set_week(self._week + np.timedelta64(7, "D"))
        if not lines:
            return
        segs, cats, amounts, custs = zip(*lines, strict=True)
        for alert in self.drift.update(start, segs, cats, amounts, customer_ids=custs):
            d = alert.to_dict()
            self.engine.raise_alert(
                {
                    "alert_id": "alr_" + secrets.token_hex(8),
                    "created_at": datetime.now(UTC).replace(tzinfo=None),
                    "run_id": self.engine.live.run_id,
                    "segment_id": d["segment_id"],
                    "metric": d["metric"],
                    "message": d["message"],
                    "evidence": {
                        **d["evidence"],
                        "direction": d["direction"],
                        "relative_change": d["relative_change"],
                        "window": d["window"],
                        "period_start": d["period_start"],
                    },
                }
            )

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


def _weekly_lines(con: Any, weeks: int) -> dict | None:
    """Purchase lines of the last ``weeks`` full weeks before the newest one, by week."""
    (last,) = con.execute("SELECT max(ts) FROM transactions WHERE NOT is_return").fetchone()
    if last is None:
        return None
    got = con.execute(
        """SELECT customer_id, category, amount,
                  CAST(date_trunc('week', ts) AS DATE) AS week
           FROM transactions
           WHERE NOT is_return
             AND ts >= date_trunc('week', CAST(? AS TIMESTAMP)) - to_weeks(CAST(? AS INTEGER))
             AND ts < date_trunc('week', CAST(? AS TIMESTAMP))""",
        [last, weeks, last],
    ).fetchnumpy()
    if not len(got["customer_id"]):
        return None
    return {
        "customer_id": np.asarray(got["customer_id"], dtype=object),
        "category": np.asarray(got["category"], dtype=object),
        "amount": np.asarray(got["amount"], dtype=np.float64),
        "week": np.asarray(got["week"]).astype("datetime64[D]"),
    }
