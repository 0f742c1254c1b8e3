"""Seen event ids: exact membership at 16 bytes per id; digests agree with DuckDB's."""

from __future__ import annotations

import duckdb
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.realtime import SortedKeys
from segmint.realtime.dedupe import DIGEST, digests, digests_from_halves

ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(ids, max_size=30), max_size=8), st.lists(ids, max_size=30))
def test_membership_matches_a_python_set(batches, queries):
    seen = SortedKeys(DIGEST, merge_min=8, merge_fraction=0.5)  # small: merges happen here
    reference: set[str] = set()
    for batch in batches:
        assert seen.contains(digests(batch)).tolist() == [i in reference for i in batch]
        seen.add(digests(batch))
        reference.update(batch)
        assert len(seen) == len(reference)
    probe = queries + sorted(reference)
    assert seen.contains(digests(probe)).tolist() == [i in reference for i in probe]


def test_insert_new_then_initial_keys():
    seen = SortedKeys(DIGEST, digests(["a", "b", "a"]), merge_min=1)
    assert len(seen) == 2
    seen.insert_new(digests(["d", "c"]))  # merged into main at once (merge_min=1)
    assert seen.contains(digests(["a", "c", "b", "d", "e"])).tolist() == [1, 1, 1, 1, 0]


def test_digests_rebuilt_from_duckdb_match_python():
    values = ["e-1", "", "ünïcödé-✓", "x" * 200, "a\u0000b"]
    con = duckdb.connect()
    got = con.execute(
        "SELECT md5_number_upper(v), md5_number_lower(v) FROM unnest(?) AS t(v)", [values]
    ).fetchnumpy()
    upper, lower = (np.asarray(got[c], dtype=np.uint64) for c in got)
    assert (digests_from_halves(upper, lower) == digests(values)).all()
