"""RFC 9162 hashing and proofs: hand-computed small trees, then every size up to 70 against
the RFC's recursive definitions written out naively."""

from __future__ import annotations

from hashlib import sha256

import pytest

from segmint.consent.merkle import (
    EMPTY_ROOT,
    build_levels,
    consistency_proof,
    extend,
    frontier,
    frontier_root,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_at,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [leaf_hash(bytes([i])) for i in range(70)]
LEVELS = build_levels(LEAVES)


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 §2.1.1 defines it."""
    if not d:
        return sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _split(len(d))
    return node_hash(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1."""
    if len(d) <= 1:
        return []
    k = _split(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.4.1."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = _split(len(d))
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def test_hashes_are_domain_separated():
    assert leaf_hash(b"abc") == sha256(b"\x00abc").digest()
    assert node_hash(b"L" * 32, b"R" * 32) == sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()


def test_hand_computed_trees():
    a, b, c, d, e = LEAVES[:5]
    assert root_at(LEVELS, 0) == sha256(b"").digest()
    assert root_at(LEVELS, 1) == a
    assert root_at(LEVELS, 3) == node_hash(node_hash(a, b), c)
    # five leaves split at four: the fifth is a right child of the root as it is
    ab, cd = node_hash(a, b), node_hash(c, d)
    assert root_at(LEVELS, 5) == node_hash(node_hash(ab, cd), e)
    # the audit path of c in five leaves: d, then ab, then e (leaf side first)
    assert inclusion_proof(LEVELS, 2, 5) == [d, ab, e]
    # from three leaves to five: c, d, ab, e (RFC 9162 §2.1.5's shape)
    assert consistency_proof(LEVELS, 3, 5) == [c, d, ab, e]


def test_small_levels_carry_the_odd_node_up():
    levels = build_levels(LEAVES[:3])
    assert levels == [LEAVES[:3], [node_hash(*LEAVES[:2]), LEAVES[2]], [root_at(levels, 3)]]
    assert build_levels([]) == [[]]


@pytest.mark.parametrize("n", range(0, 71))
def test_roots_and_inclusion_proofs_match_the_rfc(n: int):
    d = LEAVES[:n]
    root = mth(d)
    assert root_at(LEVELS, n) == root
    assert root_at(build_levels(d), n) == root
    for m in range(n):
        proof = inclusion_proof(LEVELS, m, n)
        assert proof == path(m, d)
        assert verify_inclusion(m, n, d[m], proof, root)
        other = d[m - 1] if m else leaf_hash(b"other")
        assert not verify_inclusion(m, n, other, proof, root)
        assert not verify_inclusion(m + 1, n, d[m], proof, root) or n == 1


@pytest.mark.parametrize("n", range(1, 71))
def test_consistency_proofs_match_the_rfc(n: int):
    d = LEAVES[:n]
    new_root = mth(d)
    for m in range(1, n + 1):
        proof = consistency_proof(LEVELS, m, n)
        assert proof == (subproof(m, d, True) if m < n else [])
        assert verify_consistency(m, n, mth(d[:m]), new_root, proof)
        if m < n:
            assert not verify_consistency(m, n, mth(d[: m - 1]), new_root, proof)
            assert not verify_consistency(m, n, mth(d[:m]), mth(d[:-1]), proof)
            assert not verify_consistency(m, n, mth(d[:m]), new_root, proof[:-1])


def test_bad_arguments():
    with pytest.raises(ValueError):
        root_at(LEVELS, 71)
    with pytest.raises(ValueError):
        inclusion_proof(LEVELS, 5, 5)
    with pytest.raises(ValueError):
        consistency_proof(LEVELS, 6, 5)
    assert not verify_inclusion(0, 0, LEAVES[0], [], LEAVES[0])
    assert consistency_proof(LEVELS, 0, 5) == []


@pytest.mark.parametrize("n", range(0, 70))
def test_a_frontier_extended_leaf_by_leaf_gives_every_prefix_root(n):
    leaves = [leaf_hash(bytes([i, i >> 8])) for i in range(n + 5)]
    levels = build_levels(leaves)
    front = frontier(levels, n)
    assert frontier_root(front) == (root_at(levels, n) if n else EMPTY_ROOT)
    for extra in range(1, 6):
        grown = extend(front, leaves[n : n + extra])
        assert grown == frontier(levels, n + extra)
        assert frontier_root(grown) == root_at(levels, n + extra)
