"""Pseudonyms: the SQL expression equals the Python HMAC, keys are per destination, rotate,
and stay sealed: a copy of the database without secrets.key cannot open them."""

from __future__ import annotations

import hashlib
import hmac
import shutil

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.consent.pseudonym import destination_key, pseudonym, pseudonym_sql, rotate_key
from segmint.errors import WorkspaceError
from segmint.store.workspace import DB_NAME, Workspace

_memory = duckdb.connect()


def _in_sql(key: bytes, ids: list[str | None]) -> list[str | None]:
    sql, params = pseudonym_sql("id", key)
    rows = _memory.execute(
        f"SELECT i, {sql} FROM (SELECT unnest(CAST(? AS VARCHAR[])) AS id, unnest(range(?)) AS i) "
        "ORDER BY i",
        [*params, ids, len(ids)],  # the expression's placeholders come first in the query
    ).fetchall()
    return [value for _, value in rows]


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=1, max_size=100), ids=st.lists(st.text(), min_size=1, max_size=20))
def test_sql_equals_python(key, ids):
    """Any key length (HMAC hashes one longer than a block) and any unicode id."""
    assert _in_sql(key, ids) == [pseudonym(key, i) for i in ids]


def test_pseudonym_is_hmac_sha256():
    key = bytes(range(32))
    expected = hmac.new(key, "Zoë-17".encode(), hashlib.sha256).hexdigest()[:32]
    assert pseudonym(key, "Zoë-17") == expected and len(expected) == 32
    assert _in_sql(key, [None, "Zoë-17"]) == [None, expected]


def test_keys_per_destination_persist_and_rotate(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.transaction(create=True) as con:
        export = destination_key(con, ws.path, "export")
        ads = destination_key(con, ws.path, "google-ads")
        assert len(export) == len(ads) == 32
    assert pseudonym(export, "C1") != pseudonym(ads, "C1")
    with ws.connect() as con:  # the same key on a later connection
        assert destination_key(con, ws.path, "export") == export
        assert rotate_key(con, ws.path, "export") == 2
        rotated = destination_key(con, ws.path, "export")
        assert pseudonym(rotated, "C1") != pseudonym(export, "C1")
        assert destination_key(con, ws.path, "google-ads") == ads  # the others keep theirs
        assert rotate_key(con, ws.path, "webhook:wh_1") == 1  # nothing to retire yet
        rows = con.execute(
            "SELECT destination, version, retired_at IS NULL FROM pseudonym_keys "
            "ORDER BY destination, version"
        ).fetchall()
    assert rows == [
        ("export", 1, False),
        ("export", 2, True),
        ("google-ads", 1, True),
        ("webhook:wh_1", 1, True),
    ]


def test_database_copy_without_secrets_key_holds_no_key(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.transaction(create=True) as con:
        key = destination_key(con, ws.path, "export")
    assert key not in (ws.path / DB_NAME).read_bytes()
    assert key.hex().encode() not in (ws.path / DB_NAME).read_bytes()
    copy = Workspace(tmp_path / "copy")
    copy.path.mkdir()
    shutil.copy(ws.db_path, copy.db_path)
    with copy.connect() as con, pytest.raises(WorkspaceError, match="does not open"):
        destination_key(con, copy.path, "export")
