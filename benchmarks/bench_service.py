"""Load on loopback against ``segmint serve`` and a bare FastAPI endpoint, in the same run.

Usage::

    python benchmarks/bench_service.py [--customers 5000] [--seconds 4] [--json]

Builds a workspace from synthetic customers (ingest + one segmentation run), starts the real
service (``segmint serve``, one uvicorn worker, write-ahead log fsync'd) and a bare FastAPI app
(one uvicorn worker, endpoints that do nothing) as subprocesses on 127.0.0.1, and drives both
with the same httpx client from this process:

- ``single cN``: single-event ``POST /v1/events`` from N concurrent clients (closed loop):
  requests/s, p50 and p99 latency;
- ``single 500/s``: single events at a fixed 500 requests/s (open loop; latency counted from
  the scheduled send time, so queueing shows): p50 and p99;
- ``batch 1k`` / ``batch 10k``: batches of 1,000 / 10,000 events, 2 concurrent senders:
  events/s, durable (every answered batch is in the fsync'd log);
- ``profile 200/s``: ``GET /v1/customers/{id}`` at 200 requests/s: p50, p99;
- ``next action 200/s``: ``GET /v1/customers/{id}/next-best-action`` at 200 requests/s (the
  playbooks written by ``segmint playbooks init``, and recommendations where stored): p50, p99.

Each figure is also given as a ratio to the bare endpoint measured the same way. The client
shares the 2 cores with the server, so absolute figures understate a server with its own
machine. Targets: batch >= 50,000 events/s; single p99 <= 25 ms at 500/s; profile and next action
p99 <= 10 ms. ``--only profile,action`` runs those rows alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

BARE_APP = textwrap.dedent(
    """
    from fastapi import FastAPI, Request
    app = FastAPI()

    @app.post("/noop")
    async def noop_post(request: Request) -> dict:
        await request.body()
        return {}

    @app.get("/noop/{item}")
    async def noop_get(item: str) -> dict:
        return {}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}
    """
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def build_workspace(root: Path, customers: int) -> tuple[Path, str, list[str]]:
    from segmint import pipeline
    from segmint.datasets import generate
    from segmint.datasets import write as write_dataset
    from segmint.service.auth import create_key
    from segmint.store.workspace import Workspace

    ws = Workspace(root / "ws")
    data = generate(customers, seed=0)
    files = write_dataset(data, root / "data", fmt="parquet")
    pipeline.ingest(ws, files["transactions"], customers=files["customers"])
    pipeline.segment(ws, as_of=data.as_of, random_state=0, write_html=False)
    pipeline.init_playbooks(ws)
    pipeline.recommend(ws)
    with ws.transaction() as con:
        _, token = create_key(con, scope="admin")
        ids = [r[0] for r in con.execute("SELECT customer_id FROM customers").fetchall()]
    return ws.path, token, ids


def _event(customers: list[str], rng: np.random.Generator, ts: str) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "customer_id": customers[int(rng.integers(len(customers)))],
        "ts": ts,
        "type": "purchase",
        "properties": {"amount": float(rng.integers(5, 200)), "category": "garden"},
    }


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams.

    httpx costs about as much CPU per request as the bare server; on two shared cores that
    would measure the client. This one sends prebuilt bytes and reads Content-Length bodies.
    """

    def __init__(self, base: str, headers: dict[str, str] | None = None, size: int = 64) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._free: list = []
        self._sem = asyncio.Semaphore(size)

    async def request(self, method: str, url: str, json: object = None) -> tuple[int, bytes]:
        """Send ``json`` (an object, or bytes already serialised) and read the answer."""
        body = b"" if json is None else json if isinstance(json, bytes) else _dumps(json)
        head = (
            f"{method} {url} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        async with self._sem:
            for _ in range(3):  # an idle keep-alive connection may have been closed: reconnect
                conn = self._free.pop() if self._free else None
                if conn is None:
                    conn = await asyncio.open_connection(self.host, self.port)
                reader, writer = conn
                try:
                    writer.write(head + body)
                    status_line = await reader.readline()
                except ConnectionError:
                    status_line = b""
                if status_line:
                    break
                writer.close()
                for _, stale in self._free:  # idle ones were closed by the server too
                    stale.close()
                self._free.clear()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            data = await reader.readexactly(length)
            self._free.append(conn)
            try:
                return int(status_line.split()[1]), data
            except (IndexError, ValueError):
                raise RuntimeError(f"bad response {status_line[:200]!r}") from None

    async def post(self, url: str, json: object) -> tuple[int, bytes]:
        return await self.request("POST", url, json)

    async def aclose(self) -> None:
        for _, writer in self._free:
            writer.close()
        self._free.clear()


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _pct(lat: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(lat) * 1000, q)) if lat else float("nan")


async def closed_loop(client, make, n: int, seconds: float) -> dict:
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            method, url, body = make()
            t0 = time.perf_counter()
            status, _ = await client.request(method, url, json=body)
            lat.append(time.perf_counter() - t0)
            errors += status >= 300

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(n)))
    wall = time.perf_counter() - t0
    return {
        "rps": len(lat) / wall,
        "p50": _pct(lat, 50),
        "p99": _pct(lat, 99),
        "errors": errors,
        "n": len(lat),
    }


async def open_loop(client, make, rate: float, seconds: float) -> dict:
    # connections left idle by the previous phase may have been closed by the server
    # (keep-alive timeout): reconnecting is the client's cost, so start from fresh ones
    await client.aclose()
    lat: list[float] = []
    errors = 0
    tasks = []
    start = time.perf_counter()

    async def one(at: float) -> None:
        nonlocal errors
        method, url, body = make()
        status, _ = await client.request(method, url, json=body)
        lat.append(time.perf_counter() - at)  # from the scheduled time: queueing counts
        errors += status >= 300

    for i in range(int(rate * seconds)):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    return {
        "rps": len(lat) / wall,
        "p50": _pct(lat, 50),
        "p99": _pct(lat, 99),
        "errors": errors,
        "n": len(lat),
    }


def batch_bodies(customers: list[str], rng: np.random.Generator, ts: str, size: int, n: int):
    """``n`` serialised batches of ``size`` purchase events, every event id new.

    Built before the clock starts (the client shares the cores with the server) and never
    reused: a resent batch would be answered as duplicates, which costs the server far less.
    """
    prefix = uuid.uuid4().hex[:12]
    picks = rng.integers(len(customers), size=size * n)
    amounts = rng.integers(5, 200, size=size * n)
    head = '{"event_id":"%s-%d","customer_id":"%s","ts":"' + ts + '","type":"purchase",'
    tail = '"properties":{"amount":%d.0,"category":"garden"}}'
    template = head + tail
    bodies = []
    for b in range(n):
        lo = b * size
        events = ",".join(
            template % (prefix, i, customers[picks[i]], amounts[i]) for i in range(lo, lo + size)
        )
        bodies.append(('{"events":[' + events + "]}").encode())
    return bodies


async def batches(client, url: str, bodies: Iterable[bytes], n_events: int, seconds: float) -> dict:
    done = 0
    errors = 0
    lat: list[float] = []
    stop = time.perf_counter() + seconds
    pool = iter(bodies)

    async def worker() -> None:
        nonlocal done, errors
        for body in pool:
            if time.perf_counter() >= stop:
                return
            t0 = time.perf_counter()
            status, _ = await client.post(url, json=body)
            lat.append(time.perf_counter() - t0)
            if status == 200:
                done += n_events
            else:
                errors += 1
        raise RuntimeError("ran out of prepared batches: raise the pool size in run()")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(2)))
    wall = time.perf_counter() - t0
    return {
        "eps": done / wall,
        "p50": _pct(lat, 50),
        "p99": _pct(lat, 99),
        "errors": errors,
        "n": len(lat),
    }


async def run(
    service: str, bare: str, token: str, customers: list[str], seconds: float, only: set[str]
) -> list:
    # the load generator's own full collections (it holds the workspace build's leftovers)
    # stalled it for ~120 ms, which showed as server latency: keep them out of the timings
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        return await _run(service, bare, token, customers, seconds, only)
    finally:
        gc.enable()


async def _run(
    service: str, bare: str, token: str, customers: list[str], seconds: float, only: set[str]
) -> list:
    rng = np.random.default_rng(0)
    ts = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    headers = {"Authorization": f"Bearer {token}"}
    rows = []
    svc, base = RawClient(service, headers), RawClient(bare)
    try:

        def single(url):
            return lambda: ("POST", url, _event(customers, rng, ts))

        for n in (1, 8, 32) if "single" in only else ():
            s = await closed_loop(svc, single("/v1/events"), n, seconds)
            b = await closed_loop(base, single("/noop"), n, seconds)
            rows.append((f"single c{n}", s, b, "rps"))
        if "single" in only:
            s = await open_loop(svc, single("/v1/events"), 500, seconds)
            b = await open_loop(base, single("/noop"), 500, seconds)
            rows.append(("single 500/s", s, b, "rps"))
        for size, label in ((1000, "batch 1k"), (10_000, "batch 10k")) if "batch" in only else ():
            # enough for 250,000 events/s; the bare endpoint stores nothing, so repeats are fine
            n = max(8, int(250_000 * seconds / size))
            fresh = batch_bodies(customers, rng, ts, size, n)
            s = await batches(svc, "/v1/events", fresh, size, seconds)
            bare_bodies = batch_bodies(customers, rng, ts, size, 8)
            b = await batches(base, "/noop", itertools.cycle(bare_bodies), size, seconds)
            rows.append((label, s, b, "eps"))

        def lookup(prefix, suffix=""):
            def make():
                customer = customers[int(rng.integers(len(customers)))]
                return ("GET", f"{prefix}/{customer}{suffix}", None)

            return make

        if "profile" in only:
            s = await open_loop(svc, lookup("/v1/customers"), 200, seconds)
            b = await open_loop(base, lookup("/noop"), 200, seconds)
            rows.append(("profile 200/s", s, b, "rps"))
        if "action" in only:
            s = await open_loop(svc, lookup("/v1/customers", "/next-best-action"), 200, seconds)
            b = await open_loop(base, lookup("/noop"), 200, seconds)
            rows.append(("next action 200/s", s, b, "rps"))
    finally:
        await svc.aclose()
        await base.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument(
        "--only",
        default="single,batch,profile,action",
        help="rows to run, comma-separated: single, batch, profile, action",
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="segmint-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        ws, token, customers = build_workspace(root, args.customers)
        (root / "bare_app.py").write_text(BARE_APP)
        sp, bp = _port(), _port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "segmint",
                    "serve",
                    "-w",
                    str(ws),
                    "--port",
                    str(sp),
                    "--rate-limit",
                    "1000000",
                    "--log-level",
                    "warning",
                ],
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bare_app:app",
                    "--port",
                    str(bp),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    # the HTTP parser `segmint serve` uses (h11: it bounds header size), so
                    # the ratio measures segmint, not the parser
                    "--http",
                    "h11",
                ],
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(root)},
            )
        )
        service, bare = f"http://127.0.0.1:{sp}", f"http://127.0.0.1:{bp}"
        _wait(service, procs[0])
        _wait(bare, procs[1])
        only = set(args.only.split(","))
        rows = asyncio.run(run(service, bare, token, customers, args.seconds, only))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"segmint service vs bare FastAPI, {os.cpu_count()} cores, {args.seconds:g} s each,"
        f" {args.customers:,} customers"
    )
    print(
        "| load | segmint | bare | ratio | p50 ms (segmint / bare) | p99 ms (segmint / bare) |"
        " errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    out = {}
    for label, s, b, unit in rows:
        ratio = s[unit] / b[unit] if b[unit] else float("nan")
        print(
            f"| {label} | {s[unit]:,.0f} {'ev/s' if unit == 'eps' else 'req/s'} "
            f"| {b[unit]:,.0f} | {ratio:.2f} | {s['p50']:.1f} / {b['p50']:.1f} "
            f"| {s['p99']:.1f} / {b['p99']:.1f} | {s['errors']} |"
        )
        out[label] = {"segmint": s, "bare": b, "ratio": ratio}
    if args.json:
        print("JSON:", json.dumps(out))


if __name__ == "__main__":
    main()
