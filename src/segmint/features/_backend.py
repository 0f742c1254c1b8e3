"""Helpers shared by the feature modules: the engine to run on, and memory sizing.

The engine-specific functions (hashes, list functions, JSON) are in :mod:`segmint.engine`.
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir

from segmint.engine import Engine, engine_for

#: DuckDB memory one transaction line may take in the per-customer aggregation (its order key
#: and product in the customers' lists, its share of the sums and of the hash table): an
#: allowance, not a measurement of it. One pass over 5M synthetic customers (108M lines) failed
#: under a 3.7 GiB cap, so a line needs more than 37 bytes; with 100, the same data ran in 3
#: buckets under the default cap (benchmarks/bench_pipeline.py --customers 5000000)
BYTES_PER_LINE = 100


def customer_buckets(con, n_lines: int) -> int:
    """Into how many customer buckets a per-customer aggregation of ``n_lines`` is split.

    On DuckDB, lists per customer (order keys, products) do not spill to disk, so the
    aggregation is run bucket by bucket (customers by a hash of their id) to stay within half
    the memory limit: the other half is for the scan, the joins and DuckDB's own caches. An
    engine that spills (Spark) takes one bucket.
    """
    limit = engine_for(con).memory_limit()
    if limit is None:
        return 1
    return max(1, math.ceil(n_lines * BYTES_PER_LINE / (limit / 2)))


def in_bucket(
    engine: Engine, customer_id: ir.StringValue, bucket: int, n_buckets: int
) -> ir.BooleanValue:
    """Whether a customer falls into ``bucket`` of ``n_buckets`` (by a hash of the id)."""
    return engine.hash_bits(customer_id, 32) % n_buckets == bucket


def in_sample(engine: Engine, customer_id: ir.StringValue, share: float) -> ir.BooleanValue:
    """Whether a customer falls into a hash sample of ``share`` of the customers (the same
    customers in every call on one engine)."""
    return engine.hash_bits(customer_id, 32) < math.ceil(share * 2**32)


def only(condition: ir.BooleanValue, value: ir.Value) -> ir.Value:
    """``value`` where ``condition`` holds, else NULL.

    Aggregates skip NULLs, so ``only(c, x).sum()`` is ``x.sum(where=c)``; in DuckDB the CASE is
    cheaper than a FILTER clause, which is applied aggregate by aggregate.
    """
    return ibis.ifelse(condition, value, ibis.null())
