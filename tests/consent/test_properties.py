"""Properties over random histories of appends and erasures: the ledger always verifies, every
inclusion and consistency proof checks out, and any single edit of a row is found and named."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.consent import ledger
from segmint.consent.merkle import (
    build_levels,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from segmint.consent.verifier import verify_proof

PURPOSES = ("analytics", "email", "sms", "ads")
T0 = datetime(2026, 1, 1)

row = st.fixed_dictionaries(
    {
        "customer": st.integers(0, 5),
        "purpose": st.sampled_from(PURPOSES),
        "status": st.sampled_from(("granted", "withdrawn")),
        "minutes": st.integers(0, 10_000),
        "evidence": st.one_of(st.none(), st.text(max_size=6)),
    }
)
operation = st.one_of(
    st.tuples(st.just("append"), st.lists(row, min_size=1, max_size=8)),
    st.tuples(st.just("shred"), st.integers(0, 5)),
)
history = st.lists(operation, min_size=1, max_size=8)

#: one single-row edit each, always a real change
EDITS = {
    "status": "CASE status WHEN 'granted' THEN 'withdrawn' ELSE 'granted' END",
    "purpose": "purpose || 'x'",
    "source": "coalesce(source, '') || 'x'",
    "evidence": "CASE WHEN evidence IS NULL THEN '' ELSE NULL END",
    "ts": "ts + INTERVAL 1 SECOND",
    "customer_ref": "md5(customer_ref) || md5(customer_ref)",
    "leaf_hash": "md5(leaf_hash) || md5(leaf_hash)",
    "leaf_mac": "md5(leaf_mac) || md5(leaf_mac)",
}


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("key")


def _ledger_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory database with the ledger's tables (a workspace file per example is slow)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    migration = resources.files("segmint.store") / "migrations" / "010_consent.sql"
    con.execute(migration.read_text(encoding="utf-8"))
    return con


def _play(con, directory: Path, operations) -> None:
    for kind, arg in operations:
        if kind == "shred":
            ledger.shred(con, directory, f"c{arg}")
            continue
        rows = [
            {
                "customer_id": f"c{r['customer']}",
                "purpose": r["purpose"],
                "status": r["status"],
                "source": "api",
                "ts": T0 + timedelta(minutes=r["minutes"]),
                "evidence": r["evidence"],
            }
            for r in arg
        ]
        ledger.append_rows(con, directory, rows)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=history, data=st.data())
def test_random_histories_verify_prove_and_catch_an_edit(key_dir, operations, data):
    con = _ledger_connection()
    _play(con, key_dir, operations)
    found = ledger.verify(con, key_dir)
    assert found.ok, found.problems

    leaves = [
        bytes.fromhex(h)
        for (h,) in con.execute("SELECT leaf_hash FROM consent_ledger ORDER BY seq").fetchall()
    ]
    levels = build_levels(leaves)
    checkpoints = con.execute(
        "SELECT tree_size, root FROM consent_checkpoints ORDER BY checkpoint_id"
    ).fetchall()
    for size, root in checkpoints:
        for index in range(size):
            path = inclusion_proof(levels, index, size)
            assert verify_inclusion(index, size, leaves[index], path, bytes.fromhex(root))
        for old, old_root in checkpoints:
            if old <= size:
                proof = [bytes.fromhex(h) for h in ledger.consistency(con, key_dir, old, size)]
                assert verify_consistency(
                    old, size, bytes.fromhex(old_root), bytes.fromhex(root), proof
                )
    for (customer,) in con.execute("SELECT customer_id FROM consent_subjects").fetchall():
        proven = verify_proof(ledger.proof(con, key_dir, customer))
        assert proven and {e["purpose"] for e in proven} <= set(PURPOSES)

    if leaves:
        seq = data.draw(st.integers(0, len(leaves) - 1), label="edited entry")
        column = data.draw(st.sampled_from(sorted(EDITS)), label="edited column")
        con.execute(f"UPDATE consent_ledger SET {column} = {EDITS[column]} WHERE seq = ?", [seq])
        tampered = ledger.verify(con, key_dir)
        assert not tampered.ok
        assert tampered.first_bad_seq == seq, tampered.problems
        assert tampered.problems[0].startswith(f"entry {seq} ")
    con.close()
