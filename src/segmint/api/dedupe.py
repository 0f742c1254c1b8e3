"""The set of event ids the service has seen, kept compact: 16 bytes per id, exact.

Idempotency needs every stored event id at hand, for ever; as Python strings in a set that is
about 110 bytes per id (a gigabyte per ten million events). Here each id is its MD5 digest
(128 bits: two different ids collide with odds of about n^2 / 6.8e38, nil for any real volume),
kept in sorted NumPy arrays of ``S16``: a large ``main`` array and a small sorted ``delta``
that takes new ids and is merged into ``main`` once it holds more than ``max(merge_min,
merge_fraction * len(main))`` ids (one linear merge, amortised over the ids that filled it; a
small ``merge_min`` keeps the per-request copy of the delta small for single events).
Lookups are two binary searches per id, vectorised over a batch.
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


def _member(sorted_digests: np.ndarray, query: np.ndarray) -> np.ndarray:
    if sorted_digests.size == 0:
        return np.zeros(query.size, dtype=bool)
    pos = np.searchsorted(sorted_digests, query)
    return sorted_digests[np.minimum(pos, sorted_digests.size - 1)] == query


def _merge(sorted_digests: np.ndarray, new: np.ndarray) -> np.ndarray:
    # both sorted and disjoint: one linear pass (memcpy), no re-sort of the large side
    return np.insert(sorted_digests, np.searchsorted(sorted_digests, new), new)


class EventIdSet:
    """Exact set membership for event ids, at 16 bytes per id.

    Parameters
    ----------
    initial : ndarray of S16, optional
        Digests of the ids already stored (any order, repeats allowed).
    merge_min, merge_fraction : int, float
        When the delta is merged into the main array (see the module docstring).
    """

    def __init__(
        self,
        initial: np.ndarray | None = None,
        *,
        merge_min: int = 4_096,
        merge_fraction: float = 0.125,
    ) -> None:
        self._main = np.unique(initial) if initial is not None else np.empty(0, DIGEST)
        self._delta = np.empty(0, DIGEST)
        self.merge_min = merge_min
        self.merge_fraction = merge_fraction

    def __len__(self) -> int:
        return int(self._main.size + self._delta.size)

    @property
    def nbytes(self) -> int:
        return int(self._main.nbytes + self._delta.nbytes)

    def contains(self, ids: Sequence[str]) -> np.ndarray:
        """Whether each id has been added (bool array, one per id)."""
        return self.contains_digests(digests(ids))

    def contains_digests(self, d: np.ndarray) -> np.ndarray:
        return _member(self._main, d) | _member(self._delta, d)

    def add(self, ids: Sequence[str]) -> None:
        """Add ids (repeats and ids already present are fine)."""
        d = np.unique(digests(ids))
        self.add_new_digests(d[~self.contains_digests(d)])

    def add_new_digests(self, d: np.ndarray) -> None:
        """Add digests known to be distinct and absent (the service checked them on the way
        in), without checking again."""
        if d.size == 0:
            return
        self._delta = _merge(self._delta, np.sort(d))
        if self._delta.size > max(self.merge_min, self.merge_fraction * self._main.size):
            self._main = _merge(self._main, self._delta)
            self._delta = np.empty(0, DIGEST)
