"""Audience exports: contact data normalised and hashed per the platforms' documented rules,
consent enforced per platform purpose, the minimum audience refused, every export audited."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint.activate import audiences
from segmint.cli.main import app
from segmint.consent.audit import read_audit
from segmint.consent.ledger import append_rows
from segmint.consent.policy import ConsentPolicy, save_policy
from segmint.store.workspace import Workspace

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _normalise(values: list[str | None], sql) -> list[str | None]:
    con = duckdb.connect()
    con.register("v", pd.DataFrame({"x": pd.Series(values, dtype=object)}))
    return [r[0] for r in con.execute(f"SELECT {sql} FROM v").fetchall()]


def test_emails_follow_google_and_meta_rules():
    # Google Ads API, "Normalize and hash user-provided data": trim, lowercase, and for
    # gmail.com / googlemail.com remove the periods before the domain
    raw = [" Jane.Doe@GMAIL.com ", "jane.doe@googlemail.com", "Jane.Doe@Example.com", "x@y"]
    google = _normalise(raw, audiences.email_sql("x", google=True))
    assert google == ["janedoe@gmail.com", "janedoe@googlemail.com", "jane.doe@example.com", None]
    # Meta: trim and lowercase only
    meta = _normalise(raw, audiences.email_sql("x", google=False))
    assert meta[:3] == ["jane.doe@gmail.com", "jane.doe@googlemail.com", "jane.doe@example.com"]
    assert (
        _normalise(["not an email", "", None, "a@@b.com"], audiences.email_sql("x", google=False))
        == [None] * 4
    )


@pytest.mark.parametrize(
    ("raw", "region", "digits"),
    [
        # Meta's documented example (country code kept, symbols removed)
        ("+1 (616) 954-78 88", None, "16169547888"),
        # TikTok/Meta customer-file examples: a US number without its country code, and an
        # international one written with its code but no '+'
        ("(657)777-0000", "US", "16577770000"),
        ("374-93-828222", None, "37493828222"),
        # national numbers with a trunk zero; 00 for international
        ("07700 900123", "GB", "447700900123"),
        ("0044 7700 900123", None, "447700900123"),
        ("447700900123", "GB", "447700900123"),
        ("6505551212", "US", "16505551212"),
        # not phone numbers
        ("call me", "US", None),
        ("123", "US", None),
        ("07700 900123", None, None),  # national, and no country to complete it
    ],
)
def test_phones_become_e164_digits(raw, region, digits):
    code = audiences.calling_code(region)
    expression = audiences.phone_digits_sql("x", "NULL::INTEGER" if code is None else str(code))
    assert _normalise([raw], expression) == [digits]


def test_hashes_are_sha256_hex():
    con = duckdb.connect()
    # FIPS 180-2, appendix B.1: SHA-256("abc")
    assert con.execute("SELECT sha256('abc')").fetchall()[0][0] == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert con.execute("SELECT sha256('janedoe@gmail.com')").fetchall()[0][0] == (
        hashlib.sha256(b"janedoe@gmail.com").hexdigest()
    )


# ---------------------------------------------------------------- through the workspace


@pytest.fixture
def ws(built: Path, tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    shutil.copytree(built, path)
    return path


def _segment0(ws: Path) -> list[str]:
    with Workspace(ws).connect(read_only=True) as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT customer_id FROM assignments WHERE run_id = 1 AND segment_id = 0 "
                "ORDER BY customer_id"
            ).fetchall()
        ]


def _withdraw(ws: Path, customer: str, purpose: str) -> None:
    row = {"customer_id": customer, "purpose": purpose, "status": "withdrawn"}
    with Workspace(ws).transaction() as con:
        append_rows(con, ws, [{**row, "ts": datetime.now(UTC).replace(tzinfo=None)}])


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_google_and_meta_get_hashes_and_consent_for_ads(ws, tmp_path):
    members = _segment0(ws)
    out_of_ads, out_of_email = members[0], members[1]
    _withdraw(ws, out_of_ads, "ads")
    _withdraw(ws, out_of_email, "email")
    path = tmp_path / "google.csv"
    r = invoke("audience", "export", "0", "-f", "google", "-o", path, "-w", ws, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["withheld"] == {"consent": 1, "no contact": 0}
    assert result["rows"] == len(members) - 1
    rows = _rows(path)
    assert list(rows[0]) == ["Email", "Phone", "Country"] and len(rows) == result["rows"]
    assert all(len(row["Email"]) == 64 for row in rows)
    emails = {row["Email"] for row in rows}
    assert _sha(f"{out_of_ads.lower()}@example.com") not in emails
    assert _sha(f"{out_of_email.lower()}@example.com") in emails  # email consent is not ads
    phones = {row["Phone"] for row in rows if row["Phone"]}
    assert phones and all(len(p) == 64 for p in phones)
    text = path.read_text()
    assert "@example.com" not in text and out_of_email not in text
    meta = tmp_path / "meta.csv"
    assert invoke("audience", "export", "0", "-f", "meta", "-o", meta, "-w", ws).exit_code == 0
    assert list(_rows(meta)[0]) == ["email", "phone", "country"]
    assert len(_rows(meta)) == result["rows"]


def test_email_tools_get_addresses_under_email_consent(ws, tmp_path):
    members = _segment0(ws)
    _withdraw(ws, members[0], "email")
    path = tmp_path / "mailchimp.csv"
    r = invoke("audience", "export", "0", "-f", "mailchimp", "-o", path, "-w", ws, "--json")
    assert r.exit_code == 0, r.output
    rows = _rows(path)
    addresses = {row["Email Address"] for row in rows}
    assert f"{members[0].lower()}@example.com" not in addresses
    assert f"{members[1].lower()}@example.com" in addresses
    assert {row["Segment"] for row in rows} == {json.loads(r.stdout)["segment"]}
    klaviyo = tmp_path / "klaviyo.csv"
    assert (
        invoke("audience", "export", "0", "-f", "klaviyo", "-o", klaviyo, "-w", ws).exit_code == 0
    )
    numbers = [row["Phone Number"] for row in _rows(klaviyo) if row["Phone Number"]]
    assert numbers and all(n.startswith("+44") for n in numbers)


def test_files_carry_pseudonyms_and_small_audiences_are_refused(ws, tmp_path):
    members = _segment0(ws)
    path = tmp_path / "audience.parquet"
    r = invoke("audience", "export", "0", "-f", "parquet", "-o", path, "-w", ws, "--json")
    assert r.exit_code == 0, r.output
    frame = pd.read_parquet(path)
    assert len(frame) == len(members) and not set(frame.customer_id) & set(members)
    with Workspace(ws).transaction() as con:
        save_policy(con, ConsentPolicy(min_audience=len(members) + 1))
    refused = tmp_path / "refused.csv"
    r = invoke("audience", "export", "0", "-f", "google", "-o", refused, "-w", ws)
    assert r.exit_code != 0 and "minimum audience" in r.stderr and not refused.exists()
    with Workspace(ws).connect(read_only=True) as con:
        logged = read_audit(con, limit=10, action="audience.export")
    assert list(logged["rows"]) == [len(members)]  # the refused one is not logged as sent


def test_bad_requests_are_one_line_errors(ws, tmp_path):
    out = tmp_path / "x.csv"
    for args, words in (
        (("-f", "tiktok"), "unknown audience format"),
        (("-f", "google", "--purpose", "email"), "used for ads"),
        (("-f", "google", "--default-country", "Britain"), "two-letter"),
    ):
        r = invoke("audience", "export", "0", *args, "-o", out, "-w", ws)
        assert r.exit_code != 0 and words in r.stderr, r.stderr
        assert not out.exists()
    r = invoke("audience", "export", "nobody", "-o", out, "-w", ws)
    assert r.exit_code != 0 and "no segment" in r.stderr
