"""`segmint ingest SOURCE FILE` for every source: canonical rows, counted rejects, no repeats,
nothing half-written, and `segmint run` without files segmenting what the workspace holds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint.cli import app
from segmint.datasets import generate, write
from segmint.store.workspace import Workspace

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [*map(str, args), "--quiet"], catch_exceptions=False)


def rows(ws: Path, table: str) -> pd.DataFrame:
    with Workspace(ws).connect() as con:
        return con.sql(f"SELECT * FROM {table} ORDER BY ALL").df()


def digest(ws: Path) -> str:
    return hashlib.sha256((ws / "segmint.duckdb").read_bytes()).hexdigest()


@pytest.fixture
def events_csv(tmp_path) -> Path:
    frame = pd.DataFrame(
        {
            "Event ID": ["e1", "e2", "e2", "e3", "e4", "e5"],
            "customer_id": ["c1", "c1", "c1", " ", "c2", "c2"],
            "ts": [
                "2024-01-01T10:00:00Z",
                "2024-01-01 10:05",
                "2024-01-01 10:05",
                "2024-01-02",
                "yesterday",
                "2024-01-03 08:00",
            ],
            "type": ["Page_View", "product_view", "product_view", "page_view", "search", "search"],
            "source": ["web", "app", "app", "web", "web", "web"],
            "properties": [
                '{"device": "mobile"}',
                '{"category": "toys", "product_id": "p1"}',
                '{"category": "toys", "product_id": "p1"}',
                None,
                None,
                "[1, 2]",
            ],
        }
    )
    path = tmp_path / "clicks.csv"
    frame.to_csv(path, index=False)
    return path


def test_events_are_mapped_validated_and_stored_once(tmp_path, events_csv):
    ws = tmp_path / "ws"
    result = invoke("ingest", "events", events_csv, "-w", ws, "--map", "Event ID=event_id")
    assert result.exit_code == 0, result.output
    # a missing customer id, an unparseable date and properties that are no object are counted
    said = " ".join(result.output.split())  # Rich wraps at the terminal's width
    assert "6 rows read, 2 stored" in said
    assert "no customer id" in said and "row 4" in said
    assert "unparseable date" in said and "yesterday" in said
    assert "not a JSON object" in said
    stored = rows(ws, "events")
    assert list(stored["event_id"]) == ["e1", "e2"]
    assert list(stored["type"]) == ["page_view", "product_view"]  # lower-cased
    assert json.loads(stored["properties"][1]) == {"category": "toys", "product_id": "p1"}
    assert str(stored["ts"][0]) == "2024-01-01 10:00:00"  # UTC

    again = invoke("ingest", "events", events_csv, "-w", ws, "--map", "Event ID=event_id", "--json")
    assert json.loads(again.stdout)["rows_loaded"] == 0
    assert len(rows(ws, "events")) == 2


def test_messages_without_ids_get_content_ids_so_a_second_ingest_adds_nothing(tmp_path):
    path = tmp_path / "chats.parquet"
    pd.DataFrame(
        {
            "customer_id": [17850, 17850, 12345],
            "ts": pd.to_datetime(["2024-03-01 09:00", "2024-03-01 09:02", "2024-03-02 12:00"]),
            "role": ["Customer", "agent", "customer"],
            "channel": ["chat", "chat", "email"],
            "text": ["Where is my parcel?", "It ships today.", "  "],
        }
    ).to_parquet(path)
    ws = tmp_path / "ws"
    first = invoke("ingest", "messages", path, "-w", ws, "--json")
    assert json.loads(first.stdout)["rejected"] == {"missing_text": 1}
    stored = rows(ws, "messages")
    assert set(stored["customer_id"]) == {"17850"} and set(stored["role"]) == {"customer", "agent"}
    assert stored["message_id"].str.len().eq(32).all()
    second = invoke("ingest", "messages", path, "-w", ws, "--json")
    assert json.loads(second.stdout)["rows_loaded"] == 0


def test_identities_are_normalised_and_kinds_checked(tmp_path):
    path = tmp_path / "ids.csv"
    pd.DataFrame(
        {
            "identifier": ["Ann@Example.COM ", "+44 (20) 7946-0000", "ck-1", "x"],
            "kind": ["email", "Phone", "cookie", "passport"],
            "customer_id": ["c1", "c1", "c1", "c1"],
        }
    ).to_csv(path, index=False)
    ws = tmp_path / "ws"
    result = invoke("ingest", "identities", path, "-w", ws)
    assert result.exit_code == 0, result.output
    assert "identifier kind is not one of" in result.output
    stored = rows(ws, "identities")
    assert set(stored["identifier"]) == {"ann@example.com", "442079460000", "ck-1"}


def test_a_bad_file_names_the_column_and_leaves_the_workspace_as_it_was(tmp_path, events_csv):
    ws = tmp_path / "ws"
    assert (
        invoke("ingest", "events", events_csv, "-w", ws, "-m", "Event ID=event_id").exit_code == 0
    )
    before = digest(ws)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"who": ["c1"], "when": ["2024-01-01"], "what": ["page_view"]}).to_csv(bad)
    result = invoke("ingest", "events", bad, "-w", ws)
    assert result.exit_code == 2  # bad data (DataValidationError)
    assert "bad.csv" in result.output and "'customer_id' (for customer_id)" in result.output
    assert "Traceback" not in result.output
    unknown = invoke("ingest", "events", bad, "-w", ws, "--map", "who=shopper")
    assert unknown.exit_code == 2 and "'shopper' is not a field" in unknown.output
    preset = invoke("ingest", "messages", bad, "-w", ws, "--preset", "online-retail")
    assert preset.exit_code == 2 and "generic layout only" in preset.output
    source = invoke("ingest", "chats", bad, "-w", ws)
    assert source.exit_code == 2 and "expected one of transactions" in source.output
    assert digest(ws) == before


def test_run_without_files_segments_what_ingest_stored(tmp_path):
    files = write(generate(300, seed=2), tmp_path / "data")
    ws = tmp_path / "ws"
    assert invoke("ingest", "transactions", files["transactions"], "-w", ws).exit_code == 0
    assert invoke("ingest", "customers", files["customers"], "-w", ws).exit_code == 0
    result = invoke("run", "-w", ws, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_customers"] == 300
    missing = invoke("run", "-w", tmp_path / "nothing")
    assert missing.exit_code == 1 and "segmint ingest SOURCE FILE" in missing.output
    assert not (tmp_path / "nothing").exists()


def test_demo_with_every_source(tmp_path):
    result = invoke("demo", "-w", tmp_path / "ws", "-n", "400", "--sources", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert set(metrics["sources"]["used"]) == {"web", "chats", "devices", "social"}
    assert all(0 < share <= 1 for share in metrics["sources"]["coverage"].values())
    assert sorted(p.name for p in (tmp_path / "ws" / "demo-data").iterdir()) == [
        f"{name}.parquet"
        for name in ("customers", "events", "identities", "labels", "messages", "transactions")
    ]
