"""Change detection: weekly EWMA charts per segment over the purchases the service receives."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from segmint.realtime.drift import DriftDetector
from segmint.realtime.live import UNASSIGNED

if TYPE_CHECKING:
    from segmint.service.engine import Engine

__all__ = ["Notifier"]


class Notifier:
    """Change detection over incoming purchases; its alerts go through
    :meth:`Engine.raise_alert <segmint.service.engine.Engine.raise_alert>` (stored, streamed
    and queued for webhooks)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cfg = engine.config
        self.drift: Any = None
        self._set_week(np.datetime64("2000-01-03", "D"))
        self._lines = []

    async def start(self) -> None:
        await self.fit_drift()

    async def stop(self) -> None:
        """Nothing to stop: change detection runs inside the commit path."""

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
        found = [live.row(c) for c in lines["customer_id"]]
        rows = np.array([-1 if r is None else r for r in found], dtype=np.int64)
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
            row = live.row(e["customer_id"])
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
