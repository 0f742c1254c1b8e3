"""The ledger through its public functions: appends, erasure, proofs, and every kind of
tampering with the database file by someone who holds it but not the key file."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import datetime

import duckdb
import pytest

from segmint.consent import ledger
from segmint.consent.merkle import verify_consistency
from segmint.consent.signing import KEY_FILE, LedgerKey
from segmint.consent.verifier import leaf_bytes, verify_proof
from segmint.errors import SegmintError, WorkspaceError
from segmint.store.workspace import Workspace


def _rows(customers: int, start_day: int = 1) -> list[dict]:
    return [
        {
            "customer_id": f"c{i}",
            "purpose": purpose,
            "status": "granted" if (i + j) % 3 else "withdrawn",
            "source": "signup.csv",
            "ts": datetime(2026, 1, start_day, 9, i, j),
            "evidence": None if j else f"form-{i}",
        }
        for i in range(customers)
        for j, purpose in enumerate(("email", "sms"))
    ]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    """Three appends (checkpoints 1-3, 12 entries), then one erasure (checkpoint 4, 13)."""
    ws = Workspace(tmp_path / "ws")
    with ws.transaction(create=True) as con:
        ledger.append_rows(con, ws.path, _rows(2, 1))
        ledger.append_rows(con, ws.path, _rows(3, 2))
        ledger.append_rows(con, ws.path, _rows(1, 3))
        assert ledger.shred(con, ws.path, "c2")
    return ws


def _tamper(ws: Workspace, *statements: str) -> None:
    with duckdb.connect(str(ws.db_path)) as con:
        for sql in statements:
            con.execute(sql)


def _verify(ws: Workspace, published=()) -> ledger.Verification:
    with ws.connect() as con:
        return ledger.verify(con, ws.path, published)


def test_appends_number_entries_in_time_order_and_sign_each_tree(ws):
    with ws.connect() as con:
        rows = con.execute(
            "SELECT seq, purpose, status, ts FROM consent_ledger ORDER BY seq"
        ).fetchall()
        checkpoints = con.execute(
            "SELECT checkpoint_id, tree_size FROM consent_checkpoints ORDER BY 1"
        ).fetchall()
        subjects = con.execute("SELECT customer_id FROM consent_subjects ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == list(range(13))
    assert [r[3] for r in rows[:4]] == sorted(r[3] for r in rows[:4])
    assert rows[-1][1:3] == ("*", "erased")
    assert checkpoints == [(1, 4), (2, 10), (3, 12), (4, 13)]
    assert subjects == [("c0",), ("c1",)]  # c2's key is gone
    found = _verify(ws)
    assert (found.ok, found.entries, found.checkpoints, found.problems) == (True, 13, 4, [])


def test_leaf_bytes_in_sql_equal_the_verifiers(ws):
    with ws.connect() as con:
        con.execute(
            "UPDATE consent_ledger SET evidence = 'é:3-x' WHERE seq = 0"
        )  # multi-byte text, a colon, a dash: the length prefix keeps them apart
        rows = con.execute(
            f"""SELECT seq, customer_ref, purpose, status, source,
                       strftime(ts, '{ledger.TS_FORMAT}'), evidence, {ledger.LEAF_HASH_SQL}
                FROM consent_ledger"""
        ).fetchall()
    for *fields, hashed in rows:
        entry = dict(
            zip(
                ("seq", "customer_ref", "purpose", "status", "source", "ts", "evidence"),
                fields,
                strict=True,
            )
        )
        assert hashlib.sha256(b"\x00" + leaf_bytes(entry)).hexdigest() == hashed
    assert leaf_bytes({**entry, "source": None}) != leaf_bytes({**entry, "source": ""})


def test_key_file_is_private_and_checked(ws):
    path = ws.path / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.write_bytes(b"short")
    with pytest.raises(WorkspaceError, match="expected 32 raw bytes"):
        _verify(ws)
    path.unlink()
    with pytest.raises(WorkspaceError, match="is missing"):
        _verify(ws)


def test_only_granted_and_withdrawn_are_appended(ws):
    with ws.transaction() as con, pytest.raises(SegmintError, match="'erased'"):
        ledger.append_rows(con, ws.path, [{**_rows(1)[0], "status": "erased"}])
    with ws.transaction() as con, pytest.raises(SegmintError, match="lack a customer id"):
        ledger.append_rows(con, ws.path, [{**_rows(1)[0], "purpose": None}])
    assert _verify(ws).entries == 13


def test_append_new_skips_what_is_stored(ws):
    with ws.transaction() as con:
        again = ledger.append_rows(con, ws.path, [])
        assert again.count == 0 and again.checkpoint["checkpoint_id"] == 4
        con.execute(
            "CREATE TEMP TABLE t AS SELECT * FROM (VALUES "
            "('c0', 'email', 'withdrawn', 'signup.csv', TIMESTAMP '2026-01-01 09:00:00', "
            "'form-0'), ('c0', 'email', 'granted', 'api', TIMESTAMP '2026-03-01', NULL), "
            "('c0', 'email', 'granted', 'api', TIMESTAMP '2026-03-01', NULL)) "
            "v(customer_id, purpose, status, source, ts, evidence)"
        )
        added = ledger.append_new(con, ws.path, "t")
    assert (added.first_seq, added.count, added.checkpoint["tree_size"]) == (13, 1, 14)


def test_shred_of_unknown_or_erased_customer_adds_nothing(ws):
    with ws.transaction() as con:
        assert not ledger.shred(con, ws.path, "c2")
        assert not ledger.shred(con, ws.path, "nobody")
    assert _verify(ws).entries == 13


def test_proof_verifies_and_names_latest_consent(ws):
    with ws.connect() as con:
        proof = ledger.proof(con, ws.path, "c1")
        with pytest.raises(SegmintError, match="no consent recorded"):
            ledger.proof(con, ws.path, "c2")
    proof = json.loads(json.dumps(proof))  # as a file would carry it
    key = LedgerKey.for_workspace(ws.path).public_key.hex()
    entries = verify_proof(proof, key)
    assert {(e["purpose"], e["seq"]) for e in entries} == {("email", 6), ("sms", 7)}
    bad = json.loads(json.dumps(proof))
    bad["entries"][0]["status"] = "granted" if entries[0]["status"] != "granted" else "withdrawn"
    with pytest.raises(ValueError, match="do not hash"):
        verify_proof(bad)
    with pytest.raises(ValueError, match="another key"):
        verify_proof(proof, LedgerKey(bytes(32)).public_key.hex())


def test_consistency_proofs_between_checkpoints(ws):
    with ws.connect() as con:
        roots = dict(con.execute("SELECT tree_size, root FROM consent_checkpoints").fetchall())
        for old in roots:
            for new in roots:
                if old <= new:
                    proof = ledger.consistency(con, ws.path, old, new)
                    assert verify_consistency(
                        old,
                        new,
                        bytes.fromhex(roots[old]),
                        bytes.fromhex(roots[new]),
                        [bytes.fromhex(h) for h in proof],
                    )
        with pytest.raises(SegmintError, match="holds 13"):
            ledger.consistency(con, ws.path, 4, 14)


def _flip_status(seq: int) -> str:
    return (
        "UPDATE consent_ledger SET status = CASE status WHEN 'granted' THEN 'withdrawn' "
        f"ELSE 'granted' END WHERE seq = {seq}"
    )


def _recompute_hash(seq: int) -> str:
    return f"UPDATE consent_ledger SET leaf_hash = {ledger.LEAF_HASH_SQL} WHERE seq = {seq}"


@pytest.mark.parametrize(
    ("statements", "named", "first_bad"),
    [
        (
            [_flip_status(5)],
            "entry 5 was changed",
            5,
        ),
        (
            [_flip_status(5), _recompute_hash(5)],
            "entry 5 was rewritten or added without the ledger key",
            5,
        ),
        (["DELETE FROM consent_ledger WHERE seq = 7"], "entry 7 is missing", 7),
        (
            ["UPDATE consent_ledger SET leaf_hash = 'not hex' WHERE seq = 3"],
            "entry 3 was changed",
            3,
        ),
        (["DELETE FROM consent_ledger WHERE seq BETWEEN 3 AND 4"], "entries 3 to 4 are missing", 3),
        (
            ["DELETE FROM consent_ledger WHERE seq >= 11"],
            "checkpoint 3 covers 12 entries but the ledger holds 11",
            11,
        ),
        (
            [
                "INSERT INTO consent_ledger SELECT * REPLACE (13 AS seq, 'granted' AS status) "
                "FROM consent_ledger WHERE seq = 4",
                _recompute_hash(13),
            ],
            "entry 13 was rewritten or added without the ledger key",
            13,
        ),
        (
            ["INSERT INTO consent_ledger SELECT * FROM consent_ledger WHERE seq = 6"],
            "entry 6 appears 2 times",
            6,
        ),
        (
            [
                "UPDATE consent_ledger SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END "
                "WHERE seq IN (2, 3)"
            ],
            "entry 2 was changed",
            2,
        ),
    ],
)
def test_tampered_entries_are_named(ws, statements, named, first_bad):
    _tamper(ws, *statements)
    found = _verify(ws)
    assert not found.ok
    assert any(named in p for p in found.problems), found.problems
    assert found.first_bad_seq == first_bad


def test_no_append_onto_a_ledger_with_a_gap(ws):
    _tamper(ws, "DELETE FROM consent_ledger WHERE seq = 7")
    with ws.transaction() as con, pytest.raises(WorkspaceError, match="12 entries numbered up"):
        ledger.append_rows(con, ws.path, _rows(1, 9))


def test_swapped_rows_name_both(ws):
    _tamper(
        ws,
        "UPDATE consent_ledger SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END WHERE seq IN (2, 3)",
    )
    problems = _verify(ws).problems
    assert any("entry 2 was changed" in p for p in problems)
    assert any("entry 3 was changed" in p for p in problems)


@pytest.mark.parametrize(
    ("statements", "named"),
    [
        (
            ["UPDATE consent_checkpoints SET root = repeat('0', 64) WHERE checkpoint_id = 2"],
            "checkpoint 2's signature does not verify",
        ),
        (
            ["UPDATE consent_checkpoints SET tree_size = 11 WHERE checkpoint_id = 2"],
            "checkpoint 2's signature does not verify",
        ),
        (["DELETE FROM consent_checkpoints WHERE checkpoint_id = 2"], "checkpoint 2 is missing"),
        (
            ["DELETE FROM consent_checkpoints WHERE checkpoint_id = 4"],
            "entries 12 to 12 are not covered by any signed checkpoint",
        ),
        (
            [
                "INSERT INTO consent_checkpoints SELECT * FROM consent_checkpoints "
                "WHERE checkpoint_id = 3"
            ],
            "checkpoint 3 appears more than once",
        ),
    ],
)
def test_tampered_checkpoints_are_named(ws, statements, named):
    _tamper(ws, *statements)
    found = _verify(ws)
    assert not found.ok
    assert any(named in p for p in found.problems), found.problems


def test_forged_checkpoint_is_named(ws, tmp_path):
    """A checkpoint replaced by one signed with another key, over a rewritten ledger."""
    forger = LedgerKey(os.urandom(32))
    _tamper(ws, _flip_status(1), _recompute_hash(1))
    with ws.connect() as con:
        con.execute("DELETE FROM consent_checkpoints WHERE checkpoint_id = 4")
        forged = ledger._sign_checkpoint(con, forger, 0, 13)
    found = _verify(ws)
    assert f"checkpoint 4 was signed by another key (key id {forger.key_id}" in " ".join(
        found.problems
    )
    assert "entry 1 was rewritten" in found.problems[0]
    assert found.first_bad_seq == 1
    assert forged["checkpoint_id"] == 4


def test_published_checkpoints_pin_the_past(ws):
    with ws.connect() as con:
        published = ledger.latest_checkpoint(con, ws.path)
    assert _verify(ws, [published]).ok
    # the holder of the database file truncates the last entry and its checkpoint
    _tamper(
        ws,
        "DELETE FROM consent_ledger WHERE seq = 12",
        "DELETE FROM consent_checkpoints WHERE checkpoint_id = 4",
    )
    found = _verify(ws, [published])
    assert "published checkpoint 4 is not in the ledger's checkpoints (deleted)" in found.problems
    assert any("published checkpoint 4 covers 13 entries" in p for p in found.problems)
    edited = {**published, "root": "00" * 32}
    assert any("published checkpoint 4's signature" in p for p in _verify(ws, [edited]).problems)


def test_empty_ledger_verifies_without_a_key(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.connect(create=True) as con:
        found = ledger.verify(con, ws.path)
        assert ledger.latest_checkpoint(con) is None
    assert (found.ok, found.entries) == (True, 0)
    assert not (ws.path / KEY_FILE).exists()


def test_an_append_extends_the_stored_frontier_only_while_it_matches_the_signed_root(ws):
    with ws.connect() as con:
        (rows,) = con.execute("SELECT count(*) FROM consent_frontier").fetchall()[0]
    assert rows == 3  # 13 entries: perfect subtrees of 8, 4 and 1 leaves
    _tamper(ws, "UPDATE consent_frontier SET hash = repeat('ab', 32)")
    with ws.transaction() as con:  # a frontier that no longer folds to the root is rebuilt
        ledger.append_rows(con, ws.path, _rows(2, 4))
        ledger.append_rows(con, ws.path, _rows(1, 5))
    found = _verify(ws)
    assert found.ok, found.problems
    assert found.entries == 19 and found.checkpoints == 6
