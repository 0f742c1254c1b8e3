"""The sources beyond purchases on DuckDB: ingest of events, messages and identities, and each
source's feature group against a bare ``GROUP BY`` over the same rows.

The data is ``segmint.datasets.generate_sources`` (about 115 events, 2.2 messages and 3.7
identities per customer; 100,000 customers make 11.5M events), generated once into
``--data-dir``, 100,000 customers at a time (a part each, ingested one after another).
Everything runs in this process, in order:

- ``ingest_<table>``: :func:`segmint.pipeline.ingest_source` of each file (rows/s);
- ``identities``: :func:`segmint.features.identity.resolve_identities`;
- ``web``, ``devices``, ``social``: the group's query run to Arrow (resolved ids, no text);
- ``chats``: the conversation group with the text read (sentiment and topics on the driver);
- ``groupby``: a bare ``GROUP BY customer_id`` of count, min(ts) and max(ts) over the events,
  the floor any per-customer feature over them pays; each group's ratio to it is printed;
- ``live_<n>``: what the service does after storing events of ``n`` customers (1, 100, 1,000):
  every source's features of those customers alone (``restrict=True``, identities resolved
  once), text read; the lag a customer's source features trail their events by is about this
  plus the flush interval.

Peak memory is this process's ``ru_maxrss`` at the end. Run from the repository root::

    python benchmarks/bench_sources.py [--customers 100000] [--data-dir /tmp/segmint-bench]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from segmint import pipeline
from segmint.datasets import generate_sources, write_sources
from segmint.engine import engine_for
from segmint.features import SOURCES, source_features
from segmint.features.devices import device_features
from segmint.features.identity import resolve_identities, resolved
from segmint.features.social import social_features
from segmint.features.web import web_features
from segmint.store.workspace import Workspace

#: customers generated at once: the generator holds its data in memory (~4 GiB at 100,000)
CHUNK = 100_000

#: the id columns of each table, made unique across chunks by a prefix
_ID_COLUMNS = {
    "transactions": ("customer_id", "order_id"),
    "customers": ("customer_id",),
    "events": ("event_id", "customer_id"),
    "messages": ("message_id", "conversation_id", "customer_id"),
    "identities": ("identifier", "customer_id"),
}


def _data(n: int, seed: int, data_dir: Path) -> dict[str, list[Path]]:
    """The generated tables' files: one part per :data:`CHUNK` customers (seed ``seed + i``,
    ids prefixed ``k<i>`` after the first), generated once into ``data_dir``."""
    folder = data_dir / f"sources-n{n}-s{seed}"
    parts = [(i, min(CHUNK, n - start)) for i, start in enumerate(range(0, n, CHUNK))]
    files: dict[str, list[Path]] = {k: [] for k in _ID_COLUMNS}
    for i, size in parts:
        part = folder / f"part-{i}"
        found = {k: part / f"{k}.parquet" for k in _ID_COLUMNS}
        if not all(p.is_file() for p in found.values()):
            t0 = time.perf_counter()
            data = generate_sources(size, seed=seed + i)
            if i:
                data = _prefixed(data, f"k{i}")
            write_sources(data, part)
            del data
            print(f"generated part {i}: {size:,} customers in {time.perf_counter() - t0:.1f} s")
        for k, path in found.items():
            files[k].append(path)
    return files


def _prefixed(data, prefix: str):
    """``data`` with every id of :data:`_ID_COLUMNS` prefixed (NULLs stay NULL)."""
    tables = {}
    for name, columns in _ID_COLUMNS.items():
        table = getattr(data, name)
        for column in columns:
            j = table.schema.get_field_index(column)
            table = table.set_column(
                j, column, pc.binary_join_element_wise(prefix, table[column], "")
            )
        tables[name] = table
    return dataclasses.replace(data, **tables)


def _timed(results: dict, name: str, fn):
    t0 = time.perf_counter()
    out = fn()
    results[name] = {"seconds": round(time.perf_counter() - t0, 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/segmint-bench"))
    args = ap.parse_args()
    files = _data(args.customers, args.seed, args.data_dir)
    root = args.data_dir / f"sources-ws-n{args.customers}"
    if root.exists():
        for path in sorted(root.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    ws = Workspace(root)
    results: dict[str, dict] = {}

    def ingest_purchases() -> None:
        for tx, cust in zip(files["transactions"], files["customers"], strict=True):
            pipeline.ingest(ws, tx, customers=cust)

    _timed(results, "ingest_transactions", ingest_purchases)
    for table in ("events", "messages", "identities"):
        got = _timed(
            results,
            f"ingest_{table}",
            lambda t=table: sum(
                pipeline.ingest_source(ws, t, path).rows_loaded for path in files[t]
            ),
        )
        results[f"ingest_{table}"]["rows"] = got
        results[f"ingest_{table}"]["rows_per_s"] = round(
            got / results[f"ingest_{table}"]["seconds"]
        )
    with ws.connect(read_only=True) as con:
        engine = engine_for(con)
        ((as_of,),) = con.execute("SELECT max(ts) FROM transactions").fetchall()
        mapping, _ = _timed(results, "identities", lambda: resolve_identities(engine))
        events = resolved(engine, engine.table("events"), mapping)
        transactions = engine.table("transactions")
        _timed(
            results,
            "groupby",
            lambda: con.sql(
                "SELECT customer_id, count(*), min(ts), max(ts) FROM events GROUP BY 1"
            ).to_arrow_table(),
        )
        queries = {
            "web": lambda: web_features(engine, events, transactions, as_of),
            "devices": lambda: device_features(engine, events, as_of),
            "social": lambda: social_features(engine, events, as_of),
        }
        for name, query in queries.items():
            rows = _timed(results, name, lambda q=query: engine.to_arrow(q()))
            results[name]["customers"] = rows.num_rows
        customers = engine.to_arrow(engine.table("customers").select("customer_id")).column(0)
        found = _timed(
            results,
            "chats",
            lambda: source_features(
                engine, as_of, pa.concat_arrays(customers.chunks), sources=["chats"]
            ),
        )
        results["chats"]["customers"] = found.tables["chats"].num_rows
        ids = pa.concat_arrays(customers.chunks)
        for n in (1, 100, 1000):
            picked = ids.take(pa.array(range(0, len(ids), max(len(ids) // n, 1))[:n]))
            _timed(
                results,
                f"live_{n}",
                lambda p=picked: source_features(
                    engine,
                    as_of,
                    p,
                    sources=list(SOURCES),
                    topics=found.topics,
                    required=False,
                    identities=mapping,
                    restrict=True,
                ),
            )
            results[f"live_{n}"]["customers_per_s"] = round(n / results[f"live_{n}"]["seconds"])
    floor = results["groupby"]["seconds"]
    print(f"{'step':22} {'seconds':>9} {'x groupby':>10}  notes")
    for name, figures in results.items():
        ratio = figures["seconds"] / floor if name in ("web", "devices", "social") else None
        notes = {k: v for k, v in figures.items() if k != "seconds"}
        shown = f"{ratio:10.2f}" if ratio is not None else f"{'':10}"
        print(f"{name:22} {figures['seconds']:9.2f} {shown}  {notes or ''}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MiB")
    print(
        "JSON: " + json.dumps({"customers": args.customers, "peak_rss_mib": round(peak), **results})
    )


if __name__ == "__main__":
    main()
