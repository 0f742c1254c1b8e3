"""Recommendations on Online Retail: the model against popularity and co-occurrence.

Usage: python benchmarks/bench_recommend.py [--data PATH] [--split 2011-09-01 ...] [--k 10]

Ingests the UCI Online Retail file into a temporary workspace, fits every recommender on the
purchases before each split date and scores its top ``k`` against the purchases from the
split to the end of the data (:func:`segmint.pipeline.evaluate_recommendations`): precision,
recall, NDCG, catalogue coverage and fit seconds, in two modes ("new items": already bought
items excluded from the recommendations and the truth; "all items": rebuys count). Then
segments the data, stores the default model's recommendations for the run
(:func:`segmint.pipeline.recommend`) and times :meth:`RecommendationBook.for_customer` per
request (p50/p99 over every customer, and over unknown customers, who get their segment's).
Exits with a message when the data file is absent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from segmint import pipeline
from segmint.store.workspace import Workspace

DATA = Path(__file__).resolve().parents[2] / "shared/data/online-retail-uci/online_retail.csv.gz"


def _latency(book, customer_ids: list[str], segment_ids: list[int]) -> tuple[float, float]:
    """p50, p99 in microseconds of one ``for_customer`` call."""
    times = np.empty(len(customer_ids))
    for i, (c, s) in enumerate(zip(customer_ids, segment_ids, strict=True)):
        start = time.perf_counter_ns()
        book.for_customer(c, 10, segment_id=s)
        times[i] = time.perf_counter_ns() - start
    return float(np.percentile(times, 50) / 1e3), float(np.percentile(times, 99) / 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", nargs="+", default=["2011-09-01", "2011-07-01"])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--models", nargs="+", default=["ease", "als"])
    args = ap.parse_args()
    if not args.data.is_file():
        sys.exit(f"skipped: no Online Retail file at {args.data} (pass --data)")
    pd.set_option("display.width", 200)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        pipeline.ingest(ws, args.data, preset="online-retail")
        for split in args.split:
            table = pipeline.evaluate_recommendations(
                ws, split, k=args.k, models=tuple(args.models)
            )
            print(f"\nsplit {split} (fit before, score from the split to the end of the data)")
            print(table.round(4).to_string(index=False))
        run = pipeline.segment(ws, write_html=False)
        summary = pipeline.recommend(ws, run_id=run.run_id)
        print(f"\nstored for run {run.run_id}: {summary}")
        book = pipeline.recommendation_book(ws, run.run_id)
        with ws.connect(read_only=True) as con:
            members = con.execute(
                "SELECT customer_id, segment_id FROM assignments WHERE run_id = ?", [run.run_id]
            ).df()
        ids, segs = members["customer_id"].tolist(), members["segment_id"].tolist()
        p50, p99 = _latency(book, ids, segs)
        print(f"for_customer over {len(ids):,} customers: p50 {p50:.1f} us, p99 {p99:.1f} us")
        unknown = [f"unknown-{i}" for i in range(len(ids))]
        p50, p99 = _latency(book, unknown, segs)
        print(
            f"for_customer, unknown customers (segment fallback): p50 {p50:.1f} us, "
            f"p99 {p99:.1f} us"
        )


if __name__ == "__main__":
    main()
