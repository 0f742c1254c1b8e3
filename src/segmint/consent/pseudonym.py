"""Pseudonymised customer ids: what leaves the workspace names a customer by a pseudonym.

A destination (``export``, ``webhook:<id>``, ``google-ads``, ...) receives
``HMAC-SHA256(key, customer_id)`` (its first 32 hex characters, 128 bits) under a key of its
own, so two destinations cannot join their data on the id, and a pseudonym reveals the id only
to whoever holds the key. Rotating a destination's key gives every customer a new pseudonym
there. Keys are 32 random bytes in ``pseudonym_keys``, sealed under the workspace's
``secrets.key`` (:class:`segmint.store.sealing.SecretBox`), so the database file alone holds no
usable key. :func:`pseudonym_sql` computes the same value in DuckDB, for a whole column at once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import duckdb

from segmint.store.sealing import SecretBox
from segmint.store.workspace import utcnow

__all__ = ["destination_key", "pseudonym", "pseudonym_sql", "rotate_key"]

#: hex characters kept of the HMAC: 128 bits, no collision among any realistic customer base
_LENGTH = 32
_BLOCK = 64  # SHA-256's block size, which HMAC pads its key to


def destination_key(con: duckdb.DuckDBPyConnection, directory: Path, destination: str) -> bytes:
    """The destination's active key, created (version 1) the first time it is asked for.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The workspace connection (a created key is stored in its transaction).
    directory : Path
        The workspace directory, where ``secrets.key`` opens the sealed key.
    destination : str
        Where pseudonymised ids go: ``export``, ``webhook:<id>``, ``google-ads``, ...
    """
    found = con.execute(
        """SELECT version, sealed_key FROM pseudonym_keys
           WHERE destination = ? AND retired_at IS NULL ORDER BY version DESC LIMIT 1""",
        [destination],
    ).fetchall()
    if not found:
        return _new_key(con, directory, destination)[1]
    version, sealed = found[0]
    box = SecretBox.for_workspace(directory)
    return bytes.fromhex(box.open(sealed, _row_id(destination, version)))


def rotate_key(con: duckdb.DuckDBPyConnection, directory: Path, destination: str) -> int:
    """Retire the destination's key and give it a new one; the new key's version."""
    con.execute(
        "UPDATE pseudonym_keys SET retired_at = ? WHERE destination = ? AND retired_at IS NULL",
        [utcnow(), destination],
    ).fetchall()
    return _new_key(con, directory, destination)[0]


def pseudonym(key: bytes, customer_id: str) -> str:
    """A customer's pseudonym under a destination's key.

    Examples
    --------
    >>> pseudonym(bytes(32), "C-1001")
    'b2038156c307496ed3c9a99d8b6bbbfd'
    """
    return hmac.new(key, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()[:_LENGTH]


def pseudonym_sql(column_sql: str, key: bytes) -> tuple[str, list]:
    """A DuckDB expression giving :func:`pseudonym` of a column, and its parameters.

    HMAC written out (``H(key ^ opad || H(key ^ ipad || text))``) with DuckDB's ``sha256``, so
    a whole column is pseudonymised in SQL without calling back into Python; the padded keys
    are BLOB parameters, never text in the query.

    Parameters
    ----------
    column_sql : str
        The SQL of the id column or expression (cast to VARCHAR; NULL gives NULL).
    key : bytes
        The destination's key.

    Returns
    -------
    sql : str
        The expression, with two ``?`` placeholders.
    params : list
        Their values, in order.
    """
    if len(key) > _BLOCK:  # as HMAC does with a key longer than a block
        key = hashlib.sha256(key).digest()
    block = key.ljust(_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in block)
    outer = bytes(b ^ 0x5C for b in block)
    text = f"encode(CAST(({column_sql}) AS VARCHAR))"
    sql = f"left(sha256(CAST(? AS BLOB) || unhex(sha256(CAST(? AS BLOB) || {text}))), {_LENGTH})"
    return sql, [outer, inner]


def _new_key(
    con: duckdb.DuckDBPyConnection, directory: Path, destination: str
) -> tuple[int, bytes]:
    """Store a new active key for the destination, after its last version."""
    (version,) = con.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM pseudonym_keys WHERE destination = ?",
        [destination],
    ).fetchall()[0]
    key = os.urandom(32)
    sealed = SecretBox.for_workspace(directory).seal(key.hex(), _row_id(destination, version))
    con.execute(
        "INSERT INTO pseudonym_keys VALUES (?, ?, ?, ?, NULL)",
        [destination, version, sealed, utcnow()],
    ).fetchall()
    return version, key


def _row_id(destination: str, version: int) -> str:
    # bound into the seal: a sealed key copied onto another destination or version does not open
    return f"pseudonym:{destination}:{version}"
