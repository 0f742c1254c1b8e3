"""API keys as stored: id, scope, name, the token's hash, creation and revocation times.

Tokens themselves are never stored; generating and checking them is
:mod:`segmint.service.auth`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from segmint.errors import SegmintError
from segmint.store.workspace import utcnow

__all__ = ["KEY_SCOPES", "ApiKey", "KeyNotFoundError", "insert_key", "list_keys", "revoke_key"]

#: what each scope may do: ``ingest`` sends events, ``read`` reads, ``admin`` does everything
KEY_SCOPES = ("ingest", "read", "admin")


class KeyNotFoundError(SegmintError, LookupError):
    """An API key id that the workspace does not hold."""


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored (never the secret itself)."""

    key_id: str
    scope: str
    name: str | None
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict:
        return {
            "key_id": self.key_id,
            "scope": self.scope,
            "name": self.name,
            "created_at": self.created_at.isoformat(timespec="seconds") + "Z",
            "revoked_at": (
                self.revoked_at.isoformat(timespec="seconds") + "Z" if self.revoked_at else None
            ),
        }


def insert_key(
    con: duckdb.DuckDBPyConnection, *, key_id: str, scope: str, name: str | None, key_hash: str
) -> ApiKey:
    """Store a new key given its id and its token's hash."""
    if scope not in KEY_SCOPES:
        raise SegmintError(f"unknown scope {scope!r}; expected one of {', '.join(KEY_SCOPES)}")
    key = ApiKey(key_id, scope, name, key_hash, utcnow())
    con.execute(
        "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
        [key.key_id, key.scope, key.name, key.key_hash, key.created_at],
    )
    return key


def list_keys(con: duckdb.DuckDBPyConnection, *, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, oldest first."""
    rows = con.execute(
        """SELECT key_id, scope, name, key_hash, created_at, revoked_at FROM api_keys
           WHERE ? OR revoked_at IS NULL ORDER BY created_at, key_id""",
        [include_revoked],
    ).fetchall()
    return [ApiKey(*row) for row in rows]


def revoke_key(con: duckdb.DuckDBPyConnection, key_id: str) -> ApiKey:
    """Revoke a key (idempotent); raise if there is no such key."""
    rows = con.execute(
        """UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE key_id = ?
           RETURNING key_id, scope, name, key_hash, created_at, revoked_at""",
        [utcnow(), key_id],
    ).fetchall()
    if not rows:
        raise KeyNotFoundError(f"no API key {key_id!r}; see `segmint keys list`")
    return ApiKey(*rows[0])
