"""Erasure with the real CLI: after `segmint erase`, the customer's id, emails, phones and
cookies occur nowhere in the workspace (a byte search of every file), the consent ledger and
the audit log still verify, and their data ingested again stays out of every later output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from segmint import pipeline
from segmint.datasets.sources import generate_sources, write_sources
from segmint.store.runs import save_predictions
from segmint.store.workspace import Workspace


def _segmint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segmint", *args], capture_output=True, text=True, timeout=300
    )


def _everywhere(root: Path, needle: bytes) -> list[str]:
    """Files under ``root`` whose bytes contain ``needle``."""
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture(scope="module")
def erased(tmp_path_factory):
    root = tmp_path_factory.mktemp("erase")
    data = generate_sources(300, seed=3)
    files = write_sources(data, root / "data")
    ws = Workspace(root / "ws")
    pipeline.ingest_sources(ws, files)
    ids = data.identities.to_pandas()
    events = data.events.to_pandas()
    messages = data.messages.to_pandas()
    kinds = ids.groupby("customer_id")["kind"].agg(set)
    # a customer with an email, a phone, a cookie with events, and messages
    cookies = set(events["customer_id"])
    talkers = set(messages["customer_id"])
    people = [
        c
        for c, k in kinds.items()
        if {"email", "phone", "cookie"} <= k
        and c in talkers
        and cookies & set(ids.loc[(ids.customer_id == c) & (ids.kind == "cookie"), "identifier"])
    ]
    target, control = people[0], people[1]

    def identifiers(c):
        # phones are stored as their digits: search for those (they occur in the '+' form too)
        found = ids.loc[(ids.customer_id == c) & (ids.kind != "customer_id"), "identifier"]
        return [i.lstrip("+") for i in found]

    consent = pa.table(
        {
            "customer_id": [target, target, control],
            "purpose": ["email", "ads", "email"],
            "status": ["granted", "withdrawn", "granted"],
            "ts": ["2024-03-01T10:00:00", "2024-03-02T10:00:00", "2024-03-01T10:00:00"],
        }
    )
    pacsv.write_csv(consent, root / "consent.csv")
    assert (
        _segmint("ingest", "consent", str(root / "consent.csv"), "-w", str(ws.path)).returncode == 0
    )
    run = pipeline.segment(ws, write_html=True)
    with ws.transaction() as con:  # scores stored as `segmint predict` stores them
        scored = con.execute(
            "SELECT customer_id, 1.0 AS clv FROM assignments WHERE run_id = ?", [run.run_id]
        ).df()
        save_predictions(con, run.run_id, scored)
    before = {c: _everywhere(ws.path, c.encode()) for c in [control, *identifiers(control)]}
    done = _segmint("erase", target, "--yes", "--json", "-w", str(ws.path))
    assert done.returncode == 0, done.stderr
    return {
        "ws": ws,
        "root": root,
        "files": files,
        "target": target,
        "target_ids": [target, *identifiers(target)],
        "control": control,
        "control_found_before": before,
        "answer": json.loads(done.stdout),
    }


def _in_tables(db: Path, needle: str) -> list[str]:
    """Columns of any table whose text holds ``needle`` (what compression hides from bytes)."""
    found = []
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute(
            """SELECT table_name, column_name FROM duckdb_columns()
               WHERE database_name = current_database() AND data_type IN ('VARCHAR', 'JSON')"""
        ).fetchall()
        for table, column in columns:
            hit = con.execute(
                f'SELECT count(*) FROM "{table}" WHERE contains(CAST("{column}" AS VARCHAR), ?)',
                [needle],
            ).fetchall()[0][0]
            if hit:
                found.append(f"{table}.{column}")
    return found


def test_the_search_finds_a_customer_who_was_not_erased(erased):
    # the byte search sees ids, emails and cookies in the file (else the next test proves
    # nothing); short digit strings such as phones are compressed, so the tables are searched too
    before = erased["control_found_before"]
    assert sum(bool(v) for v in before.values()) >= 3, before
    assert _everywhere(erased["ws"].path, erased["control"].encode())
    for needle in before:
        assert _in_tables(erased["ws"].db_path, needle), needle


def test_no_byte_of_the_erased_person_remains(erased):
    assert len(erased["target_ids"]) >= 4  # the id, an email, a phone, a cookie (at least)
    for needle in erased["target_ids"]:
        assert not _everywhere(erased["ws"].path, needle.encode()), needle
        assert not _in_tables(erased["ws"].db_path, needle), needle
    (answer,) = erased["answer"]
    assert answer["rows"]["transactions"] > 0 and answer["rows"]["identities"] >= 4
    assert answer["rows"]["events"] > 0 and answer["rows"]["messages"] > 0


def test_the_ledger_and_the_audit_log_still_verify(erased):
    ws = str(erased["ws"].path)
    assert _segmint("consent", "verify", "-w", ws).returncode == 0
    assert _segmint("audit", "verify", "-w", ws).returncode == 0
    with duckdb.connect(str(erased["ws"].db_path), read_only=True) as con:
        last = con.execute(
            "SELECT purpose, status FROM consent_ledger ORDER BY seq DESC LIMIT 1"
        ).fetchall()
        audit = con.execute(
            "SELECT action, target FROM audit_log WHERE action = 'erase'"
        ).fetchall()
    assert last == [("*", "erased")]
    assert audit and audit[0][1] == erased["answer"][0]["ref"]
    proof = _segmint("consent", "proof", erased["target"], "-w", ws)
    assert proof.returncode != 0 and "Traceback" not in proof.stderr
    assert _segmint("consent", "proof", erased["control"], "-w", ws).returncode == 0


def test_their_data_ingested_again_stays_out_of_later_outputs(erased):
    ws = erased["ws"]
    pipeline.ingest(ws, erased["files"]["transactions"])
    with ws.connect(read_only=True) as con:
        back = con.execute(
            "SELECT count(*) FROM transactions WHERE customer_id = ?", [erased["target"]]
        ).fetchall()[0][0]
    assert back > 0  # the old file holds them again...
    run = pipeline.segment(ws, write_html=False)
    frame = pipeline.export_frame(ws, "assignments", run_id=run.run_id, raw_ids=True)
    assert erased["target"] not in set(frame["customer_id"])  # ...but no output does
    assert erased["control"] in set(frame["customer_id"])
