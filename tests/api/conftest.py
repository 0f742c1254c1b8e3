"""Fixtures: a demo workspace (made once), API keys, and the real server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def template_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo workspace (300 customers, one run, its model stored), built once per session."""
    from segmint import pipeline
    from segmint.consent.policy import ConsentPolicy, save_policy
    from segmint.datasets import generate
    from segmint.datasets import write as write_dataset
    from segmint.realtime.live import LiveState
    from segmint.store.workspace import Workspace

    path = tmp_path_factory.mktemp("template") / "ws"
    data = generate(300, seed=0)
    files = write_dataset(data, path.parent / "data", fmt="parquet")
    ws = Workspace(path)
    pipeline.ingest(ws, files["transactions"], customers=files["customers"])
    pipeline.segment(ws, as_of=data.as_of, random_state=0, write_html=False)
    with Workspace(path).connect() as con:
        LiveState.load(con)  # stores the run's fitted model if the pipeline did not
        # 300 customers make segments of about 30: member lists and micro-segments are
        # described from 5 (the default minimum audience of 50 is tested on its own)
        save_policy(con, ConsentPolicy(min_audience=5))
    return path


@dataclass
class Keys:
    admin: str
    ingest: str
    read: str

    def h(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, scope)}"}


def make_workspace(template: Path, dest: Path) -> tuple[Path, Keys]:
    from segmint.service.auth import create_key
    from segmint.store.workspace import Workspace

    shutil.copytree(template, dest)
    with Workspace(dest).transaction() as con:
        tokens = {s: create_key(con, scope=s)[1] for s in ("admin", "ingest", "read")}
    return dest, Keys(**tokens)


class LiveServer:
    """``segmint serve`` in a subprocess on a free loopback port."""

    def __init__(self, workspace: Path, *extra: str) -> None:
        self.workspace = workspace
        self.extra = extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = workspace.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> LiveServer:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "segmint",
                "serve",
                "--workspace",
                str(self.workspace),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).json().get("status") == "ok":
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def serve_copy(template: Path, dest: Path, *extra: str) -> LiveServer:
    """A real server on a copy of ``template``, with keys; ``template`` stays readable while
    the server holds its copy's lock."""
    ws, keys = make_workspace(template, dest)
    server = LiveServer(ws, *extra).start()
    server.keys = keys  # type: ignore[attr-defined]
    server.template = template  # type: ignore[attr-defined]
    return server


@pytest.fixture(scope="module")
def live(template_workspace: Path, tmp_path_factory: pytest.TempPathFactory):
    """One real server per test module, with an admin, an ingest and a read key; its webhooks
    may call receivers on loopback (the tests' own)."""
    ws, keys = make_workspace(template_workspace, tmp_path_factory.mktemp("live") / "ws")
    server = LiveServer(ws, "--allow-loopback-webhooks").start()
    server.keys = keys  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dashboard_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo workspace with what the dashboard shows: 1,000 customers (predictions need
    customers who lapsed), two runs with different numbers of segments (customers move between
    them), predictions, playbooks, recommendations and a campaign."""
    from segmint import pipeline
    from segmint.consent.policy import ConsentPolicy, save_policy
    from segmint.datasets import generate
    from segmint.datasets import write as write_dataset
    from segmint.store.workspace import Workspace

    path = tmp_path_factory.mktemp("dashboard") / "ws"
    data = generate(1000, seed=0)
    files = write_dataset(data, path.parent / "data", fmt="parquet")
    ws = Workspace(path)
    pipeline.ingest(ws, files["transactions"], customers=files["customers"])
    first = pipeline.segment(ws, as_of=data.as_of, random_state=0, write_html=False)
    pipeline.segment(
        ws,
        as_of=data.as_of,
        n_segments=int(first.metrics["n_segments"]) + 1,
        random_state=1,
        write_html=False,
    )
    pipeline.predict(ws)
    pipeline.init_playbooks(ws)
    pipeline.recommend(ws)
    largest = pipeline.load_run(ws).segments.iloc[0]["name"]
    pipeline.create_campaign(ws, "spring-winback", largest, holdout="20%")
    with ws.connect() as con:
        save_policy(con, ConsentPolicy(min_audience=5))
    return path


@pytest.fixture(scope="module")
def dashboard_server(dashboard_template, tmp_path_factory):
    """One real server per test module on a copy of the dashboard's workspace."""
    server = serve_copy(dashboard_template, tmp_path_factory.mktemp("dashboard-live") / "ws")
    try:
        yield server
    finally:
        server.stop()
