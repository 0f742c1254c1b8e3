"""Dashboard page timings against ``segmint serve`` on a large workspace.

Usage::

    python benchmarks/bench_dashboard.py [--customers 1000000] [--data-dir DIR] [--repeat 5]

Builds (once per data directory) a workspace of synthetic customers (ingest + segmentation runs
with micro-segments, ``--runs`` of them, each with one segment more, so that the overview shows
what changed since the run before), starts the real service, signs in with a read key like a browser
(cookie session) and times, from this process over loopback:

- ``overview first``: the first ``GET /`` after the service is ready (the run's summary is
  built while the service starts, so this is what the first marketer of the morning waits);
- ``overview``: the median of ``--repeat`` further loads;
- ``members first`` / ``members``: a segment's page with its first 50 members sorted by
  expected value, then the median over pages sorted by spend, by orders and page 2;
- ``member search``: a search within the segment, then its page;
- ``customer``: a customer's page (profile, history, timeline, consent).

The baseline, measured the same way in the same run, is ``GET /health`` on the same server:
each figure is also printed as a ratio to it. Target: every page under 1 s at 1M customers.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _measure import ensure_data  # noqa: E402

TARGET_S = 1.0


def _workspace(data_dir: Path, n: int, runs: int) -> Path:
    from segmint import pipeline
    from segmint.store.workspace import Workspace

    facts = ensure_data(n, 0, data_dir)
    path = data_dir / f"dashboard-ws-n{n}"
    if (path / "READY").is_file():
        _more_runs(path, runs)
        return path
    shutil.rmtree(path, ignore_errors=True)
    ws = Workspace(path)
    t0 = time.perf_counter()
    pipeline.ingest(ws, facts["transactions"], customers=facts["customers"])
    pipeline.segment(ws, random_state=0, write_html=False)
    print(f"workspace built in {time.perf_counter() - t0:.0f} s", flush=True)
    (path / "READY").write_text("ok")
    _more_runs(path, runs)
    return path


def _more_runs(path: Path, runs: int) -> None:
    """Runs with one segment more each, until the workspace holds ``runs``: the overview then
    compares the served run with the one before."""
    from segmint import pipeline
    from segmint.store.workspace import Workspace

    ws = Workspace(path)
    while len(pipeline.list_runs(ws)) < runs:
        last = pipeline.load_run(ws)
        t0 = time.perf_counter()
        pipeline.segment(
            ws,
            as_of=last.as_of,
            n_segments=int(last.metrics["n_segments"]) + 1,
            random_state=1,
            write_html=False,
        )
        print(f"another run in {time.perf_counter() - t0:.0f} s", flush=True)


def _key(path: Path) -> str:
    from segmint.service.auth import create_key
    from segmint.store.workspace import Workspace

    with Workspace(path).transaction() as con:
        return create_key(con, scope="read")[1]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed(client: httpx.Client, method: str, url: str, **kw) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    r = client.request(method, url, **kw)
    seconds = time.perf_counter() - t0
    if r.status_code >= 400:
        raise SystemExit(f"{method} {url} answered {r.status_code}: {r.text[:300]}")
    return seconds, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "segmint-bench")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--runs", type=int, default=2, help="Runs in the workspace (2: the overview compares)."
    )
    args = ap.parse_args()
    path = _workspace(args.data_dir, args.customers, args.runs)
    token = _key(path)
    port = _port()
    url = f"http://127.0.0.1:{port}"
    log = path.parent / "dashboard-serve.log"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segmint",
            "serve",
            "--workspace",
            str(path),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),  # noqa: SIM115
    )
    try:
        client = httpx.Client(base_url=url, timeout=600)
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
            try:
                if client.get("/health").json().get("status") == "ok":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        started = time.perf_counter() - t0
        # the summary is built as the service starts; a browser would wait for the page
        login = client.get("/login")
        login_token = re.search(r'name="login_token" value="([^"]+)"', login.text).group(1)
        client.post("/login", data={"login_token": login_token, "key": token})
        rows: list[tuple[str, float]] = []
        health = statistics.median(_timed(client, "GET", "/health")[0] for _ in range(20))
        first, home = _timed(client, "GET", "/")
        rows.append(("overview first", first))
        rows.append(
            (
                "overview",
                statistics.median(_timed(client, "GET", "/")[0] for _ in range(args.repeat)),
            )
        )
        seg = re.findall(r'href="/segments/(\d+)"', home.text)[0]
        first, page = _timed(client, "GET", f"/segments/{seg}")
        rows.append(("members first", first))
        views = [f"/segments/{seg}?sort={s}" for s in ("spend", "orders", "recency")]
        views.append(f"/segments/{seg}?sort=spend&page=2")
        rows.append(
            (
                "members",
                statistics.median(
                    _timed(client, "GET", v)[0] for v in views * max(1, args.repeat // 2)
                ),
            )
        )
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        member = re.search(r'href="/customers/[^"]+">([^<]+)</a>', page.text).group(1)
        search, _ = _timed(
            client, "POST", f"/segments/{seg}/search", data={"q": member[-4:], "csrf": csrf}
        )
        again, _ = _timed(client, "GET", f"/segments/{seg}")
        rows.append(("member search", search + again))
        handle = re.search(r'href="/customers/([^"]+)"', page.text).group(1)
        rows.append(
            (
                "customer",
                statistics.median(
                    _timed(client, "GET", f"/customers/{handle}")[0] for _ in range(args.repeat)
                ),
            )
        )
    finally:
        proc.terminate()
        proc.wait(60)
    print(
        f"\n{args.customers:,} customers; service ready in {started:.1f} s; "
        f"baseline GET /health {health * 1000:.1f} ms"
    )
    print(f"{'page':<16}{'seconds':>9}{'x health':>10}{'target':>9}")
    for name, seconds in rows:
        verdict = "ok" if seconds < TARGET_S else "SLOW"
        print(f"{name:<16}{seconds:>9.3f}{seconds / health:>10.0f}{verdict:>9}")


if __name__ == "__main__":
    main()
