"""EWMA change detection: fires on a planted shift, stays quiet at the stated rate otherwise."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest

from segmint.realtime.drift import DriftDetector, ewma_arl, ewma_limit

CATS = np.array(["kitchen", "christmas", "home", "garden", "toys"], dtype=object)
MIX = np.array([0.4, 0.1, 0.2, 0.2, 0.1])


def _period(rng, n_lines=300, shares=None, segments=(0, 1, 2)):
    """Purchase lines of one period: per segment, categories drawn from its mix."""
    seg, cat, amt = [], [], []
    for s in segments:
        p = MIX if shares is None or s not in shares else shares[s]
        n = rng.poisson(n_lines)
        seg.append(np.full(n, s))
        cat.append(CATS[rng.choice(len(CATS), n, p=p)])
        amt.append(rng.lognormal(3.0, 0.3, n))
    return np.concatenate(seg), np.concatenate(cat), np.concatenate(amt)


def test_limit_matches_published_tables():
    # Lucas & Saccucci (1990): lambda 0.1, L 2.814 and lambda 0.2, L 2.962 give ARL0 ~ 500
    assert ewma_arl(0.1, 2.814) == pytest.approx(500, rel=0.01)
    assert ewma_arl(0.2, 2.962) == pytest.approx(500, rel=0.01)
    assert ewma_limit(0.2, 370.4) == pytest.approx(2.86, abs=0.01)
    assert ewma_arl(0.2, ewma_limit(0.2, 370.4), shift=1.0) < 15  # fast on a 1-sd shift


def test_fires_on_planted_shift():
    rng = np.random.default_rng(0)
    det = DriftDetector(baseline_periods=30, segment_names={1: "Big spenders"})
    start = date(2024, 1, 1)
    for t in range(30):  # warm-up periods become the baseline
        assert det.update(start + timedelta(weeks=t), *_period(rng)) == []
    assert det.charts_ is not None and len(det.charts_) == 3 * (len(CATS) + 1)
    for t in range(30, 40):  # in control: nothing
        assert det.update(start + timedelta(weeks=t), *_period(rng)) == []
    shifted = np.array([0.35, 0.2, 0.2, 0.15, 0.1])  # christmas 10% -> 20% in segment 1
    found = None
    for t in range(40, 44):
        alerts = det.update(start + timedelta(weeks=t), *_period(rng, shares={1: shifted}))
        if alerts:
            found = (t, alerts)
            break
    assert found is not None, "no alert within 4 periods of the shift"
    t, alerts = found
    hit = [a for a in alerts if a.metric == "category_share:christmas"]
    assert hit and hit[0].segment_id == 1 and hit[0].direction == "up"
    a = hit[0]
    assert a.relative_change > 0.4
    assert a.message.startswith("interest in category christmas among segment 'Big spenders' up ")
    assert a.message.endswith("% over the last 7 days")
    ev = a.evidence
    assert ev["ewma"] > ev["upper"] and ev["baseline_mean"] == pytest.approx(0.1, abs=0.01)
    assert ev["n"] > 0 and ev["L"] == pytest.approx(2.86, abs=0.01)
    json.dumps(a.to_dict())
    # only segment 1 moved
    assert all(x.segment_id == 1 for x in alerts)


def test_false_alarm_rate_matches_arl0():
    rng = np.random.default_rng(1)
    det = DriftDetector(arl0=100.0)  # a short ARL0 so the rate is measurable in a fast test
    base = [_period(rng, n_lines=150) for _ in range(150)]
    periods = np.concatenate([np.full(len(b[0]), i) for i, b in enumerate(base)])
    seg, cat, amt = (np.concatenate([b[k] for b in base]) for k in range(3))
    det.fit_baseline(periods, seg, cat, amt)
    n_charts = len(det.charts_)
    assert n_charts == 3 * (len(CATS) + 1)
    n_periods, alarms = 400, 0
    for t in range(n_periods):
        alarms += len(det.update(t, *_period(rng, n_lines=150)))
    expected = n_charts * n_periods / det.arl0  # 72
    # realised rate with estimated limits: within a factor of about two of the nominal
    assert 0.4 * expected < alarms < 2.0 * expected, (alarms, expected)


def test_sizes_state_round_trip_and_drop():
    rng = np.random.default_rng(2)
    det = DriftDetector(baseline_periods=20, period_days=1)
    for t in range(20):
        seg, cat, amt = _period(rng)
        det.update(t, seg, cat, amt, sizes={0: 1000 + rng.integers(-20, 20), 1: 500, 2: 300})
    assert (0, "size") in det.charts_ and (1, "size") not in det.charts_  # constant: not charted
    clone = DriftDetector.from_dict(json.loads(json.dumps(det.to_dict())))
    seg, cat, amt = _period(rng)
    alerts = clone.update(20, seg, cat, amt, sizes={0: 700, 1: 500, 2: 300})
    sizes = [a for a in alerts if a.metric == "size"]
    assert sizes and sizes[0].direction == "down" and sizes[0].window == "last day"
    assert sizes[0].message.startswith("size of segment 'segment 0' down 3")
    # a segment with no purchase at all: its value drops to 0
    seg, cat, amt = _period(rng, segments=(0, 1))
    alerts = clone.update(21, seg, cat, amt, sizes={0: 1000, 1: 500, 2: 300})
    assert any(a.segment_id == 2 and a.metric == "value" and a.direction == "down" for a in alerts)


def test_customer_ids_give_active_buyers():
    det = DriftDetector(baseline_periods=1, min_baseline_periods=1)
    obs, lines = det._observe([0, 0, 1], ["a", None, "b"], [1.0, 2.0, 3.0], ["x", "x", "y"])
    assert obs[(0, "size")] == 1 and obs[(1, "size")] == 1
    assert obs[(0, "category_share:a")] == pytest.approx(1 / 3) and lines == {0: 2, 1: 1}


def _buyers_period(rng, buyers=40, week_orders=None):
    """One period of segment 0: each of ``buyers`` customers buys about three lines from the
    usual mix; ``week_orders`` adds (customer, category, amount) lines."""
    n = buyers * 3
    cust = rng.integers(0, buyers, n).astype(str).astype(object)
    cat = CATS[rng.choice(len(CATS), n, p=MIX)]
    amt = rng.lognormal(3.0, 0.3, n)
    for who, category, amount in week_orders or []:
        cust = np.append(cust, who)
        cat = np.append(cat, category)
        amt = np.append(amt, amount)
    return np.zeros(len(amt), dtype=int), cat, amt, cust


def test_one_buyers_big_order_is_not_a_segment_shift():
    rng = np.random.default_rng(3)
    det = DriftDetector(baseline_periods=20, segment_names={0: "Home fans"})
    for t in range(20):
        seg, cat, amt, cust = _buyers_period(rng)
        det.update(t, seg, cat, amt, customer_ids=cust)
    assert (0, "value") in det.charts_ and (0, "category_share:toys") in det.charts_
    # a lapsed customer comes back with one huge order of toys: spend and toys share jump
    seg, cat, amt, cust = _buyers_period(rng, week_orders=[("lapsed", "toys", 3000.0)])
    value = det.charts_[0, "value"]
    assert amt.sum() > value.mean + 10 * value.sd  # the period itself is far out of control
    assert det.update(20, seg, cat, amt, customer_ids=cust) == []
    # without buyer ids the same period does signal: the guard is what kept it quiet
    blind = DriftDetector.from_dict(json.loads(json.dumps(det.to_dict())))
    blind.charts_ = {key: replace(c, ewma=c.mean) for key, c in det.charts_.items()}
    assert {a.metric for a in blind.update(20, seg, cat, amt)} >= {"value", "category_share:toys"}
    # the same extra toys spread over twenty of the segment's buyers is a shift
    spread = [(str(b), "toys", 150.0) for b in range(20)]
    seg, cat, amt, cust = _buyers_period(rng, week_orders=spread)
    alerts = det.update(21, seg, cat, amt, customer_ids=cust)
    toys = [a for a in alerts if a.metric == "category_share:toys"]
    assert toys and toys[0].direction == "up" and toys[0].evidence["buyers"] >= 20


def test_a_segment_that_stops_buying_still_signals_with_buyer_ids():
    rng = np.random.default_rng(4)
    det = DriftDetector(baseline_periods=20)
    for t in range(20):
        seg, cat, amt, cust = _buyers_period(rng)
        det.update(
            t, np.r_[seg, seg + 1], np.r_[cat, cat], np.r_[amt, amt], customer_ids=np.r_[cust, cust]
        )
    # segment 1 buys nothing this period: nobody to leave out, its spend drop is an alert
    seg, cat, amt, cust = _buyers_period(rng)
    alerts = det.update(20, seg, cat, amt, customer_ids=cust)
    drop = [a for a in alerts if a.segment_id == 1 and a.metric == "value"]
    assert drop and drop[0].direction == "down" and "buyers" not in drop[0].evidence
