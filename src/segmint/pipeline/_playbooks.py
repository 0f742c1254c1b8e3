"""Playbooks of a workspace: proposed from a run, written for people to edit, rendered for a
sample of a segment's customers as the messages they would receive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from segmint.activate import playbooks as books
from segmint.activate.facts import customer_context, facts_frame
from segmint.activate.selection import select
from segmint.consent.permitted import permitted
from segmint.consent.policy import load_policy
from segmint.errors import SegmintError
from segmint.store.runs import get_run
from segmint.store.workspace import Workspace

#: where a workspace keeps its playbooks
PLAYBOOK_DIR = "playbooks"


def playbook_directory(workspace: Workspace) -> Path:
    return workspace.path / PLAYBOOK_DIR


@dataclass(frozen=True)
class PlaybookFile:
    """A segment's playbook file and what it proposes."""

    segment_id: int
    name: str
    objective: str
    discount_pct: float
    channels: list[str]
    micro_segments: int
    path: Path
    written: bool  # False: the file existed (it may hold edits) and was kept


def init_playbooks(
    workspace: Workspace, *, run_id: int | None = None, force: bool = False
) -> list[PlaybookFile]:
    """Propose a playbook per segment of the run (latest by default) and write the files that
    do not exist yet (all of them with ``force``)."""
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        proposed = books.derive(
            books.group_stats(con, run["run_id"]), load_policy(con).min_audience
        )
    directory = playbook_directory(workspace)
    written = set(books.write(directory, proposed, run["run_id"], force=force))
    return [
        PlaybookFile(
            segment_id=sid,
            name=b["name"],
            objective=b["objective"],
            discount_pct=b["offer"]["discount_pct"],
            channels=b["channels"],
            micro_segments=len(b["micro_segments"]),
            path=directory / books.file_name(sid),
            written=directory / books.file_name(sid) in written,
        )
        for sid, b in proposed.items()
    ]


def load_playbooks(
    con: duckdb.DuckDBPyConnection, workspace_path: Path, run_id: int
) -> books.Playbooks:
    """The workspace's playbooks as edited, or, where nobody ran ``playbooks init``, the
    proposals for ``run_id``. Files written for another run are refused: segment ids differ
    between runs."""
    loaded = books.load(workspace_path / PLAYBOOK_DIR)
    if loaded is None:
        proposed = books.derive(books.group_stats(con, run_id), load_policy(con).min_audience)
        return books.from_books(proposed, run_id)
    if loaded.run_id != run_id:
        raise SegmintError(
            f"the playbooks in {workspace_path / PLAYBOOK_DIR} were written for run "
            f"{loaded.run_id}, not run {run_id}; run `segmint playbooks init --force` to "
            "propose them again for this run (edits are lost), or pass --run"
        )
    return loaded


def _reachable_ids(con, workspace: Workspace, channels, frame) -> dict[str, set[str]]:
    """Per channel, the customers of ``frame`` who consented to its purpose and can be
    reached there (one vectorised consent query per channel)."""
    ids = frame["customer_id"].tolist()
    out = {}
    for channel in channels:
        mask = permitted(con, books.CHANNEL_PURPOSE[channel], directory=workspace.path).allows_ids(
            con, ids
        )
        contact = books.CHANNEL_CONTACT[channel]
        if contact is not None:
            mask &= frame[f"has_{contact}"].to_numpy(dtype=bool)
        out[channel] = {c for c, ok in zip(ids, mask, strict=True) if ok}
    return out


def render_playbook(
    workspace: Workspace,
    segment: str,
    *,
    sample: int = 5,
    run_id: int | None = None,
    now: datetime | None = None,
) -> list[dict]:
    """The finished actions for ``sample`` customers of ``segment`` (chosen by a hash of
    their id, so the same ones each time), as the playbook makes them: channel by consent and
    contact, discount bounded by their value, message rendered with their fields and
    recommendations."""
    if sample < 1:
        raise SegmintError(f"--sample must be at least 1, got {sample}")
    now = now or datetime.now()
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        chosen = select(con, run["run_id"], segment)
        ids = [
            r[0]
            for r in con.execute(
                f"SELECT customer_id FROM ({chosen.members}) ORDER BY hash(customer_id) LIMIT ?",
                [*chosen.params, sample],
            ).fetchall()
        ]
        if not ids:
            raise SegmintError(f"segment {segment!r} ({chosen.label}) has no customers")
        playbooks = load_playbooks(con, workspace.path, run["run_id"])
        frame = facts_frame(con, run["run_id"], ids)
        reach = _reachable_ids(con, workspace, books.CHANNEL_PURPOSE, frame)
        recommended = _recommendations(con, run["run_id"], ids)
        names = dict(
            con.execute(
                "SELECT segment_id, name FROM segments WHERE run_id = ?", [run["run_id"]]
            ).fetchall()
        )
    out = []
    for row in frame.to_dict("records"):
        entry = playbooks.entry(row["segment_id"], row["micro_segment_id"])
        if entry is None:
            continue
        customer = row["customer_id"]
        action = playbooks.action(
            entry,
            customer_context(row),
            segment={"id": row["segment_id"], "name": names.get(row["segment_id"])},
            recommendations=recommended.get(customer, []),
            reachable=lambda channel, c=customer: c in reach[channel],
            now=now,
        )
        out.append({"customer_id": customer, **action})
    return out


def _recommendations(con, run_id: int, ids: list[str]) -> dict[str, list[dict]]:
    """The stored recommendations of ``ids`` (none before ``segmint recommend``)."""
    known = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'recommendations'"
    ).fetchall()[0][0]
    if not known:
        return {}
    rows = con.execute(
        """SELECT customer_id, list({'product_id': product_id, 'description': description}
                                     ORDER BY rank)
           FROM recommendations WHERE run_id = ? AND customer_id IN (SELECT unnest(?))
           GROUP BY customer_id""",
        [run_id, ids],
    ).fetchall()
    return {c: list(items) for c, items in rows}
