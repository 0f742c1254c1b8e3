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

#: most lines and customers aggregated in one bucket, whatever memory allows: a hash table of
#: more customers is slower per line (cache misses), while a bucket of customer-ordered lines
#: reads little beyond its own. The generator's 10M customers (216.5M lines) took 160.7 s in 3
#: buckets sized by memory and 136.1 s in 9.
MAX_BUCKET_ROWS = 25_000_000


def customer_buckets(con, n_lines: int, n_customers: int = 0) -> int:
    """Into how many customer buckets a per-customer aggregation of ``n_lines`` is split.

    On DuckDB, lists per customer (order keys, products) do not spill to disk, so the
    aggregation is run bucket by bucket (ranges of customer ids, :func:`bucket_bounds`) when
    its lines and customers would take more than ``AGGREGATION_SHARE`` of the memory cap, or
    more than ``MAX_BUCKET_ROWS``. An engine that spills (Spark) takes one bucket.
    """
    limit = engine_for(con).memory_limit()
    if limit is None:
        return 1
    rows = n_lines + n_customers
    by_memory = math.ceil(rows * BYTES_PER_ROW / (limit * AGGREGATION_SHARE))
    return max(1, by_memory, math.ceil(rows / MAX_BUCKET_ROWS))


def known_customers(engine: Engine) -> int:
    """Customers in the workspace's ``customers`` table (a metadata read), 0 without one."""
    customers = engine.table("customers")
    return customers.count().to_pyarrow().as_py() if customers is not None else 0


def bucket_bounds(engine: Engine, lines: ir.Table, n_buckets: int) -> list[str]:
    """The ``n_buckets - 1`` customer ids that cut the customers into ranges of about equal
    size (from the ``customers`` table, a column of ids, else from the lines); none when
    there are no ids to cut.

    Buckets are ranges of ids rather than hashes so that a bucket's filter can skip the row
    groups of other customers by their min/max statistics: lines stored in customer order
    (as ingest writes them) are read about once in all, not once per bucket.
    """
    cuts = [i / n_buckets for i in range(1, n_buckets)]
    if not cuts:
        return []
    customers = engine.table("customers")
    for table in (customers, lines):
        if table is not None:
            # an empty customers table gives NULL quantiles: cut the lines' ids instead
            bounds = table["customer_id"].quantile(cuts).to_pyarrow().as_py()
            if bounds and None not in bounds:
                return bounds
    return []


def in_bucket(customer_id: ir.StringValue, bucket: int, bounds: list[str]) -> ir.BooleanValue:
    """Whether a customer id falls into range ``bucket`` of those ``bounds`` cut: every id
    falls into exactly one, whatever the bounds."""
    condition = customer_id.notnull()
    if bucket > 0:
        condition &= customer_id >= bounds[bucket - 1]
    if bucket < len(bounds):
        condition &= customer_id < bounds[bucket]
    return condition


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


def share(condition: ir.BooleanValue) -> ir.FloatingValue:
    """The share of rows where ``condition`` holds (an unknown value counts as not)."""
    return condition.fill_null(False).cast("float64").mean()
