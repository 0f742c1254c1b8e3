"""Which customers a command acts on: a segment or micro-segment of a run, or a flag.

Every activation command (audiences, campaigns, lookalikes, playbooks) names its customers
the same way: a segment id, a micro-segment id, a (micro-)segment name, or one of the
prediction flags ``high-value`` and ``at-risk``.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from segmint.errors import SegmintError

#: prediction flags that select customers, and their column in ``predictions``
FLAGS = {"high-value": "high_value", "at-risk": "at_risk"}


@dataclass(frozen=True)
class Selection:
    """A named set of a run's customers.

    ``members`` is a query of one column, ``customer_id``, with ``params`` as its parameters.
    """

    run_id: int
    kind: str  # "segment", "micro_segment" or "flag"
    key: str  # the segment id, micro-segment id or flag
    label: str  # what a person reads: the segment's name, or the flag
    members: str
    params: tuple

    def size(self, con: duckdb.DuckDBPyConnection) -> int:
        """How many customers the selection holds (before consent)."""
        return con.execute(f"SELECT count(*) FROM ({self.members})", list(self.params)).fetchall()[
            0
        ][0]


def select(con: duckdb.DuckDBPyConnection, run_id: int, spec: str) -> Selection:
    """The customers ``spec`` names in run ``run_id``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A workspace connection.
    run_id : int
        The run whose segments are meant.
    spec : str
        A segment id (``3``), a micro-segment id (``m12``), a segment or micro-segment name
        (case-insensitive: the whole name, or a prefix only one name has), or a flag
        (``high-value``, ``at-risk``; these need ``segmint predict``).

    Raises
    ------
    SegmintError
        When nothing or more than one thing matches, naming what would.
    """
    text = spec.strip()
    if not text:
        raise SegmintError("no segment given; expected a segment id, name or a flag")
    flag = FLAGS.get(text.lower())
    if flag is not None:
        return _flag(con, run_id, text.lower(), flag)
    segments = con.execute(
        "SELECT CAST(segment_id AS VARCHAR), name FROM segments WHERE run_id = ? "
        "ORDER BY segment_id",
        [run_id],
    ).fetchall()
    micros = con.execute(
        "SELECT micro_segment_id, name FROM micro_segments WHERE run_id = ? "
        "ORDER BY micro_segment_id",
        [run_id],
    ).fetchall()
    for sid, name in segments:
        if text == sid:
            return _segment(run_id, sid, name)
    for mid, name in micros:
        if text == mid:
            return _micro(run_id, mid, name)
    lowered = text.casefold()
    named = [("segment", i, n) for i, n in segments] + [("micro", i, n) for i, n in micros]
    exact = [m for m in named if m[2].casefold() == lowered]
    matches = exact or [m for m in named if m[2].casefold().startswith(lowered)]
    if len(matches) == 1:
        kind, key, name = matches[0]
        return (_segment if kind == "segment" else _micro)(run_id, key, name)
    if matches:
        names = "; ".join(f"{key} {name!r}" for _, key, name in matches[:8])
        raise SegmintError(f"segment {spec!r} matches more than one in run {run_id}: {names}")
    known = "; ".join(f"{sid} {name!r}" for sid, name in segments)
    raise SegmintError(
        f"no segment {spec!r} in run {run_id}; expected a segment id or name ({known}), a "
        f"micro-segment id, or one of {', '.join(FLAGS)}"
    )


def _segment(run_id: int, key: str, name: str) -> Selection:
    return _assigned(run_id, "segment", key, name, "segment_id", int(key))


def _micro(run_id: int, key: str, name: str) -> Selection:
    return _assigned(run_id, "micro_segment", key, name, "micro_segment_id", key)


def _assigned(run_id: int, kind: str, key: str, name: str, column: str, value) -> Selection:
    members = f"SELECT customer_id FROM assignments WHERE run_id = ? AND {column} = ?"
    return Selection(run_id, kind, key, name, members, (run_id, value))


def _flag(con: duckdb.DuckDBPyConnection, run_id: int, flag: str, column: str) -> Selection:
    scored = con.execute("SELECT count(*) FROM predictions WHERE run_id = ?", [run_id]).fetchall()
    if not scored[0][0]:
        raise SegmintError(
            f"{flag} needs predictions for run {run_id}; run `segmint predict` first"
        )
    return Selection(
        run_id,
        "flag",
        flag,
        flag,
        f"SELECT customer_id FROM predictions WHERE run_id = ? AND {column}",
        (run_id,),
    )
