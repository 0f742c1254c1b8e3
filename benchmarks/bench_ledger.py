"""Speed of the consent ledger: appending a consent file, and verifying a large ledger.

Usage: python benchmarks/bench_ledger.py [--append-rows 100000] [--entries 200000]
[--chunk 1000000] [--data-dir /tmp/segmint-bench]

1. ``segmint ingest consent`` of a Parquet file of ``--append-rows`` rows (two purposes per
   customer, all customers new) into a fresh workspace, timed end to end (read, stage, skip
   what is stored, subject keys, leaf hashes and seals in SQL, the signed checkpoint), against
   the same file copied into a plain table (the floor any ingest pays).
2. The ledger is then filled to ``--entries`` entries, ``--chunk`` rows an append (each
   append signs a checkpoint over the whole tree, so verify checks one root per chunk).
3. ``verify`` of the whole ledger, timed, against plain hashlib hashing the same number of
   32-byte leaves once in Python (the Merkle tree alone hashes about as many nodes again),
   and the part of a verify that is building that tree.
4. One more single-row append and one customer's proof at that size: the append extends the
   stored frontier of the last tree (O(log n)); a proof rebuilds the tree from the stored
   leaf hashes, so it grows with the ledger.

Wall seconds; peak resident memory of the process at the end. The last line, ``JSON:``,
holds every figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from datetime import datetime
from hashlib import sha256
from pathlib import Path

import duckdb

from segmint import pipeline
from segmint.consent import ledger
from segmint.consent.merkle import build_levels
from segmint.store.workspace import Workspace

_ROWS_SQL = """
    SELECT 'c' || (? + i // 2) AS customer_id,
           CASE i % 2 WHEN 0 THEN 'email' ELSE 'sms' END AS purpose,
           CASE WHEN hash(i) % 3 = 0 THEN 'withdrawn' ELSE 'granted' END AS status,
           'bench' AS source,
           TIMESTAMP '2025-01-01' + to_seconds(? + i) AS ts,
           CASE WHEN i % 5 = 0 THEN 'form-' || i END AS evidence
    FROM range(?) t(i)
"""


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(results: dict, label: str, fn):
    t0 = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - t0
    return value


def _write_file(path: Path, rows: int) -> None:
    with duckdb.connect() as con:
        con.execute(f"COPY ({_ROWS_SQL}) TO '{path}' (FORMAT parquet)", [10**9, 10**9, rows])


def _fill(ws: Workspace, entries: int, chunk: int) -> None:
    """Append generated rows until the ledger holds ``entries``, one transaction a chunk."""
    while True:
        with ws.transaction() as con:
            (have,) = con.execute("SELECT count(*) FROM consent_ledger").fetchall()[0]
            if have >= entries:
                return
            n = min(chunk, entries - have)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _fill AS {_ROWS_SQL}", [have, have, n])
            ledger.append_table(con, ws.path, "_fill")
            con.execute("DROP TABLE _fill")
        print(f"  ledger at {have + n:,} entries ({_rss_mib():,.0f} MiB peak)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--append-rows", type=int, default=100_000)
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/segmint-bench"))
    args = ap.parse_args()
    folder = args.data_dir / "ledger"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    r: dict[str, float] = {}

    source = folder / "consent.parquet"
    _write_file(source, args.append_rows)
    with duckdb.connect(str(folder / "plain.duckdb")) as con:
        _timed(
            r,
            "plain copy s",
            lambda: con.execute(f"CREATE TABLE plain AS SELECT * FROM read_parquet('{source}')"),
        )
    ws = Workspace(folder / "ws")
    with ws.connect(create=True):
        pass  # the migrations, outside the timing
    result = _timed(r, "ingest s", lambda: pipeline.ingest_source(ws, "consent", source))
    assert result.rows_loaded == args.append_rows
    r["ingest rows/s"] = args.append_rows / r["ingest s"]
    print(
        f"ingest consent, {args.append_rows:,} rows: {r['ingest s']:.2f} s "
        f"({r['ingest rows/s']:,.0f} rows/s); plain copy {r['plain copy s']:.2f} s; "
        f"ratio {r['ingest s'] / r['plain copy s']:.1f}x",
        flush=True,
    )

    _timed(r, "fill s", lambda: _fill(ws, args.entries, args.chunk))
    with ws.connect(read_only=True) as con:
        found = _timed(r, "verify s", lambda: ledger.verify(con, ws.path))
        assert found.ok, found.problems
        entries = found.entries
        leaves = (
            con.sql("SELECT unhex(leaf_hash) FROM consent_ledger ORDER BY seq")
            .to_arrow_table()
            .column(0)
            .to_pylist()
        )
    _timed(r, "build tree s", lambda: build_levels(leaves))
    _timed(r, "hashlib baseline s", lambda: [sha256(leaf).digest() for leaf in leaves])
    ratio = r["verify s"] / r["hashlib baseline s"]
    print(
        f"verify, {entries:,} entries, {found.checkpoints:,} checkpoints: {r['verify s']:.2f} s "
        f"(of which the Merkle tree built in Python {r['build tree s']:.2f} s); plain hashlib "
        f"over the same leaves {r['hashlib baseline s']:.2f} s; ratio {ratio:.1f}x",
        flush=True,
    )

    with ws.transaction() as con:
        row = {
            "customer_id": "c1",
            "purpose": "ads",
            "status": "granted",
            "source": "api",
            "ts": datetime(2026, 1, 1),
        }
        _timed(r, "append one row s", lambda: ledger.append_rows(con, ws.path, [row]))
        _timed(r, "proof s", lambda: ledger.proof(con, ws.path, "c1"))
    print(
        f"at {entries:,} entries: one-row append {r['append one row s']:.2f} s, one proof "
        f"{r['proof s']:.2f} s; peak RSS {_rss_mib():,.0f} MiB",
        flush=True,
    )
    r["entries"] = entries
    r["peak rss mib"] = _rss_mib()
    print("JSON: " + json.dumps({k: round(v, 3) for k, v in r.items()}))


if __name__ == "__main__":
    main()
