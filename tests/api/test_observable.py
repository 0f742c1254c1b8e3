"""The service is observable, against real `segmint serve` processes: its INFO lines reach the
console, /docs works offline, a held workspace is named in one line, and a refit cut short
by kill -9 is reported after the restart."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest

from .conftest import LiveServer, make_workspace


@pytest.fixture
def server(template_workspace, tmp_path):
    ws, keys = make_workspace(template_workspace, tmp_path / "ws")
    srv = LiveServer(ws, "--log-level", "info").start()
    srv.keys = keys  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.stop()


def _segmint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segmint", *args], capture_output=True, text=True, timeout=120
    )


def test_info_lines_and_offline_docs(server):
    log = server.log.read_text()
    assert re.search(r"INFO: +workspace .* open: run 1, \d+ customers, 3 API keys", log), log

    for docs in ("/docs", "/redoc"):
        page = httpx.get(server.url + docs)
        assert page.status_code == 200
        assert not re.search(r"https?://", page.text), f"{docs} loads from elsewhere"
        urls = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']""", page.text)
        urls += re.findall(r"""url: ?["']([^"']+)["']""", page.text)
        assert any(u.endswith(".js") for u in urls), urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), f"not local: {url}"
            got = httpx.get(server.url + url)
            assert got.status_code == 200 and len(got.content) > 1000, url


def test_a_held_workspace_is_named_in_one_line(server):
    pid = server.proc.pid
    for args in (
        ["runs", "list", "-w", str(server.workspace)],
        ["keys", "list", "-w", str(server.workspace)],
        ["serve", "-w", str(server.workspace), "--port", "1"],
    ):
        done = _segmint(*args)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert f"in use by process {pid} (" in lines[0] and "segmint serve" in lines[0], lines
        assert "Traceback" not in done.stderr + done.stdout


def test_refit_killed_midway_is_reported_after_restart(server):
    r = httpx.post(server.url + "/v1/runs", json={}, headers=server.keys.h("admin"))
    assert r.status_code == 202 and r.json()["state"] == "running"
    server.kill()  # SIGKILL while the refit runs: no chance to record its end
    restarted = LiveServer(server.workspace).start()
    try:
        runs = httpx.get(restarted.url + "/v1/runs", headers=server.keys.h("read")).json()
        refit = runs["refit"]
        assert refit["state"] == "interrupted", refit
        assert refit["finished_at"] is not None and "stopped before" in refit["error"]
        assert [r["run_id"] for r in runs["runs"]] == [1]  # the cut refit stored no run
        # a new refit runs and is recorded as done
        httpx.post(restarted.url + "/v1/runs", json={}, headers=server.keys.h("admin"))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            refit = httpx.get(restarted.url + "/v1/runs", headers=server.keys.h("read")).json()
            if refit["refit"]["state"] != "running":
                break
            time.sleep(0.3)
        # the error first: a whole runs listing is cut off before it in pytest's message
        assert refit["refit"]["state"] == "done", (refit["refit"].get("error"), refit)
    finally:
        restarted.stop()


def test_failed_refit_is_recorded_and_survives_a_restart(tmp_path):
    """A refit that raises (here: a workspace without transactions) is reported as failed
    with its reason, by this server and by the next one."""
    from segmint.service.auth import create_key
    from segmint.store.workspace import Workspace

    ws = tmp_path / "empty"
    with Workspace(ws).transaction(create=True) as con:
        _, admin = create_key(con, scope="admin")
    headers = {"Authorization": f"Bearer {admin}"}
    server = LiveServer(ws).start()
    try:
        assert httpx.post(server.url + "/v1/runs", json={}, headers=headers).status_code == 202
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            refit = httpx.get(server.url + "/v1/runs", headers=headers).json()["refit"]
            if refit["state"] != "running":
                break
            time.sleep(0.2)
        assert refit["state"] == "failed" and refit["error"], refit
    finally:
        server.stop()
    again = LiveServer(ws).start()
    try:
        after = httpx.get(again.url + "/v1/runs", headers=headers).json()["refit"]
        assert after == refit
    finally:
        again.stop()


def test_graceful_shutdown_waits_for_the_refit(server):
    """SIGTERM during a refit: the refit's thread cannot be stopped, so the service waits for
    it and records how it ended; the next start reports it and its run."""
    r = httpx.post(server.url + "/v1/runs", json={}, headers=server.keys.h("admin"))
    assert r.status_code == 202
    server.stop()
    restarted = LiveServer(server.workspace).start()
    try:
        runs = httpx.get(restarted.url + "/v1/runs", headers=server.keys.h("read")).json()
        assert runs["refit"]["state"] == "done", runs["refit"]
        assert runs["refit"]["run_id"] == 2 and [r["run_id"] for r in runs["runs"]] == [1, 2]
    finally:
        restarted.stop()
