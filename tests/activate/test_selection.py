"""How activation commands name their customers: ids, names, prefixes, flags; and the errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from segmint.activate.selection import select
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace


@pytest.fixture
def con(built: Path):
    with Workspace(built).connect(read_only=True) as con:
        yield con


def test_segments_and_micro_segments_by_id_and_name(con):
    segments = con.execute(
        "SELECT segment_id, name, size FROM segments WHERE run_id = 1"
    ).fetchall()
    for sid, name, size in segments:
        for spec in (str(sid), name, name.upper(), f"  {name}  "):
            chosen = select(con, 1, spec)
            assert (chosen.kind, chosen.key, chosen.label) == ("segment", str(sid), name)
            assert chosen.size(con) == size
    micros = con.execute(
        "SELECT micro_segment_id, name, size FROM micro_segments WHERE run_id = 1 "
        "ORDER BY size DESC"
    ).fetchall()
    # every micro-segment's name selects it: none is named as a segment is
    for mid, name, _ in micros:
        assert (select(con, 1, name).kind, select(con, 1, name).key) == ("micro_segment", mid)
    mid, name, size = micros[0]
    chosen = select(con, 1, mid)
    assert chosen.kind == "micro_segment" and chosen.size(con) == size
    # its members, whatever their segment
    members = {r[0] for r in con.execute(chosen.members, list(chosen.params)).fetchall()}
    assigned = con.execute(
        "SELECT customer_id FROM assignments WHERE run_id = 1 AND micro_segment_id = ?", [mid]
    ).fetchall()
    assert members == {r[0] for r in assigned}


def test_unknown_ambiguous_and_flags_without_predictions_are_refused(con):
    names = [
        r[0]
        for r in con.execute(
            "SELECT name FROM segments WHERE run_id = 1 "
            "UNION ALL SELECT name FROM micro_segments WHERE run_id = 1"
        ).fetchall()
    ]
    with pytest.raises(SegmintError, match="no segment 'nobody'.*high-value"):
        select(con, 1, "nobody")
    with pytest.raises(SegmintError, match="no segment"):
        select(con, 1, "")
    with pytest.raises(SegmintError, match="segmint predict"):
        select(con, 1, "high-value")
    # a prefix several names share, and no name is
    prefixes = Counter(n[:3].casefold() for n in names)
    shared = next(p for p, count in prefixes.items() if count > 1 and p not in names)
    with pytest.raises(SegmintError, match="more than one"):
        select(con, 1, shared)
