"""``segmint ingest consent`` and ``segmint consent ...`` as a user runs them, and the
standalone verifier run as a copied script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from segmint.cli.main import app

runner = CliRunner()
VERIFIER = Path(__file__).resolve().parents[2] / "src" / "segmint" / "consent" / "verifier.py"

# as a CRM exports it: its own header names, mixed case, synonyms, one bad date, one unknown
CONSENT_CSV = """Customer ID,Purpose,Status,Changed At,Evidence
c1,Email,GRANTED,2026-01-05 10:00,form-17
c1,SMS,opt-out,2026-01-05 10:00,
c2,email,Yes,2026-01-06,
c3,email,granted,not a date,
c4,email,maybe,2026-01-07,
c2,Ads,1,2026-01-08 12:00:00,https://example.com/prefs
c1,email,Withdrawn,2026-02-01 08:30,unsubscribe-link
"""


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "consent.csv"
    path.write_text(CONSENT_CSV, encoding="utf-8")
    ws = tmp_path / "ws"
    first = invoke("ingest", "consent", path, "-w", ws, "--map", "Changed At=ts", "--json", "-q")
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    assert (result["rows_read"], result["rows_loaded"]) == (7, 5)
    assert result["rejected"] == {"bad_date": 1, "bad_status": 1}
    again = invoke("ingest", "consent", path, "-w", ws, "--map", "Changed At=ts", "--json", "-q")
    assert json.loads(again.stdout)["rows_loaded"] == 0  # nothing twice
    return ws


def test_ingested_consent_is_normalised(ws):
    with duckdb.connect(str(ws / "segmint.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT purpose, status, source, evidence FROM consent_ledger ORDER BY seq"
        ).fetchall()
        kinds = con.execute("SELECT kind, rows_loaded FROM ingests ORDER BY 1, 2").fetchall()
    assert rows == [
        ("email", "granted", "consent.csv", "form-17"),
        ("sms", "withdrawn", "consent.csv", None),
        ("email", "granted", "consent.csv", None),
        ("ads", "granted", "consent.csv", "https://example.com/prefs"),
        ("email", "withdrawn", "consent.csv", "unsubscribe-link"),
    ]
    assert kinds == [("consent", 0), ("consent", 5)]


def test_verify_proof_and_checkpoint(ws, tmp_path):
    verified = invoke("consent", "verify", "-w", ws)
    assert verified.exit_code == 0 and "ok" in verified.stdout
    checkpoint = invoke("consent", "checkpoint", "-w", ws, "--json")
    published = tmp_path / "published.json"
    published.write_text(checkpoint.stdout)
    assert json.loads(checkpoint.stdout)["tree_size"] == 5
    pinned = invoke("consent", "verify", "-w", ws, "--checkpoint", published, "--json")
    assert json.loads(pinned.stdout)["ok"] is True

    proof_file = tmp_path / "out" / "proof.json"
    assert invoke("consent", "proof", "c1", "-w", ws, "-o", proof_file).exit_code == 0
    proof = json.loads(proof_file.read_text())
    assert {e["purpose"]: e["status"] for e in proof["entries"]} == {
        "email": "withdrawn",
        "sms": "withdrawn",
    }
    unknown = invoke("consent", "proof", "c3", "-w", ws)
    assert unknown.exit_code == 1 and "no consent recorded for customer 'c3'" in unknown.stderr


def _run_verifier(tmp_path: Path, proof: dict, *args: str) -> subprocess.CompletedProcess:
    """The verifier copied alone into an empty folder and run in isolated mode (no segmint
    on the path, no site directory of the user's)."""
    folder = tmp_path / "elsewhere"
    folder.mkdir(exist_ok=True)
    shutil.copy(VERIFIER, folder / "verifier.py")
    (folder / "proof.json").write_text(json.dumps(proof))
    return subprocess.run(
        [sys.executable, "-I", str(folder / "verifier.py"), "proof.json", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def test_standalone_verifier(ws, tmp_path):
    proof = json.loads(invoke("consent", "proof", "c1", "-w", ws).stdout)
    key = proof["checkpoint"]["public_key"]
    good = _run_verifier(tmp_path, proof, "--public-key", key)
    assert good.returncode == 0, good.stderr
    assert "proof OK: customer c1" in good.stdout and "sms: withdrawn" in good.stdout

    status = json.loads(json.dumps(proof))
    status["entries"][0]["status"] = "granted"
    root = json.loads(json.dumps(proof))
    root["checkpoint"]["root"] = "00" * 32
    other = json.loads(json.dumps(proof))
    other["customer_id"] = "c2"
    for bad, args, reason in (
        (status, (), "do not hash to its leaf hash"),
        (root, (), "signature does not verify"),
        (proof, ("--public-key", "11" * 32), "another key"),
        (other, (), "not the HMAC of the customer id"),
    ):
        failed = _run_verifier(tmp_path, bad, *args)
        assert failed.returncode == 1 and reason in failed.stderr, failed.stderr


def test_tampered_database_fails_verify_naming_the_entry(ws):
    with duckdb.connect(str(ws / "segmint.duckdb")) as con:
        con.execute("UPDATE consent_ledger SET status = 'granted' WHERE seq = 4")
    result = invoke("consent", "verify", "-w", ws)
    assert result.exit_code == 1
    assert "entry 4 was changed" in result.stdout
    as_json = json.loads(invoke("consent", "verify", "-w", ws, "--json").stdout)
    assert (as_json["ok"], as_json["first_bad_seq"]) == (False, 4)


def test_errors_are_one_line(tmp_path):
    missing = invoke("consent", "verify", "-w", tmp_path / "nothing")
    assert missing.exit_code == 1 and "no workspace" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    result = invoke("consent", "verify", "-w", tmp_path / "nothing", "--checkpoint", bad)
    assert result.exit_code == 1 and "holds no consent checkpoint" in result.stderr
