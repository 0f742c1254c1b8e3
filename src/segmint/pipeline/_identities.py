"""Identity resolution over a workspace: what ``segmint identities stats`` reports."""

from __future__ import annotations

from segmint.engine import engine_for
from segmint.errors import WorkspaceError
from segmint.features.identity import MAX_CUSTOMERS, IdentityStats, resolve_identities
from segmint.store.workspace import Workspace


def identity_stats(workspace: Workspace, *, max_customers: int = MAX_CUSTOMERS) -> IdentityStats:
    """How the workspace's identities and identify events resolve to customers (nothing is
    written; runs resolve the same way when they compute features)."""
    if not workspace.exists:
        raise WorkspaceError(f"no workspace at {workspace.path}; ingest files first")
    with workspace.connect() as con:
        return resolve_identities(engine_for(con), max_customers=max_customers)[1]
