"""Helpers shared by the feature modules: the engine to run on, and memory sizing.

The engine-specific functions (hashes, list functions, JSON) are in :mod:`segmint.engine`.
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir

from segmint.engine import Engine, engine_for

#: DuckDB memory allowed for each transaction line and each customer in the per-customer
#: aggregation (order keys and products in the customers' lists, the sums, the hash table).
#: Measured need, one pass forced: the generator's 1M customers (21.6M lines) ran under a 1.4 GB
#: cap and not under 1.0 GB, i.e. 45-62 bytes a line or customer; its first two lines of each
#: customer (1M customers, 2M lines) ran under 0.3 GB. 100 leaves a margin of about two.
BYTES_PER_ROW = 100

#: share of DuckDB's memory cap the aggregation may take; the rest is for the scan, the joins
#: and the result being fetched.
AGGREGATION_SHARE = 0.8


def customer_buckets(con, n_lines: int, n_customers: int = 0) -> int:
    """Into how many customer buckets a per-customer aggregation of ``n_lines`` is split.

    On DuckDB, lists per customer (order keys, products) do not spill to disk, so the
    aggregation is run bucket by bucket (customers by a hash of their id) when its lines and
    customers would take more than ``AGGREGATION_SHARE`` of the memory cap. Every bucket scans
    every line, so buckets are as few as memory allows. An engine that spills (Spark) takes
    one bucket.
    """
    limit = engine_for(con).memory_limit()
    if limit is None:
        return 1
    return max(1, math.ceil((n_lines + n_customers) * BYTES_PER_ROW / (limit * AGGREGATION_SHARE)))


def known_customers(engine: Engine) -> int:
    """Customers in the workspace's ``customers`` table (a metadata read), 0 without one."""
    customers = engine.table("customers")
    return customers.count().to_pyarrow().as_py() if customers is not None else 0


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
