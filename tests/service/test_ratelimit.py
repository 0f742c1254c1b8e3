"""Token buckets: spend, wait without spending, refill, and a bounded number of names."""

from __future__ import annotations

import time

from segmint.service.ratelimit import TokenBuckets


def test_spend_wait_and_refill():
    buckets = TokenBuckets(rate=20.0, burst=2)
    assert buckets.wait("x") == 0.0  # unknown names wait for nothing and cost nothing
    assert buckets.take("x") == 0.0 and buckets.take("x") == 0.0
    waited = buckets.take("x")
    assert 0 < waited <= 0.05
    assert 0 < buckets.wait("x") <= 0.05 and buckets.wait("y") == 0.0
    time.sleep(0.06)
    assert buckets.wait("x") == 0.0 and buckets.take("x") == 0.0


def test_names_are_bounded():
    buckets = TokenBuckets(rate=1e-9, burst=1, max_names=3)
    for name in "abcdef":
        buckets.take(name)  # each bucket is empty afterwards: none can be forgotten as full
    assert len(buckets._buckets) == 3
    assert buckets.wait("f") > 0  # the newest are kept, the oldest forgotten
    assert buckets.wait("a") == 0.0
