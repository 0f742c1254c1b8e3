"""Change detection: weekly EWMA charts per segment over the purchases the service receives."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segmint.activate.demand import demand_effect
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
        #: (segment, category) -> the segment's usual weekly orders containing the category
        self.baseline_orders: dict[tuple[int, str], float] = {}
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
        self.baseline_orders = baseline_weekly_orders(
            seg[keep], lines["category"][keep], lines["order_id"][keep], periods
        )
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
            message, effect = d["message"], {}
            if d["metric"].startswith("category_share:"):
                # an interest shift is a demand shift: what it means in orders next week
                category = d["metric"].split(":", 1)[1]
                effect = demand_effect(
                    self.baseline_orders.get((d["segment_id"], category), 0.0),
                    d["relative_change"],
                    category=category,
                    segment=d["segment_name"],
                )
                message = f"{message}; {effect.pop('demand_message')}"
            self.engine.raise_alert(
                {
                    "alert_id": "alr_" + secrets.token_hex(8),
                    "created_at": datetime.now(UTC).replace(tzinfo=None),
                    "run_id": self.engine.live.run_id,
                    "segment_id": d["segment_id"],
                    "metric": d["metric"],
                    "message": message,
                    **effect,
                    "evidence": {
                        **d["evidence"],
                        "direction": d["direction"],
                        "relative_change": d["relative_change"],
                        "window": d["window"],
                        "period_start": d["period_start"],
                        **effect,
                    },
                }
            )


def _weekly_lines(con: Any, weeks: int) -> dict | None:
    """Purchase lines of the last ``weeks`` full weeks before the newest one, by week."""
    (last,) = con.execute("SELECT max(ts) FROM transactions WHERE NOT is_return").fetchone()
    if last is None:
        return None
    got = con.execute(
        """SELECT customer_id, category, amount, order_id,
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
        "order_id": np.asarray(got["order_id"], dtype=object),
        "week": np.asarray(got["week"]).astype("datetime64[D]"),
    }


def baseline_weekly_orders(segments, categories, order_ids, weeks) -> dict[tuple[int, str], float]:
    """Each segment's mean weekly orders containing each category over the baseline weeks (a
    week without any is a 0)."""
    lines = pd.DataFrame(
        {"segment": segments, "category": categories, "order": order_ids, "week": weeks}
    ).dropna(subset=["category"])
    n_weeks = max(int(pd.Series(weeks).nunique()), 1)
    orders = lines.drop_duplicates().groupby(["segment", "category"])["order"].nunique()
    return {(int(s), str(c)): float(n) / n_weeks for (s, c), n in orders.items()}
