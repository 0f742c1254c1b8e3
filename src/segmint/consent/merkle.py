"""Merkle tree hashing of RFC 9162 §2.1 (Certificate Transparency v2), on lists of digests.

A leaf's hash is SHA-256(0x00 || data), an inner node's SHA-256(0x01 || left || right), and
the tree of n leaves splits at the largest power of two below n. Built level by level, that is:
pair the nodes left to right and carry a lone last node up unchanged.

The full tree is kept as its levels (``levels[0]`` the leaf hashes, ``levels[-1]`` the root):
lists of 32-byte digests, no node objects, so ten million leaves take a few seconds and about
1.5 GB. Every node of a *perfect* subtree (2^k leaves starting at a multiple of 2^k) is then
at hand, and the root of any prefix of the leaves, or of any subtree a proof needs, is a fold
of O(log n) of them (:func:`range_hash`). So one build serves the root at every checkpoint's
size, and the inclusion and consistency proofs against any of them.

Examples
--------
>>> leaves = [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")]
>>> levels = build_levels(leaves)
>>> root_at(levels, 3) == node_hash(node_hash(leaves[0], leaves[1]), leaves[2])
True
>>> path = inclusion_proof(levels, 2, 3)
>>> verify_inclusion(2, 3, leaves[2], path, root_at(levels, 3))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

__all__ = [
    "build_levels",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root_at",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return sha256(b"\x01" + left + right).digest()


def build_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the tree over ``leaves`` (32-byte leaf hashes), leaves first."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        pairs = zip(below[0::2], below[1::2], strict=False)  # an odd last node is carried
        above = [sha256(b"\x01" + a + b).digest() for a, b in pairs]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def _split(n: int) -> int:
    """The largest power of two below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(levels: list[list[bytes]], start: int, end: int) -> bytes:
    """MTH of the leaves ``start:end``, a subtree of the RFC's recursion (``start`` a multiple
    of the power of two at or above ``end - start``), from the perfect subtrees in ``levels``."""
    size = end - start
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0:
        # a perfect subtree: its root is a node of the full tree (inside it, as end <= leaves)
        return levels[size.bit_length() - 1][start >> (size.bit_length() - 1)]
    k = _split(size)
    return node_hash(range_hash(levels, start, start + k), range_hash(levels, start + k, end))


def root_at(levels: list[list[bytes]], n: int) -> bytes:
    """The root of the tree of the first ``n`` leaves (MTH(D[0:n])), in O(log n)."""
    if n > len(levels[0]):
        raise ValueError(f"the tree has {len(levels[0])} leaves, not {n}")
    return range_hash(levels, 0, n)


def frontier(levels: list[list[bytes]], n: int) -> list[tuple[int, bytes]]:
    """The roots of the perfect subtrees the first ``n`` leaves split into, largest first, as
    (height, hash): all an append needs to extend the tree (at most 64 of them)."""
    out, offset = [], 0
    for height in range(n.bit_length() - 1, -1, -1):
        if n >> height & 1:
            out.append((height, levels[height][offset >> height]))
            offset += 1 << height
    return out


def extend(front: list[tuple[int, bytes]], leaves: list[bytes]) -> list[tuple[int, bytes]]:
    """The frontier after appending ``leaves`` (O(log n) each): equal heights merge."""
    front = list(front)
    for leaf in leaves:
        front.append((0, leaf))
        while len(front) > 1 and front[-1][0] == front[-2][0]:
            (height, left), (_, right) = front[-2], front[-1]
            front[-2:] = [(height + 1, node_hash(left, right))]
    return front


def frontier_root(front: list[tuple[int, bytes]]) -> bytes:
    """The root of the tree a frontier describes: MTH splits at the largest power of two, so
    the subtrees fold from the right."""
    if not front:
        return EMPTY_ROOT
    root = front[-1][1]
    for _, left in reversed(front[:-1]):
        root = node_hash(left, root)
    return root


def inclusion_proof(levels: list[list[bytes]], index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves
    (RFC 9162 §2.1.3.1), leaf side first."""
    if not 0 <= index < size <= len(levels[0]):
        raise ValueError(f"no leaf {index} in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    # walk down from the root, noting the sibling subtree at each split; the RFC lists them
    # from the leaf up, so the list is reversed at the end
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(levels, start + k, end))
            end = start + k
        else:
            path.append(range_hash(levels, start, start + k))
            start += k
    return path[::-1]


def consistency_proof(levels: list[list[bytes]], old: int, new: int) -> list[bytes]:
    """The proof that the tree of the first ``old`` leaves is a prefix of the tree of the first
    ``new`` (RFC 9162 §2.1.4.1, SUBPROOF); empty when ``old`` is 0 or equals ``new``."""
    if not 0 <= old <= new <= len(levels[0]):
        raise ValueError(f"no consistency proof from {old} to {new} leaves")
    if old in (0, new):
        return []
    proof: list[bytes] = []
    start, end, complete = 0, new, True
    # SUBPROOF(m, D[start:end], complete), its recursion unrolled; the RFC appends each
    # sibling after the deeper part, so the list is reversed at the end
    m = old
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(range_hash(levels, start + k, end))
            end = start + k
        else:
            proof.append(range_hash(levels, start, start + k))
            start += k
            m -= k
            complete = False
    if not complete:
        proof.append(range_hash(levels, start, end))
    return proof[::-1]


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``path`` proves leaf hash ``leaf`` at ``index`` in the tree of ``size`` leaves
    with root ``root`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree of ``old`` leaves with root ``old_root`` is a prefix of
    the tree of ``new`` leaves with root ``new_root`` (RFC 9162 §2.1.4.2)."""
    if old == new:
        return not proof and old_root == new_root
    if not 0 < old < new or not proof:
        return old == 0 and not proof
    path = list(proof)
    if old & (old - 1) == 0:
        # the old tree is a perfect subtree of the new one: its root starts the walk
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
