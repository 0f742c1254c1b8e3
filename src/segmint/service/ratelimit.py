"""Token buckets, one per name (an API key, a client address)."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    last: float


class TokenBuckets:
    """``rate`` tokens a second per name, at most ``burst`` saved up.

    Parameters
    ----------
    rate : float
        Tokens added per second.
    burst : float
        Capacity of each bucket (a new name starts full).
    """

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, name: str) -> float:
        """Spend one token of ``name``; return 0, or the seconds until one is free."""
        now = time.monotonic()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.last) * self.rate)
        bucket.last = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate
