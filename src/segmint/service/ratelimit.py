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
    max_names : int, default=100_000
        Buckets kept at most. Past it, full buckets are forgotten (a new one would be full
        too), or else the oldest: names come from clients, so their number must not grow
        without bound.
    """

    def __init__(self, rate: float, burst: float, max_names: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_names = max_names
        self._buckets: dict[str, _Bucket] = {}

    def take(self, name: str) -> float:
        """Spend one token of ``name``; return 0, or the seconds until one is free."""
        bucket = self._refill(name)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def wait(self, name: str) -> float:
        """Seconds until ``name`` has a token (0: it has one now); spends nothing."""
        bucket = self._buckets.get(name)
        if bucket is None:
            return 0.0
        tokens = min(self.burst, bucket.tokens + (time.monotonic() - bucket.last) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _refill(self, name: str) -> _Bucket:
        now = time.monotonic()
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= self.max_names:
                self._forget(now)
            bucket = self._buckets[name] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.last) * self.rate)
        bucket.last = now
        return bucket

    def _forget(self, now: float) -> None:
        full = [
            n
            for n, b in self._buckets.items()
            if b.tokens + (now - b.last) * self.rate >= self.burst
        ]
        for n in full or [next(iter(self._buckets))]:
            del self._buckets[n]
