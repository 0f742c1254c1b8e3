"""Live state, write-ahead log and signatures, in process (fast)."""

from __future__ import annotations

import asyncio
import shutil
import time

import duckdb
import numpy as np
import pytest

from segmint.realtime import sign, verify
from segmint.realtime.live import LiveState
from segmint.realtime.wal import HEADER, WriteAheadLog


def test_live_assignment_equals_batch_on_same_data(template_workspace, tmp_path):
    path = tmp_path / "ws"
    shutil.copytree(template_workspace, path)
    con = duckdb.connect(str(path / "segmint.duckdb"))
    try:
        state = LiveState.load(con)
        batch = con.execute(
            "SELECT customer_id, segment_id, confidence FROM assignments WHERE run_id = 1"
        ).fetchall()
    finally:
        con.close()
    assert state.model is not None
    live = {c: int(state.seg[state.index[c]]) for c, _, _ in batch}
    assert live == {c: s for c, s, _ in batch}
    conf = np.array([state.conf[state.index[c]] for c, _, _ in batch])
    np.testing.assert_allclose(conf, [x for _, _, x in batch], rtol=1e-5)


def test_wal_group_commit_and_torn_tail(tmp_path):
    async def run() -> tuple[list, int]:
        wal = WriteAheadLog(tmp_path / "wal")
        assert wal.open() == []
        committed: list = []
        wal.start(lambda recs: committed.extend(recs) or [s for s, _ in recs])
        seqs = await asyncio.gather(*(wal.append(f"r{i}".encode(), i) for i in range(200)))
        await wal.close()
        return seqs, wal.fsyncs, committed

    seqs, fsyncs, committed = asyncio.run(run())
    assert sorted(seqs) == list(range(1, 201))
    assert [s for s, _ in committed] == list(range(1, 201))
    assert fsyncs < 200  # concurrent appends shared fsyncs
    # a crash mid-write leaves a torn record: it is cut off, the intact ones are kept
    (segment,) = sorted((tmp_path / "wal").glob("*.wal"))
    with open(segment, "ab") as fh:
        fh.write(HEADER.pack(100, 0, 201) + b"partial")
    again = WriteAheadLog(tmp_path / "wal")
    records = again.open()
    assert [s for s, _ in records] == list(range(1, 201))
    assert records[5][1] == b"r5"
    assert again.last_seq == 200


def test_signature_round_trip():
    body = b'{"type":"alert"}'
    header = sign("s3cret", body, int(time.time()))
    assert verify("s3cret", body, header)
    assert not verify("s3cret", body + b" ", header)
    assert not verify("other", body, header)
    assert not verify("s3cret", body, sign("s3cret", body, int(time.time()) - 3600))
    assert not verify("s3cret", body, "garbage")


@pytest.mark.parametrize("scope", ["ingest", "read", "admin"])
def test_cli_keys_create_list_revoke(template_workspace, tmp_path, scope):
    from typer.testing import CliRunner

    from segmint.cli.main import app
    from segmint.service.auth import token_matches
    from segmint.store.keys import list_keys
    from segmint.store.workspace import Workspace

    path = tmp_path / "ws"
    shutil.copytree(template_workspace, path)
    runner = CliRunner()
    r = runner.invoke(app, ["keys", "create", "--scope", scope, "-w", str(path)])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("sgm_")
    with Workspace(path).connect() as con:
        (key,) = list_keys(con)
        assert key.scope == scope and key.key_hash != token and token_matches(token, key)
    r = runner.invoke(app, ["keys", "list", "--json", "-w", str(path)])
    assert key.key_id in r.stdout and token not in r.stdout
    r = runner.invoke(app, ["keys", "revoke", key.key_id, "-w", str(path)])
    assert r.exit_code == 0
    with Workspace(path).connect() as con:
        assert not list_keys(con)[0].active
    r = runner.invoke(app, ["keys", "create", "--scope", "root", "-w", str(path)])
    assert r.exit_code != 0 and "unknown scope" in r.output
