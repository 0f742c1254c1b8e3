"""Migrations: every one not yet applied runs, also one numbered below the highest applied
(branches developed side by side land their migrations out of order)."""

from __future__ import annotations

from segmint.store.workspace import Workspace, _migrations


def test_a_missing_lower_migration_is_applied(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.connect(create=True) as con:
        versions = sorted(
            v for (v,) in con.execute("SELECT version FROM schema_version").fetchall()
        )
        # every migration file once; numbers may skip one a branch has not landed yet
        assert versions == [v for v, _ in _migrations()] and versions[:5] == [1, 2, 3, 4, 5]
        con.execute("DROP TABLE webhook_outbox")  # as if 004 had landed after 005
        con.execute("DELETE FROM schema_version WHERE version = 4")
    with ws.connect() as con:
        again = sorted(v for (v,) in con.execute("SELECT version FROM schema_version").fetchall())
        assert again == versions
        assert con.execute("SELECT count(*) FROM webhook_outbox").fetchall() == [(0,)]


def test_a_workspace_from_before_micro_segment_descriptions(tmp_path):
    """A workspace whose run was stored before migration 006: read-only commands (report,
    micro-segment listing) work on it unmigrated; an export (which writes its audit record)
    migrates it first."""
    from segmint import pipeline
    from segmint.store.runs import load_micro_segments

    ws = Workspace(tmp_path / "ws")
    pipeline.demo(ws, n_customers=300)
    with ws.connect() as con:  # as it was before 006: no table, no record of it
        con.execute("DROP TABLE micro_segments")
        con.execute("DELETE FROM schema_version WHERE version = 6")
    report = pipeline.write_report(ws, run_id=1)
    assert 'id="micro"' not in report.read_text() and 'id="segments"' in report.read_text()
    assert pipeline.load_micro_segments(ws)[1].empty
    with ws.connect(read_only=True) as con:  # still unmigrated: read-only opens never write
        assert con.execute("SELECT count(*) FROM schema_version WHERE version = 6").fetchall() == [
            (0,)
        ]
    rows = pipeline.export_frame(ws, "assignments")
    assert rows["micro_segment"].isna().all() and rows["micro_segment_id"].notna().all()
    assert pipeline.export_frame(ws, "micro-segments").empty
    with ws.connect() as con:
        assert load_micro_segments(con, 1).empty
        assert con.execute("SELECT count(*) FROM schema_version WHERE version = 6").fetchall() == [
            (1,)
        ]
    pipeline.segment(ws, write_html=False)  # a new run describes its micro-segments
    with ws.connect(read_only=True) as con:
        assert not load_micro_segments(con, 2).empty
