"""Time to describe (name, profile, explain) thousands of micro-segments over many customers.

Usage: python benchmarks/bench_micro.py [--n 1000000] [--segments 10] [--micro 1100]
[--features 30]

Synthetic features (gamma-distributed, a few shifted by micro-segment so that some traits are
real) with ``--micro`` micro-segments across ``--segments`` segments; times
:func:`segmint.segment.describe_micro_segments` only (wall and CPU seconds: on a busy shared
machine the CPU time is the steadier figure), and reports the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from segmint.segment import describe_micro_segments

_NAMED = [
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "return_rate",
    "n_categories",
    "n_products",
    "basket_size",
    "spend_trend",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--micro", type=int, default=1100, help="micro-segments")
    parser.add_argument("--features", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    columns = _NAMED + [f"cat_share_c{i}" for i in range(args.features - len(_NAMED))]
    X = pd.DataFrame(rng.gamma(2, 1, size=(args.n, len(columns))), columns=columns)
    X["frequency"] = rng.integers(1, 20, args.n).astype(float)
    segment = rng.integers(0, args.segments, args.n)
    micro = rng.integers(0, args.micro, args.n)
    for j in range(5):  # some micro-segments differ for real
        X.iloc[:, len(_NAMED) + j] += (micro % (j + 2)) * 0.5
    micro_ids = np.char.add("m", micro.astype(str))
    start, cpu = time.perf_counter(), time.process_time()
    out = describe_micro_segments(X, segment, micro_ids)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.n:,} customers x {len(columns)} features, {len(out):,} micro-segments: "
        f"described in {seconds:.1f} s ({cpu:.1f} s of CPU; peak memory {peak:,.0f} MiB)"
    )


if __name__ == "__main__":
    main()
