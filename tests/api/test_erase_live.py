"""DELETE /v1/customers/{id} on the real server: the customer leaves every output at once, and
when the service stops (or restarts after being killed) no byte of them is left in the
workspace."""

from __future__ import annotations

from pathlib import Path

import duckdb
import httpx
import pytest

from segmint.consent.policy import ConsentPolicy, save_policy
from segmint.store.workspace import Workspace

from .conftest import LiveServer, make_workspace


def _everywhere(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture
def served(template_workspace, tmp_path):
    ws_path, keys = make_workspace(template_workspace, tmp_path / "ws")
    with Workspace(ws_path).transaction() as con:
        save_policy(con, ConsentPolicy(min_audience=5))
        rows = con.execute(
            """SELECT customer_id, segment_id FROM assignments
               WHERE run_id = (SELECT max(run_id) FROM runs) ORDER BY customer_id LIMIT 2"""
        ).fetchall()
    server = LiveServer(ws_path).start()
    server.keys = keys  # type: ignore[attr-defined]
    try:
        yield server, rows[0], rows[1][0]
    finally:
        server.stop()


def _members(server, segment_id: int) -> set[str]:
    r = httpx.get(
        f"{server.url}/v1/segments/{segment_id}/members",
        params={"limit": 1000},
        headers=server.keys.h("read"),
    )
    assert r.status_code == 200, r.text
    return set(r.json()["customer_ids"])


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_erased_at_once_and_purged_when_the_service_stops(served, stop):
    server, (target, segment_id), control = served
    assert target in _members(server, segment_id)
    assert _everywhere(server.workspace, target.encode())
    read = httpx.delete(f"{server.url}/v1/customers/{target}", headers=server.keys.h("read"))
    assert read.status_code == 403  # erasure needs an admin key
    r = httpx.delete(f"{server.url}/v1/customers/{target}", headers=server.keys.h("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["rows"]["transactions"] > 0 and target not in r.text
    assert target not in _members(server, segment_id)
    got = httpx.get(f"{server.url}/v1/customers/{target}", headers=server.keys.h("read"))
    assert got.status_code == 451
    assert httpx.get(
        f"{server.url}/v1/customers/{control}", headers=server.keys.h("read")
    ).is_success
    if stop == "sigterm":
        server.stop()
    else:  # killed before it could rewrite the file: the next start finishes the purge
        server.kill()
        server.start()
        server.stop()
    assert not (server.workspace / "erasure.pending").exists()
    assert not _everywhere(server.workspace, target.encode())
    assert _everywhere(server.workspace, control.encode())
    with duckdb.connect(str(server.workspace / "segmint.duckdb"), read_only=True) as con:
        (n,) = con.execute("SELECT count(*) FROM audit_log WHERE action = 'erase'").fetchall()[0]
    assert n == 1
