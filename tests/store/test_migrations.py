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
