"""Change detection per segment: EWMA control charts with a stated in-control run length.

Every period (a week by default) each segment yields a few numbers: the share of its spend in
each category (``category_share:<category>``, "interest"), its total spend (``value``) and its
size (``size``: members given by the caller, or else distinct active buyers). Each number has
its own two-sided EWMA chart (Roberts 1959; Lucas & Saccucci 1990):

.. math::

    z_t = \\lambda x_t + (1 - \\lambda) z_{t-1}, \\qquad z_0 = \\mu_0,

which signals when :math:`|z_t - \\mu_0| > L \\sigma_0 \\sqrt{\\lambda / (2 - \\lambda)}`.
:math:`\\mu_0` and :math:`\\sigma_0` are the mean and standard deviation of the metric over a
baseline of past periods. ``L`` is not a rule of thumb: it is solved (:func:`ewma_limit`) so
that the chart's in-control average run length, computed with the Markov-chain method of
Brook & Evans (1972) for normal observations, equals ``arl0`` -- 370.4 by default, the ARL of a
3-sigma Shewhart chart, i.e. one false alarm per 370 periods per chart (about 7 years of
weekly periods). With ``lambda = 0.2`` that gives ``L = 2.86``. After a signal the chart
restarts at :math:`\\mu_0`, so false alarms stay a renewal process with that mean spacing.

A spend or category-share signal must also hold without any one buyer (when buyers are
given): the period is charted again leaving out, in turn, each buyer of the segment, and when
leaving out one of them brings the EWMA back inside its limits there is no alert and the chart
keeps that value. A lapsed customer's large comeback order in a small segment is news about
that customer, not a shift of the segment.

Caveats, stated rather than hidden: the ARL holds for independent, roughly normal period
values (shares over many lines are; tiny segments are not) and for a baseline long enough that
:math:`\\mu_0, \\sigma_0` are well estimated -- with few baseline periods the realised false
alarm rate is higher (Jones, Champ & Rigdon 2001); use 20 or more where possible. With ``m``
charts watched together, expect about ``m / arl0`` false alarms per period in total; raise
``arl0`` to control the family rate (e.g. ``arl0 = 370 * m``). Categories first seen after the
baseline, and metrics that were constant in it, are not charted until the baseline is refitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import ndtr

from segmint.errors import DataValidationError

__all__ = ["Alert", "DriftDetector", "ewma_arl", "ewma_limit"]


def ewma_arl(lam: float, L: float, shift: float = 0.0, *, states: int = 201) -> float:
    """Average run length of a two-sided EWMA chart (Markov-chain approximation).

    Parameters
    ----------
    lam : float
        Smoothing weight, in (0, 1].
    L : float
        Limit in units of the EWMA's asymptotic standard deviation.
    shift : float, default=0.0
        Mean shift of the observations in units of their standard deviation (0: in control).
    states : int, default=201
        Number of Markov-chain states inside the limits (odd, so 0 is a state centre).

    Returns
    -------
    float
        Expected number of periods until the first signal, starting from the target.
    """
    h = L * np.sqrt(lam / (2.0 - lam))
    width = 2.0 * h / states
    centres = -h + width * (np.arange(states) + 0.5)
    upper = (centres[None, :] + width / 2 - (1 - lam) * centres[:, None]) / lam
    lower = (centres[None, :] - width / 2 - (1 - lam) * centres[:, None]) / lam
    P = ndtr(upper - shift) - ndtr(lower - shift)
    arl = np.linalg.solve(np.eye(states) - P, np.ones(states))
    return float(arl[states // 2])


@lru_cache(maxsize=64)
def ewma_limit(lam: float, arl0: float) -> float:
    """The limit ``L`` that gives an in-control average run length of ``arl0``.

    Parameters
    ----------
    lam : float
        Smoothing weight, in (0, 1].
    arl0 : float
        Target mean number of periods between false alarms (> 1).

    Returns
    -------
    float
        ``L`` such that :func:`ewma_arl` ``(lam, L) == arl0`` (to 1e-5 in L).
    """
    if not 0 < lam <= 1:
        raise ValueError("lam must be in (0, 1]")
    if arl0 <= 1:
        raise ValueError("arl0 must be > 1")
    # the ARL grows monotonically (about exponentially) with L: solve on the log scale
    target = np.log(arl0)
    return float(brentq(lambda L: np.log(ewma_arl(lam, L)) - target, 0.2, 6.0, xtol=1e-5))


@dataclass
class Alert:
    """A detected change in one segment's metric.

    Attributes
    ----------
    segment_id : int
    segment_name : str
    metric : str
        ``"category_share:<category>"``, ``"value"`` or ``"size"``.
    direction : str
        ``"up"`` or ``"down"``.
    relative_change : float
        Latest period's value relative to the baseline mean (0.35 means +35%).
    window : str
        The period, in words (``"last 7 days"``).
    period_start : str
        ISO date of the period that signalled.
    message : str
        One sentence for people.
    evidence : dict
        ``value`` (latest period), ``baseline_mean``, ``baseline_sd``, ``baseline_periods``,
        ``ewma``, ``lower``/``upper`` (control limits of the EWMA, in the metric's units),
        ``n`` (purchase lines of the segment in the period), ``lam``, ``L``, ``arl0``, and
        for spend and share alerts raised with buyer ids, ``buyers`` (distinct buyers).
    """

    segment_id: int
    segment_name: str
    metric: str
    direction: str
    relative_change: float
    window: str
    period_start: str
    message: str
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class _Chart:
    mean: float
    sd: float
    n_baseline: int
    ewma: float


def _period_key(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class DriftDetector:
    """EWMA charts on each segment's category shares, value and size (see the module notes).

    Parameters
    ----------
    period_days : int, default=7
        Length of one period; only used in words (``"last 7 days"``): the caller groups the
        lines into periods.
    lam : float, default=0.2
        EWMA weight of the newest period (smaller: more sensitive to small lasting shifts,
        slower to react to big ones).
    arl0 : float, default=370.4
        In-control average run length per chart, in periods.
    baseline_periods : int, default=12
        Periods collected by :meth:`update` before charts start, when :meth:`fit_baseline`
        was not called.
    min_baseline_periods : int, default=5
        Fewest baseline observations a chart needs.
    min_category_share : float, default=0.01
        Categories whose baseline mean share in a segment is below this are not charted.
    segment_names : mapping of int to str, optional
        Names used in messages (default ``"segment <id>"``).

    Attributes
    ----------
    L_ : float
        The limit solved from ``lam`` and ``arl0``.
    charts_ : dict
        ``(segment_id, metric) -> state`` once the baseline is fitted.
    """

    def __init__(
        self,
        *,
        period_days: int = 7,
        lam: float = 0.2,
        arl0: float = 370.4,
        baseline_periods: int = 12,
        min_baseline_periods: int = 5,
        min_category_share: float = 0.01,
        segment_names: Mapping[int, str] | None = None,
    ) -> None:
        self.period_days = int(period_days)
        self.lam = float(lam)
        self.arl0 = float(arl0)
        self.baseline_periods = int(baseline_periods)
        self.min_baseline_periods = int(min_baseline_periods)
        self.min_category_share = float(min_category_share)
        self.segment_names = {int(k): str(v) for k, v in (segment_names or {}).items()}
        self.L_ = ewma_limit(self.lam, self.arl0)
        self._halfwidth = self.L_ * np.sqrt(self.lam / (2.0 - self.lam))
        self.charts_: dict[tuple[int, str], _Chart] | None = None
        self._buffer: list[dict[tuple[int, str], float]] = []
        self._segments_seen: set[int] = set()

    @property
    def window(self) -> str:
        """The period in words."""
        return "last day" if self.period_days == 1 else f"last {self.period_days} days"

    # ------------------------------------------------------------------ observations
    @staticmethod
    def _observe(
        segment_ids: Any,
        categories: Any,
        amounts: Any,
        customer_ids: Any = None,
        sizes: Mapping[int, int] | None = None,
    ) -> tuple[dict[tuple[int, str], float], dict[int, int]]:
        seg = np.asarray(segment_ids, dtype=np.int64).ravel()
        amt = np.asarray(amounts, dtype=np.float64).ravel()
        cat = np.asarray(categories, dtype=object).ravel()
        if not seg.size == amt.size == cat.size:
            raise DataValidationError("segment_ids, categories and amounts differ in length")
        obs: dict[tuple[int, str], float] = {}
        lines: dict[int, int] = {}
        useg, sinv = np.unique(seg, return_inverse=True)
        spend = np.bincount(sinv, weights=amt, minlength=useg.size)
        counts = np.bincount(sinv, minlength=useg.size)
        has_cat = ~pd.isna(cat)
        cat_str = np.where(has_cat, cat, "").astype(str)
        ucat, cinv = np.unique(cat_str, return_inverse=True)
        grid = np.zeros((useg.size, ucat.size))
        np.add.at(grid, (sinv[has_cat], cinv[has_cat]), amt[has_cat])
        for i, s in enumerate(useg.tolist()):
            lines[s] = int(counts[i])
            obs[(s, "value")] = float(spend[i])
            if spend[i] > 0:
                for j, c in enumerate(ucat.tolist()):
                    if c != "" and grid[i, j] != 0:
                        obs[(s, f"category_share:{c}")] = float(grid[i, j] / spend[i])
                obs[(s, "_has_spend")] = 1.0
        if sizes is not None:
            for s, n in sizes.items():
                obs[(int(s), "size")] = float(n)
        elif customer_ids is not None:
            cust = np.asarray(customer_ids, dtype=object).ravel()
            if cust.size != seg.size:
                raise DataValidationError("customer_ids and segment_ids differ in length")
            active = pd.DataFrame({"s": seg, "c": cust}).groupby("s")["c"].nunique()
            for s, n in active.items():
                obs[(int(s), "size")] = float(n)
        return obs, lines

    # ------------------------------------------------------------------ baseline
    def fit_baseline(
        self,
        period_starts: Any,
        segment_ids: Any,
        categories: Any,
        amounts: Any,
        *,
        customer_ids: Any = None,
        sizes: Mapping[Any, Mapping[int, int]] | None = None,
    ) -> DriftDetector:
        """Set every chart's target and spread from past periods (charts restart).

        Parameters
        ----------
        period_starts : array-like, shape (n,)
            The period of each purchase line (any sortable label, e.g. the week's Monday).
        segment_ids, categories, amounts : array-like, shape (n,)
            Segment of the buyer, category and amount of each line.
        customer_ids : array-like, shape (n,), optional
            Buyer of each line: ``size`` becomes the distinct active buyers per period.
        sizes : mapping of period -> (segment -> members), optional
            Segment sizes per period (preferred over ``customer_ids`` for ``size``).

        Returns
        -------
        self
        """
        periods = np.asarray(period_starts, dtype=object).ravel()
        seg = np.asarray(segment_ids).ravel()
        cat = np.asarray(categories, dtype=object).ravel()
        amt = np.asarray(amounts, dtype=np.float64).ravel()
        cust = None if customer_ids is None else np.asarray(customer_ids, dtype=object).ravel()
        keys = sorted(set(periods.tolist()) | set((sizes or {}).keys()))
        observations = []
        for key in keys:  # one pass per period (a handful of periods, not per customer)
            m = periods == key
            obs, _ = self._observe(
                seg[m],
                cat[m],
                amt[m],
                None if cust is None else cust[m],
                None if sizes is None else sizes.get(key),
            )
            observations.append(obs)
        self._fit(observations)
        return self

    def _fit(self, observations: list[dict[tuple[int, str], float]]) -> None:
        metrics: dict[tuple[int, str], list[float]] = {}
        segments = {s for obs in observations for (s, _) in obs}
        for s in segments:
            cats = {
                m
                for obs in observations
                for (t, m) in obs
                if t == s and m.startswith("category_share:")
            }
            for obs in observations:
                if (s, "value") in obs:
                    metrics.setdefault((s, "value"), []).append(obs[(s, "value")])
                if (s, "size") in obs:
                    metrics.setdefault((s, "size"), []).append(obs[(s, "size")])
                if (s, "_has_spend") in obs:
                    for m in cats:
                        metrics.setdefault((s, m), []).append(obs.get((s, m), 0.0))
        charts: dict[tuple[int, str], _Chart] = {}
        for key, values in metrics.items():
            x = np.asarray(values)
            if x.size < self.min_baseline_periods:
                continue
            mean, sd = float(x.mean()), float(x.std(ddof=1))
            if not sd > 0 or not np.isfinite(sd):
                continue
            if key[1].startswith("category_share:") and mean < self.min_category_share:
                continue
            charts[key] = _Chart(mean=mean, sd=sd, n_baseline=int(x.size), ewma=mean)
        self.charts_ = charts
        self._segments_seen = segments

    # ------------------------------------------------------------------ monitoring
    def update(
        self,
        period_start: datetime | date | str,
        segment_ids: Any,
        categories: Any,
        amounts: Any,
        *,
        customer_ids: Any = None,
        sizes: Mapping[int, int] | None = None,
    ) -> list[Alert]:
        """Add one period's purchase lines and return the alerts it raises.

        Before a baseline exists the period is kept for it (no alerts) until
        ``baseline_periods`` periods are collected.

        Parameters
        ----------
        period_start : datetime, date or str
            Start of the period (used in the alert).
        segment_ids, categories, amounts : array-like, shape (n,)
            Segment of the buyer, category and amount of each purchase line of the period.
        customer_ids : array-like, shape (n,), optional
            Buyers (``size`` = distinct active buyers when ``sizes`` is not given); with them
            a spend or share alert must hold without any one buyer (see the module notes).
        sizes : mapping of int to int, optional
            Members of each segment at the end of the period.

        Returns
        -------
        list of Alert
        """
        obs, lines = self._observe(segment_ids, categories, amounts, customer_ids, sizes)
        if self.charts_ is None:
            self._buffer.append(obs)
            if len(self._buffer) >= self.baseline_periods:
                self._fit(self._buffer)
                self._buffer = []
            return []
        alerts = []
        lam, k = self.lam, self._halfwidth
        by_segment: dict[int, pd.DataFrame] | None = None  # the period's lines, split once
        for (s, metric), chart in self.charts_.items():
            if metric.startswith("category_share:"):
                if (s, "_has_spend") not in obs:
                    continue  # no spend: no share this period
                x = obs.get((s, metric), 0.0)
            elif (s, metric) in obs:
                x = obs[(s, metric)]
            elif metric == "value" and s in self._segments_seen:
                x = 0.0  # a watched segment without any purchase spent nothing
            else:
                continue
            before = chart.ewma
            chart.ewma = lam * x + (1 - lam) * before
            lower, upper = chart.mean - k * chart.sd, chart.mean + k * chart.sd
            if lower <= chart.ewma <= upper:
                continue
            buyers = None
            if customer_ids is not None and metric != "size" and lines.get(s, 0) > 0:
                # a segment that bought nothing has no buyer to leave out: its alert stands
                if by_segment is None:
                    by_segment = _lines_by_segment(segment_ids, categories, amounts, customer_ids)
                mine = by_segment[s]
                buyers = int(mine["buyer"].nunique())
                steadiest = self._without_one_buyer(metric, mine, chart, before)
                if steadiest is None or lower <= steadiest <= upper:
                    # one customer's orders are that customer's news, not the segment's
                    chart.ewma = before if steadiest is None else steadiest
                    continue
            alert = self._alert(s, metric, chart, x, lower, upper, lines.get(s, 0), period_start)
            if buyers is not None:
                alert.evidence["buyers"] = buyers
            alerts.append(alert)
            chart.ewma = chart.mean  # restart after a signal
        return alerts

    def _without_one_buyer(
        self, metric: str, lines: pd.DataFrame, chart: _Chart, before: float
    ) -> float | None:
        """The chart's EWMA had the period been bought without the one buyer whose absence
        brings it closest to the target; None when nothing is left to measure without any
        one of them (a share bought by a single customer)."""
        codes, _ = pd.factorize(lines["buyer"])
        amount = lines["amount"].to_numpy()
        spend = np.bincount(codes, weights=amount)
        if metric == "value":
            without = amount.sum() - spend
        else:
            here = (lines["category"] == metric.split(":", 1)[1]).to_numpy()
            in_category = np.bincount(codes[here], weights=amount[here], minlength=spend.size)
            rest = amount.sum() - spend
            with np.errstate(invalid="ignore", divide="ignore"):
                without = np.where(rest > 0, (amount[here].sum() - in_category) / rest, np.nan)
            without = without[np.isfinite(without)]
            if without.size == 0:
                return None
        ewma = self.lam * without + (1 - self.lam) * before
        return float(ewma[np.argmin(np.abs(ewma - chart.mean))])

    def _alert(self, s, metric, chart, x, lower, upper, n, period_start) -> Alert:
        name = self.segment_names.get(s, f"segment {s}")
        direction = "up" if chart.ewma > upper else "down"
        change = (x - chart.mean) / chart.mean if chart.mean != 0 else float("inf")
        pct = f"{abs(change) * 100:.0f}%"
        if metric.startswith("category_share:"):
            what = f"interest in category {metric.split(':', 1)[1]} among segment '{name}'"
        elif metric == "value":
            what = f"spend of segment '{name}'"
        else:
            what = f"size of segment '{name}'"
        message = f"{what} {direction} {pct} over the {self.window}"
        evidence = {
            "value": x,
            "baseline_mean": chart.mean,
            "baseline_sd": chart.sd,
            "baseline_periods": chart.n_baseline,
            "ewma": chart.ewma,
            "lower": lower,
            "upper": upper,
            "n": int(n),
            "lam": self.lam,
            "L": self.L_,
            "arl0": self.arl0,
        }
        return Alert(
            segment_id=int(s),
            segment_name=name,
            metric=metric,
            direction=direction,
            relative_change=float(change),
            window=self.window,
            period_start=_period_key(period_start),
            message=message,
            evidence=evidence,
        )

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict:
        """Parameters and chart states as a JSON-ready dict (see :meth:`from_dict`)."""
        return {
            "params": {
                "period_days": self.period_days,
                "lam": self.lam,
                "arl0": self.arl0,
                "baseline_periods": self.baseline_periods,
                "min_baseline_periods": self.min_baseline_periods,
                "min_category_share": self.min_category_share,
                "segment_names": {str(k): v for k, v in self.segment_names.items()},
            },
            "charts": None
            if self.charts_ is None
            else [
                {"segment_id": s, "metric": m, **asdict(c)} for (s, m), c in self.charts_.items()
            ],
            "segments_seen": sorted(self._segments_seen),
            "buffer": [[[s, m, v] for (s, m), v in obs.items()] for obs in self._buffer],
        }

    @classmethod
    def from_dict(cls, d: dict) -> DriftDetector:
        """Rebuild a detector saved with :meth:`to_dict`."""
        params = dict(d["params"])
        params["segment_names"] = {int(k): v for k, v in params["segment_names"].items()}
        det = cls(**params)
        if d.get("charts") is not None:
            det.charts_ = {
                (int(c["segment_id"]), c["metric"]): _Chart(
                    c["mean"], c["sd"], int(c["n_baseline"]), c["ewma"]
                )
                for c in d["charts"]
            }
        det._segments_seen = {int(s) for s in d.get("segments_seen", [])}
        det._buffer = [{(int(s), m): float(v) for s, m, v in obs} for obs in d.get("buffer", [])]
        return det


def _lines_by_segment(
    segment_ids: Any, categories: Any, amounts: Any, customer_ids: Any
) -> dict[int, pd.DataFrame]:
    """A period's purchase lines (buyer, category, amount) per segment."""
    lines = pd.DataFrame(
        {
            "segment": np.asarray(segment_ids, dtype=np.int64).ravel(),
            "buyer": np.asarray(customer_ids, dtype=object).ravel(),
            "category": np.asarray(categories, dtype=object).ravel(),
            "amount": np.asarray(amounts, dtype=np.float64).ravel(),
        }
    )
    return {int(s): group for s, group in lines.groupby("segment", sort=False)}
