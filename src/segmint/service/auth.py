"""API key tokens: generated, hashed for storage, and checked in constant time.

A token is ``sgm_<key_id>_<secret>``; the workspace stores only its SHA-256 digest
(:mod:`segmint.store.keys`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

import duckdb

from segmint.store.keys import ApiKey, insert_key

__all__ = ["authenticate", "create_key", "hash_token", "split_token", "token_matches"]

TOKEN_PREFIX = "sgm"


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a whole token (tokens carry 256 random bits, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def split_token(token: str) -> str | None:
    """The key id inside a token ``sgm_<key_id>_<secret>``, or None if it is not one."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def token_matches(token: str, key: ApiKey) -> bool:
    """Constant-time comparison of a presented token with a stored key."""
    return hmac.compare_digest(hash_token(token), key.key_hash)


def create_key(
    con: duckdb.DuckDBPyConnection, *, scope: str, name: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; return it and its token (shown once, never stored)."""
    key_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    key = insert_key(con, key_id=key_id, scope=scope, name=name, key_hash=hash_token(token))
    return key, token


def authenticate(keys: Mapping[str, ApiKey], token: str) -> ApiKey | None:
    """The active key a token belongs to, or None."""
    key_id = split_token(token)
    key = keys.get(key_id) if key_id else None
    if key is None or not key.active or not token_matches(token, key):
        return None
    return key
