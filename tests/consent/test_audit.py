"""The audit log: entries round trip, and every kind of tampering with the database file (edit,
delete, insert, reorder, truncate, a chain recomputed without the key) is found at its seq."""

from __future__ import annotations

import hashlib
import json
import stat
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from segmint.cli import app
from segmint.consent.audit import (
    GENESIS,
    HEAD_FILE,
    KEY_FILE,
    local_actor,
    read_audit,
    record,
    record_many,
    verify_audit,
)
from segmint.store.workspace import Workspace, _migrations

runner = CliRunner()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A workspace with six entries, recorded in three transactions."""
    ws = Workspace(tmp_path / "ws")
    with ws.transaction(create=True) as con:
        record(con, ws.path, actor="cli:ana", action="export", target="out.csv", rows=120)
        record(con, ws.path, actor="key:k1", action="customer.read", purpose="support")
    with ws.transaction() as con:
        record_many(
            con,
            ws.path,
            [
                {"actor": "key:k1", "action": "customer.read", "target": "p1", "rows": 1},
                {"actor": "key:k2", "action": "members.read", "target": "segment:2", "rows": 40},
                {"actor": "key:k2", "action": "erase", "target": "p2", "detail": {"tables": 3}},
            ],
        )
    with ws.transaction() as con:
        record(con, ws.path, actor="cli:ana", action="key.revoke", target="key:k2")
    return ws


def _tamper(ws: Workspace, *statements: str) -> None:
    """Change the database file directly, as someone holding only the file could."""
    with duckdb.connect(str(ws.db_path)) as raw:
        for sql in statements:
            raw.execute(sql).fetchall()


def _verify(ws: Workspace):
    with ws.connect() as con:
        return verify_audit(con, ws.path)


def test_round_trip(ws):
    found = _verify(ws)
    assert found.ok and found.entries == 6 and found.problems == [] and found.first_bad_seq is None
    with ws.connect() as con:
        entries = read_audit(con)
        assert entries["seq"].tolist() == [6, 5, 4, 3, 2, 1]  # newest first
        first = entries.iloc[-1]
        assert (first.actor, first.action, first.target, first.rows) == (
            "cli:ana",
            "export",
            "out.csv",
            120,
        )
        assert json.loads(entries.iloc[1].detail) == {"tables": 3}
        assert read_audit(con, action="customer.read")["seq"].tolist() == [3, 2]
        assert read_audit(con, limit=2)["seq"].tolist() == [6, 5]
        later = datetime(2100, 1, 1)
        assert read_audit(con, since=later).empty
        hashes = con.execute("SELECT prev_hash, entry_hash FROM audit_log ORDER BY seq").fetchall()
    assert hashes[0][0] == GENESIS
    assert all(hashes[i][1] == hashes[i + 1][0] for i in range(5))  # each links to the last
    assert json.loads((ws.path / HEAD_FILE).read_text()) == {"seq": 6, "entry_hash": hashes[5][1]}
    assert stat.S_IMODE((ws.path / KEY_FILE).stat().st_mode) == 0o600


def test_many_records_in_one_transaction(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.transaction(create=True) as con:
        seqs = [record(con, ws.path, actor="a", action="export") for _ in range(5)]
        assert record_many(con, ws.path, [{"actor": "b", "action": "erase"}] * 3) == 8
        assert record_many(con, ws.path, []) == 8
        assert record(con, ws.path, actor="c", action="export", purpose="") == 9
        # a segment id and a numpy count are stored as text and a number, and still verify
        assert record(con, ws.path, actor="c", action="members.read", target=3, rows=np.int64(4))
    assert seqs == [1, 2, 3, 4, 5]
    assert _verify(ws).ok
    with ws.connect() as con:
        # NULL and '' are different entries
        assert read_audit(con, limit=2)["purpose"].tolist()[1] == ""
        assert read_audit(con, limit=3)["purpose"].isna().tolist() == [True, False, True]
        assert read_audit(con, limit=1)[["target", "rows"]].values.tolist() == [["3", 4]]


def test_unknown_entry_fields_are_refused(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.transaction(create=True) as con, pytest.raises(ValueError, match="customer_id"):
        record_many(con, ws.path, [{"actor": "a", "action": "export", "customer_id": "C1"}])


def _unkeyed_rewrite(ws: Workspace, seq: int) -> list[str]:
    """Edit entry ``seq`` and rebuild the chain from there with plain SHA-256, as an attacker
    without the key would."""
    with duckdb.connect(str(ws.db_path)) as raw:
        rows = raw.execute(
            "SELECT seq, ts, actor, action, purpose, target, rows, CAST(detail AS VARCHAR), "
            "prev_hash FROM audit_log WHERE seq >= ? ORDER BY seq",
            [seq],
        ).fetchall()
    prev = rows[0][-1]
    statements = []
    for number, ts, *values, _ in rows:
        if number == seq:
            values[0] = "cli:someone-else"
        parts = [prev.encode()]
        for value in (str(number), ts.strftime("%Y-%m-%dT%H:%M:%S.%f"), *values):
            text = None if value is None else str(value).encode()
            parts.append(b"-" if text is None else b"%d:%s" % (len(text), text))
        entry_hash = hashlib.sha256(b"".join(parts)).hexdigest()
        statements.append(
            f"UPDATE audit_log SET actor = '{values[0]}', prev_hash = '{prev}', "
            f"entry_hash = '{entry_hash}' WHERE seq = {number}"
        )
        prev = entry_hash
    return statements


TAMPERING = {
    "edit rows": (["UPDATE audit_log SET rows = 1 WHERE seq = 4"], 4),
    "edit actor": (["UPDATE audit_log SET actor = 'key:k9' WHERE seq = 2"], 2),
    "edit detail": (["""UPDATE audit_log SET detail = '{"tables":0}' WHERE seq = 5"""], 5),
    "NULL for ''": (["UPDATE audit_log SET purpose = NULL WHERE seq = 2"], 2),
    "delete a middle row": (["DELETE FROM audit_log WHERE seq = 3"], 3),
    "delete the middle": (["DELETE FROM audit_log WHERE seq BETWEEN 2 AND 4"], 2),
    "delete the last row": (["DELETE FROM audit_log WHERE seq = 6"], 6),
    "delete from the middle on": (["DELETE FROM audit_log WHERE seq >= 4"], 4),
    "delete everything": (["DELETE FROM audit_log"], 1),
    "insert a forged row": (
        ["INSERT INTO audit_log SELECT * REPLACE ('key:k9' AS actor) FROM audit_log WHERE seq = 3"],
        3,
    ),
    "append a forged row": (
        [
            "INSERT INTO audit_log SELECT * REPLACE (seq + 1 AS seq, entry_hash AS prev_hash) "
            "FROM audit_log WHERE seq = 6"
        ],
        7,
    ),
    "swap two seqs": (
        ["UPDATE audit_log SET seq = CASE seq WHEN 2 THEN 4 ELSE 2 END WHERE seq IN (2, 4)"],
        2,
    ),
}


@pytest.mark.parametrize("statements, bad_seq", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_is_found_at_its_seq(ws, statements, bad_seq):
    _tamper(ws, *statements)
    found = _verify(ws)
    assert not found.ok and found.problems
    assert found.first_bad_seq == bad_seq


def test_a_chain_recomputed_without_the_key_is_found(ws):
    _tamper(ws, *_unkeyed_rewrite(ws, 3))
    found = _verify(ws)
    assert not found.ok and found.first_bad_seq == 3
    assert any("seal" in problem for problem in found.problems)


def test_missing_key_or_anchor(ws):
    (ws.path / HEAD_FILE).unlink()
    found = _verify(ws)
    assert not found.ok and found.first_bad_seq is None and HEAD_FILE in found.problems[0]
    (ws.path / KEY_FILE).unlink()
    found = _verify(ws)
    assert not found.ok and KEY_FILE in found.problems[0]


def test_a_rolled_back_record_shows_until_the_next(ws):
    with pytest.raises(RuntimeError), ws.transaction() as con:
        record(con, ws.path, actor="cli:ana", action="export")
        raise RuntimeError("the export failed")
    found = _verify(ws)  # the anchor names entry 7, which was never committed
    assert not found.ok and found.first_bad_seq == 7 and "rolled back" in found.problems[0]
    with ws.transaction() as con:
        assert record(con, ws.path, actor="cli:ana", action="export") == 8
        gap = read_audit(con, action="audit.gap")
    assert _verify(ws).ok
    assert gap["seq"].tolist() == [7] and json.loads(gap.loc[0, "detail"])["anchor_seq"] == 7


def test_a_removed_tail_stays_on_the_record(ws):
    """Rows removed from the end, then more recorded: the gap is logged, not covered."""
    head = json.loads((ws.path / HEAD_FILE).read_text())
    _tamper(ws, "DELETE FROM audit_log WHERE seq >= 5")
    with ws.transaction() as con:
        assert record(con, ws.path, actor="cli:ana", action="export") == 6
    assert _verify(ws).ok
    with ws.connect() as con:
        (entry,) = read_audit(con, action="audit.gap").itertuples()
    assert (entry.seq, entry.actor) == (5, "segmint")
    gap = {"anchor_hash": head["entry_hash"], "anchor_seq": 6, "log_seq": 4}
    assert json.loads(entry.detail) == gap


def test_a_broken_anchor_is_reported(ws):
    (ws.path / HEAD_FILE).write_text("not json")
    found = _verify(ws)
    assert not found.ok and "not an audit anchor" in found.problems[0]


def test_local_actor():
    assert local_actor().startswith("cli:") and len(local_actor()) > 4


# --- properties --------------------------------------------------------------------------------

_text = st.text(max_size=8)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_entry = st.fixed_dictionaries(
    {"actor": _text, "action": _text},
    optional={
        "purpose": st.none() | _text,
        "target": st.none() | _text,
        "rows": st.none() | st.integers(-(2**63), 2**63 - 1),
        "detail": st.none() | st.dictionaries(_text, _json, max_size=3),
        "ts": st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)),
    },
)
# each transaction: single records and batches, in any order
_transactions = st.lists(
    st.lists(st.one_of(_entry, st.lists(_entry, max_size=6)), min_size=1, max_size=4),
    min_size=1,
    max_size=3,
)
_COLUMNS = [
    "ts",
    "actor",
    "action",
    "purpose",
    "target",
    "rows",
    "detail",
    "prev_hash",
    "entry_hash",
]


def _edited(column: str, old):
    """A value for ``column`` different from ``old``."""
    if column == "ts":
        return old + timedelta(microseconds=1)
    if column in ("actor", "action"):
        return old + "!"
    if column in ("purpose", "target"):
        return "" if old is None else None  # NULL and '' must differ
    if column == "rows":
        return 0 if old is None else old ^ 1
    if column == "detail":
        return '{"edited":1}' if old != '{"edited":1}' else None
    return "f" * 64 if old != "f" * 64 else GENESIS


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transactions=_transactions, data=st.data())
def test_any_log_verifies_and_any_single_edit_is_found(transactions, data):
    with tempfile.TemporaryDirectory() as folder, duckdb.connect() as con:
        directory = Path(folder)
        con.execute(dict(_migrations())[11])
        n = 0
        for transaction in transactions:
            con.execute("BEGIN TRANSACTION")
            for item in transaction:
                if isinstance(item, list):
                    n += len(item)
                    assert record_many(con, directory, item) == n
                else:
                    n += 1
                    fields = {k: v for k, v in item.items() if k != "ts"}
                    assert record(con, directory, **fields) == n
            con.execute("COMMIT")
        found = verify_audit(con, directory)
        assert found.ok and found.entries == n, found.problems
        if n == 0:
            return
        seq = data.draw(st.integers(1, n), label="seq")
        column = data.draw(st.sampled_from(_COLUMNS), label="column")
        (row,) = con.execute(
            "SELECT ts, actor, action, purpose, target, rows, CAST(detail AS VARCHAR), "
            "prev_hash, entry_hash FROM audit_log WHERE seq = ?",
            [seq],
        ).fetchall()
        old = dict(zip(_COLUMNS, row, strict=True))[column]
        con.execute(f"UPDATE audit_log SET {column} = ? WHERE seq = ?", [_edited(column, old), seq])
        found = verify_audit(con, directory)
        assert not found.ok and found.first_bad_seq == seq, found.problems


# --- command line ------------------------------------------------------------------------------


def test_cli_verify_and_list(ws):
    result = runner.invoke(app, ["audit", "verify", "-w", str(ws.path)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "6 entries" in result.stderr
    result = runner.invoke(app, ["audit", "list", "-w", str(ws.path), "--limit", "3"])
    assert result.exit_code == 0 and "key.revoke" in result.stdout and "export" not in result.stdout
    result = runner.invoke(
        app, ["audit", "list", "-w", str(ws.path), "--action", "erase", "--json"]
    )
    assert result.exit_code == 0
    (entry,) = json.loads(result.stdout)
    assert entry["seq"] == 5 and entry["detail"] == {"tables": 3} and entry["purpose"] is None

    _tamper(ws, "UPDATE audit_log SET rows = 1 WHERE seq = 4")
    result = runner.invoke(app, ["audit", "verify", "-w", str(ws.path)])
    assert result.exit_code == 1 and "entry 4" in result.stderr
    result = runner.invoke(app, ["audit", "verify", "-w", str(ws.path), "--json"])
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    assert found["ok"] is False and found["first_bad_seq"] == 4 and found["entries"] == 6
