"""Array building blocks of the live state (private): sorted key sets and key-value stores,
and hashing.

Everything here holds NumPy arrays only, so millions of entries are a handful of Python objects
(see DESIGN.md, "Facts measured": the garbage collector stalls with millions of live objects).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_U = np.uint64


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + c)`` for every pair, without a Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    ends = np.cumsum(counts)
    offsets = np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts)
    return np.arange(total, dtype=np.int64) + offsets


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijective avalanche of 64-bit integers (wrapping arithmetic)."""
    z = np.asarray(x).astype(_U, copy=True)
    with np.errstate(over="ignore"):
        z ^= z >> _U(30)
        z *= _U(0xBF58476D1CE4E5B9)
        z ^= z >> _U(27)
        z *= _U(0x94D049BB133111EB)
        z ^= z >> _U(31)
    return z


def hash_strings(values: np.ndarray | list) -> np.ndarray:
    """Stable 64-bit hashes of strings (None hashes as its own value); same in every process."""
    arr = np.asarray(values, dtype=object)
    if arr.size == 0:
        return np.empty(0, dtype=_U)
    arr = np.where(pd.isna(arr), "\x00<null>", arr).astype(object)
    return pd.util.hash_array(arr)


def combine(*parts: np.ndarray) -> np.ndarray:
    """Hash several uint64 arrays (same length) into one int64 key per row."""
    h = np.zeros(len(parts[0]), dtype=_U)
    with np.errstate(over="ignore"):
        for i, part in enumerate(parts):
            salt = _U((0x9E3779B97F4A7C15 * (i + 1)) % 2**64)
            h = mix64(h ^ mix64(np.asarray(part).astype(_U) + salt))
    return h.view(np.int64)


def find_sorted(keys: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insertion positions of ``q`` in the sorted ``keys``, and whether each is present."""
    pos = np.searchsorted(keys, q)
    if keys.size == 0:
        return pos, np.zeros(q.size, dtype=bool)
    found = keys[np.minimum(pos, keys.size - 1)] == q
    return pos, found


def _merge_sorted(keys: np.ndarray, new: np.ndarray) -> np.ndarray:
    # both sorted and disjoint: one linear pass, no re-sort of the large side
    return np.insert(keys, np.searchsorted(keys, new), new)


def _delta_is_full(delta: int, main: int, merge_min: int, merge_fraction: float) -> bool:
    # the two-level policy shared by SortedKeys and SortedKV: merge once the delta holds more
    # than max(merge_min, merge_fraction * main) keys (amortised O(log n + batch) per insert)
    return delta > max(merge_min, merge_fraction * main)


class SortedKeys:
    """A set of unique keys of any fixed-size, orderable dtype (e.g. ``S16`` digests), kept as
    a large sorted ``main`` array and a small sorted ``delta``, like :class:`SortedKV` without
    values. Membership is two binary searches per key, vectorised.
    """

    def __init__(
        self,
        dtype: np.dtype | str,
        keys: np.ndarray | None = None,
        *,
        merge_min: int = 4_096,
        merge_fraction: float = 0.125,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self._main = np.unique(np.asarray(keys if keys is not None else [], dtype=self.dtype))
        self._delta = np.empty(0, self.dtype)
        self.merge_min = merge_min
        self.merge_fraction = merge_fraction

    def __len__(self) -> int:
        return int(self._main.size + self._delta.size)

    def contains(self, q: np.ndarray) -> np.ndarray:
        """Whether each key is in the set (bool array)."""
        return find_sorted(self._main, q)[1] | find_sorted(self._delta, q)[1]

    def add(self, q: np.ndarray) -> None:
        """Add keys (repeats and keys already present are fine)."""
        q = np.unique(np.asarray(q, dtype=self.dtype))
        self.insert_new(q[~self.contains(q)])

    def insert_new(self, q: np.ndarray) -> None:
        """Add keys known to be distinct and absent, without checking again."""
        if q.size == 0:
            return
        self._delta = _merge_sorted(self._delta, np.sort(q))
        if _delta_is_full(self._delta.size, self._main.size, self.merge_min, self.merge_fraction):
            self._main = _merge_sorted(self._main, self._delta)
            self._delta = np.empty(0, self.dtype)


class SortedKV:
    """A set of unique int64 keys with one float64 value each, kept as sorted arrays.

    Two levels: a large sorted ``main`` array and a small sorted ``delta`` that takes the new
    keys; the delta is merged into main once it holds more than ``max(merge_min,
    merge_fraction * len(main))`` keys, so inserting costs amortised O(log n + batch) per key
    while lookups stay two binary searches. Structured keys (customer index in the high bits)
    make a customer's entries one contiguous range (:meth:`gather`).
    """

    def __init__(
        self,
        keys: np.ndarray | None = None,
        values: np.ndarray | None = None,
        *,
        merge_min: int = 65_536,
        merge_fraction: float = 0.125,
    ) -> None:
        keys = np.empty(0, np.int64) if keys is None else np.asarray(keys, dtype=np.int64)
        values = np.zeros(keys.size) if values is None else np.asarray(values, dtype=np.float64)
        order = np.argsort(keys, kind="stable")
        self._mk, self._mv = keys[order], values[order].copy()
        if self._mk.size > 1 and (np.diff(self._mk) == 0).any():
            raise ValueError("SortedKV keys must be unique")
        self._dk = np.empty(0, np.int64)
        self._dv = np.empty(0, np.float64)
        self.merge_min = merge_min
        self.merge_fraction = merge_fraction

    def __len__(self) -> int:
        return int(self._mk.size + self._dk.size)

    @property
    def nbytes(self) -> int:
        return int(self._mk.nbytes + self._mv.nbytes + self._dk.nbytes + self._dv.nbytes)

    def get(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(values, found)``; missing keys get NaN."""
        q = np.asarray(q, dtype=np.int64)
        out = np.full(q.size, np.nan)
        pos, fm = find_sorted(self._mk, q)
        out[fm] = self._mv[pos[fm]]
        pos, fd = find_sorted(self._dk, q)
        out[fd] = self._dv[pos[fd]]
        return out, fm | fd

    def _locate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pm, fm = find_sorted(self._mk, q)
        pd_, fd = find_sorted(self._dk, q)
        return pm, fm, pd_, fd & ~fm

    def _insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        # keys: unique, sorted, absent from both levels
        pos = np.searchsorted(self._dk, keys)
        self._dk = np.insert(self._dk, pos, keys)
        self._dv = np.insert(self._dv, pos, values)
        if _delta_is_full(self._dk.size, self._mk.size, self.merge_min, self.merge_fraction):
            self.compact()

    def compact(self) -> None:
        """Merge the delta into the main arrays."""
        if self._dk.size == 0:
            return
        pos = np.searchsorted(self._mk, self._dk)
        self._mk = np.insert(self._mk, pos, self._dk)
        self._mv = np.insert(self._mv, pos, self._dv)
        self._dk = np.empty(0, np.int64)
        self._dv = np.empty(0, np.float64)

    def add(self, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Add ``v`` to the value of each key, inserting missing keys (duplicates summed).

        Returns
        -------
        ndarray of bool
            True at the first occurrence of every key that was not present before.
        """
        q = np.asarray(q, dtype=np.int64)
        v = np.broadcast_to(np.asarray(v, dtype=np.float64), q.shape)
        pm, fm, pdl, fd = self._locate(q)
        np.add.at(self._mv, pm[fm], v[fm])
        np.add.at(self._dv, pdl[fd], v[fd])
        return self._insert_new(q, v, ~(fm | fd), summed=True)

    def insert_missing(self, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Insert keys that are absent with the value of their first occurrence.

        Returns
        -------
        ndarray of bool
            True at the first occurrence of every key that was not present before.
        """
        q = np.asarray(q, dtype=np.int64)
        v = np.broadcast_to(np.asarray(v, dtype=np.float64), q.shape)
        _, fm, _, fd = self._locate(q)
        return self._insert_new(q, v, ~(fm | fd), summed=False)

    def _insert_new(self, q: np.ndarray, v: np.ndarray, new: np.ndarray, *, summed: bool):
        mask = np.zeros(q.size, dtype=bool)
        if not new.any():
            return mask
        rows = np.flatnonzero(new)
        keys, first, inverse = np.unique(q[rows], return_index=True, return_inverse=True)
        if summed:
            vals = np.bincount(inverse, weights=v[rows], minlength=keys.size)
        else:
            vals = v[rows][first]
        self._insert(keys, vals)
        mask[rows[first]] = True
        return mask

    def gather(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries with ``lo[i] <= key < hi[i]`` for every i.

        Returns
        -------
        owner, keys, values : ndarray
            ``owner`` is the position i of the range; sorted by owner, then key.
        """
        lo = np.asarray(lo, dtype=np.int64)
        hi = np.asarray(hi, dtype=np.int64)
        owners, keys, values = [], [], []
        for k, v in ((self._mk, self._mv), (self._dk, self._dv)):
            if k.size == 0:
                continue
            a = np.searchsorted(k, lo)
            counts = np.searchsorted(k, hi) - a
            idx = ranges(a, counts)
            owners.append(np.repeat(np.arange(lo.size), counts))
            keys.append(k[idx])
            values.append(v[idx])
        if not owners:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
        owner, key, value = (np.concatenate(x) for x in (owners, keys, values))
        if len(owners) > 1:
            order = np.lexsort((key, owner))
            owner, key, value = owner[order], key[order], value[order]
        return owner, key, value


class Growable:
    """Column arrays indexed by row that grow geometrically (doubling) as rows are added."""

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = max(int(capacity), 16)
        self._columns: dict[str, tuple[np.ndarray, object]] = {}

    def add_column(self, name: str, dtype, fill, width: int | None = None) -> None:
        shape = (self._capacity,) if width is None else (self._capacity, width)
        self._columns[name] = (np.full(shape, fill, dtype=dtype), fill)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name][0]

    def widen(self, name: str, width: int) -> None:
        arr, fill = self._columns[name]
        if arr.shape[1] >= width:
            return
        new = np.full((arr.shape[0], max(width, 2 * arr.shape[1])), fill, dtype=arr.dtype)
        new[:, : arr.shape[1]] = arr
        self._columns[name] = (new, fill)

    def reserve(self, n: int) -> None:
        if n <= self._capacity:
            return
        capacity = self._capacity
        while capacity < n:
            capacity *= 2
        for name, (arr, fill) in self._columns.items():
            new = np.full((capacity, *arr.shape[1:]), fill, dtype=arr.dtype)
            new[: arr.shape[0]] = arr
            self._columns[name] = (new, fill)
        self._capacity = capacity
