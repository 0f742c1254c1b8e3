"""Event ids as 16-byte MD5 digests, for the service's set of seen ids.

Idempotency needs every stored event id at hand, for ever; as Python strings in a set that is
about 110 bytes per id (a gigabyte per ten million events). The service keeps each id's MD5
digest instead (128 bits: two different ids collide with odds of about n^2 / 6.8e38, nil for
any real volume) in a :class:`segmint.realtime.SortedKeys` of ``S16``: 16 bytes per id.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import md5

import numpy as np

DIGEST = np.dtype("S16")


def digests(ids: Sequence[str]) -> np.ndarray:
    """MD5 digests of the ids' UTF-8 bytes (what DuckDB's ``md5_number_*`` give, too)."""
    return np.array([md5(i.encode("utf-8")).digest() for i in ids], dtype=DIGEST)


def digests_from_halves(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Digests rebuilt from DuckDB's ``md5_number_upper`` / ``md5_number_lower`` (UBIGINTs
    read little-endian from the digest's first and last 8 bytes)."""
    halves = np.stack([upper.astype("<u8"), lower.astype("<u8")], axis=1)
    return np.ascontiguousarray(halves).view(DIGEST).ravel()
