"""Small helpers around the Ibis DuckDB backend shared by the feature modules.

Also the DuckDB functions the feature query calls, declared once here: built-ins, and two
temporary macros. Another engine needs its own equivalents of exactly this module.
"""

from __future__ import annotations

import math
import re

import ibis
import ibis.backends.duckdb  # noqa: F401  (ibis imports its backends lazily, on first use)
import ibis.common.exceptions as ibis_exc
import ibis.expr.datatypes as dt
import ibis.expr.types as ir


def backend_for(con):
    """Wrap the caller's raw DuckDB connection in an Ibis backend (no copy, same session)."""
    return ibis.duckdb.from_connection(con)


#: DuckDB memory one transaction line may take in the per-customer aggregation (its order key
#: and product in the customers' lists, its share of the sums and of the hash table); measured
#: on the synthetic data, about 20 lines per customer (benchmarks/bench_pipeline.py)
BYTES_PER_LINE = 100

_UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_limit(con) -> int:
    """DuckDB's memory limit on this connection, in bytes."""
    ((text,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    number, unit = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text).groups()
    return int(float(number) * _UNITS[unit.lower()])


def customer_buckets(con, n_lines: int) -> int:
    """Into how many customer buckets a per-customer aggregation of ``n_lines`` is split.

    Lists per customer (order keys, products) do not spill to disk, so the aggregation is run
    bucket by bucket (customers by a hash of their id) to stay within half the memory limit:
    the other half is for the scan, the joins and DuckDB's own caches.
    """
    return max(1, math.ceil(n_lines * BYTES_PER_LINE / (memory_limit(con) / 2)))


def in_bucket(customer_id: ir.StringValue, bucket: int, n_buckets: int) -> ir.BooleanValue:
    """Whether a customer falls into ``bucket`` of ``n_buckets`` (by a hash of the id)."""
    return hash64(customer_id) % n_buckets == bucket


def table_or_none(backend, name: str) -> ir.Table | None:
    """Return the named table, or None when it does not exist.

    ``backend.list_tables()`` is avoided on purpose: with ibis 12.0.0 on duckdb 2.0 it calls
    ``DuckDBPyConnection.fetch_arrow_table``, which duckdb 2.0 removed.
    """
    try:
        return backend.table(name)
    except ibis_exc.TableNotFound:
        return None


def only(condition: ir.BooleanValue, value: ir.Value) -> ir.Value:
    """``value`` where ``condition`` holds, else NULL.

    Aggregates skip NULLs, so ``only(c, x).sum()`` is ``x.sum(where=c)``; in DuckDB the CASE is
    cheaper than a FILTER clause, which is applied aggregate by aggregate.
    """
    return ibis.ifelse(condition, value, ibis.null())


# DuckDB list functions called as built-ins: Ibis writes lambdas in the arrow syntax that DuckDB 2
# deprecates, so the two functions that need a lambda are temporary macros (``MACROS``). On another
# engine these need that engine's equivalents.
@ibis.udf.scalar.builtin(name="hash")
def hash64(value: dt.string) -> dt.uint64:
    """64-bit hash (Ibis's own ``hash()`` converts the result through a bit string)."""


@ibis.udf.scalar.builtin(name="list_unique")
def count_unique(values: dt.Array(dt.uint64)) -> dt.uint64:
    """Number of distinct non-NULL elements."""


@ibis.udf.scalar.builtin(name="list_distinct")
def distinct(values: dt.Array(dt.uint64)) -> dt.Array(dt.uint64):
    """The distinct non-NULL elements (Ibis's ``unique()`` adds a lambda for NULLs)."""


@ibis.udf.scalar.builtin(name="list_inner_product")
def inner_product(left: dt.Array(dt.float64), right: dt.Array(dt.float64)) -> dt.float64:
    """Sum of the element-wise products."""


#: bits of an order key below its day: ``(day << 44) | (64-bit order-id hash >> 20)``
ORDER_BITS = 44

MACROS = (
    # the day part of each order key, as DOUBLE for the inner products
    f"segmint_key_days(keys) AS list_transform(keys, lambda k: (k >> {ORDER_BITS})::DOUBLE)",
    # distinct values of a sorted list: its length minus the elements equal to their predecessor
    "segmint_sorted_unique(xs) AS len(xs) - len(list_filter("
    "list_zip(list_slice(xs, 2, len(xs)), list_slice(xs, 1, -2)), lambda z: z[1] = z[2]))",
)


@ibis.udf.scalar.builtin(name="segmint_key_days")
def key_days(keys: dt.Array(dt.uint64)) -> dt.Array(dt.float64):
    """The day part of each order key."""


@ibis.udf.scalar.builtin(name="segmint_sorted_unique")
def sorted_unique(values: dt.Array(dt.float64)) -> dt.int64:
    """Number of distinct elements of a sorted list."""


def create_macros(con) -> None:
    # temporary: they live in this connection only and never touch the workspace file
    for macro in MACROS:
        con.execute(f"CREATE OR REPLACE TEMP MACRO {macro}")


@ibis.udf.agg.builtin(name="bitstring_agg")
def bitmap(position: dt.int64, lowest: dt.int64, highest: dt.int64) -> dt.binary:
    """Bit string with the bit of each position present set (bounds must be constants)."""


@ibis.udf.scalar.builtin(name="bit_count")
def bit_count(bits: dt.binary) -> dt.int64:
    """Number of set bits."""
