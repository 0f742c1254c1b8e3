"""Erasure of customers: every table, the consent ledger's key, the service's log, and the
database file rewritten so no deleted byte remains."""

from __future__ import annotations

from segmint.consent.audit import local_actor, record
from segmint.consent.erase import Erasure, erase_customer
from segmint.consent.ledger import shred
from segmint.realtime.wal import scrub_log
from segmint.store.events import applied_seq
from segmint.store.workspace import Workspace

__all__ = ["erase", "erase_in_transaction", "wal_directory"]


def wal_directory(workspace: Workspace):
    return workspace.path / "service" / "wal"


def erase_in_transaction(con, workspace: Workspace, customer_id: str, actor: str) -> Erasure:
    """Erase one customer on ``con`` (the caller's transaction): rows, consent key, a ledger
    entry saying so, and the audit record (which names the customer by keyed hash only)."""
    done = erase_customer(con, workspace.path, customer_id)
    for cid in done.ids:
        shred(con, workspace.path, cid, source="erasure")
    record(
        con,
        workspace.path,
        actor=actor,
        action="erase",
        target=done.ref,
        rows=done.total,
        detail={"identifiers": len(done.ids), "rows": done.rows},
    )
    return done


def erase(
    workspace: Workspace, customer_ids: list[str], *, actor: str | None = None
) -> list[Erasure]:
    """Erase customers from the workspace (the service must not be running: it holds the
    workspace; its ``DELETE /v1/customers/{id}`` does the same while it runs).

    One transaction for the tables; then events of theirs still waiting in the service's log
    are dropped from it, and the database file is rewritten (:meth:`Workspace.compact`).
    """
    actor = actor or local_actor()
    with workspace.transaction() as con:
        done = [erase_in_transaction(con, workspace, c, actor) for c in dict.fromkeys(customer_ids)]
        applied = applied_seq(con)
    gone = {i for d in done for i in d.ids}
    scrub_log(wal_directory(workspace), applied, lambda e: e.get("customer_id") not in gone)
    workspace.compact()
    return done
