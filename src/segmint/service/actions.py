"""The next best action, live: the playbook entry of the customer's segment now, finished
for them, with their recommendations and the reasons.

Everything a request reads is in memory (the playbooks, the run's customer facts as arrays),
so an answer costs a few dictionary lookups and one template render. Playbook files edited
while the service runs are read again at the next request after a change (checked at most
once a second); a file with an error is reported in the log and the last good ones are kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from segmint.activate.facts import CustomerFacts, customer_context
from segmint.activate.playbooks import CHANNEL_CONTACT, CHANNEL_PURPOSE, VALUE_SHARE, Playbooks
from segmint.errors import SegmintError
from segmint.pipeline._playbooks import PLAYBOOK_DIR, load_playbooks

log = logging.getLogger("segmint.service")

#: how often the playbook files are checked for edits, in seconds
RECHECK_SECONDS = 1.0


def _stamp(directory: Path) -> tuple:
    """What changes when a playbook file is written, added or removed."""
    if not directory.is_dir():
        return ()
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in directory.glob("segment-*.yaml")))


@dataclass
class ActionIndex:
    """Playbooks and customer facts of the run the service serves."""

    run_id: int
    workspace: Path
    playbooks: Playbooks
    facts: CustomerFacts
    stamp: tuple
    checked: float = field(default_factory=time.monotonic)
    problem: str | None = None

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, workspace: Path, run_id: int | None):
        """The index for ``run_id``; None without a run or with playbooks of another run
        (the problem is logged; the next best action then answers 404 with it)."""
        if run_id is None:
            return None
        stamp = _stamp(workspace / PLAYBOOK_DIR)
        try:
            playbooks = load_playbooks(con, workspace, run_id)
        except SegmintError as exc:
            log.warning("next best action unavailable: %s", exc)
            return None
        return cls(run_id, workspace, playbooks, CustomerFacts.load(con, run_id), stamp)

    def current(self) -> Playbooks:
        """The playbooks, read again if their files changed since the last look."""
        now = time.monotonic()
        if now - self.checked < RECHECK_SECONDS:
            return self.playbooks
        self.checked = now
        directory = self.workspace / PLAYBOOK_DIR
        stamp = _stamp(directory)
        if stamp != self.stamp:
            self.stamp = stamp
            try:
                # the file-only read: proposals need the database, and the loaded ones stand
                with duckdb.connect() as con:
                    self.playbooks = load_playbooks(con, self.workspace, self.run_id)
                self.problem = None
            except (SegmintError, duckdb.Error) as exc:
                self.problem = str(exc)
                log.warning("playbooks not reloaded, the last good ones are used: %s", exc)
        return self.playbooks

    def next_best_action(
        self,
        membership: dict,
        *,
        allows: Callable[[str], bool],
        recommendations: list[dict],
        rule: str | None,
        now: datetime,
    ) -> dict | None:
        """The action for a customer in ``membership`` (their live segment), or None when
        their segment has no playbook entry. ``allows(purpose)`` is their consent."""
        playbooks = self.current()
        entry = playbooks.entry(membership["segment_id"], membership["micro_segment_id"])
        if entry is None:
            return None
        customer_id = membership["customer_id"]
        facts = self.facts.get(customer_id) or {"customer_id": customer_id}

        def reachable(channel: str) -> bool:
            contact = CHANNEL_CONTACT[channel]
            return allows(CHANNEL_PURPOSE[channel]) and (
                contact is None or bool(facts.get(f"has_{contact}"))
            )

        customer = customer_context(facts)
        action = playbooks.action(
            entry,
            customer,
            segment={"id": membership["segment_id"], "name": membership["segment"]},
            recommendations=recommendations,
            reachable=reachable,
            now=now,
        )
        return {
            "action": action,
            "reasons": _reasons(membership, entry, action, customer, rule),
        }


def _reasons(membership: dict, entry, action: dict, customer: dict, rule: str | None) -> list:
    where = membership["micro_segment"] or membership["segment"]
    reasons = [f"in {where!s}" + (f" ({rule})" if rule else "")]
    reasons.append(f"objective {entry.objective}: {entry.why}" if entry.why else entry.objective)
    if action["channel"] is None:
        reasons.append(
            f"no channel: the customer has not consented to, or cannot be reached on, any of "
            f"{', '.join(entry.channels)}"
        )
    else:
        skipped = entry.channels[: entry.channels.index(action["channel"])]
        reasons.append(
            f"channel {action['channel']}: consented and reachable"
            + (f" (not on {', '.join(skipped)})" if skipped else "")
        )
    if "clv" in customer:
        reasons.append(
            f"discount capped at {action['offer']['max_discount']:g}: at most "
            f"{VALUE_SHARE:.0%} of their expected value {customer['clv']:g}"
        )
    return reasons
