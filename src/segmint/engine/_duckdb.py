"""DuckDB, the default engine: the workspace's own connection, queried through Ibis.

Most functions are DuckDB built-ins; those that need a lambda are temporary macros, because
Ibis writes lambdas in the arrow syntax that DuckDB 2 deprecates.
"""

from __future__ import annotations

import re

import ibis
import ibis.backends.duckdb  # noqa: F401  (ibis imports its backends lazily, on first use)
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from segmint.engine._base import Engine

_UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}

#: a key that can be used in a plain JSON path (``$.key``); others go through a MAP lookup,
#: which is slower but safe for keys holding dots, quotes or spaces.
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_MACROS = (
    # each element shifted right, as DOUBLE (for inner products)
    "segmint_shifted_doubles(xs, bits) AS list_transform(xs, lambda x: (x >> bits)::DOUBLE)",
    # distinct values of a sorted list: its length minus the elements equal to their predecessor
    "segmint_sorted_unique(xs) AS len(xs) - len(list_filter("
    "list_zip(list_slice(xs, 2, len(xs)), list_slice(xs, 1, -2)), lambda z: z[1] = z[2]))",
    "segmint_count_at_most(xs, bound) AS list_unique(list_filter(xs, lambda x: x <= bound))",
    "segmint_count_periods_back(xs, width) AS "
    "list_unique(list_transform(xs, lambda x: floor((x - 1) / width)))",
)

#: the columns of :meth:`DuckDBEngine.json_entries`
_ENTRIES = {"key": "string", "value": "string"}

# whether a column is a table's primary key (a workspace's customers are keyed by id)
_KEYED_SQL = """
SELECT 1 FROM duckdb_constraints()
WHERE database_name = current_database() AND schema_name = current_schema()
  AND table_name = ? AND constraint_type = 'PRIMARY KEY' AND constraint_column_names = [?]
"""


@ibis.udf.scalar.builtin(name="epoch")
def _epoch(ts: dt.timestamp) -> dt.float64:
    """Seconds since 1970, fractions kept (Ibis types its ``epoch_seconds`` as an integer)."""


@ibis.udf.scalar.builtin(name="hash")
def _hash(value: dt.string) -> dt.uint64:
    """64-bit hash (Ibis's own ``hash()`` converts the result through a bit string)."""


@ibis.udf.scalar.builtin(name="list_unique")
def _count_unique(values: dt.Array(dt.uint64)) -> dt.uint64:
    """Number of distinct non-NULL elements."""


@ibis.udf.scalar.builtin(name="list_distinct")
def _distinct(values: dt.Array(dt.int64)) -> dt.Array(dt.int64):
    """The distinct non-NULL elements (Ibis's ``unique()`` adds a lambda for NULLs)."""


@ibis.udf.scalar.builtin(name="list_inner_product")
def _inner_product(left: dt.Array(dt.float64), right: dt.Array(dt.float64)) -> dt.float64:
    """Sum of the element-wise products."""


@ibis.udf.scalar.builtin(name="segmint_shifted_doubles")
def _shifted_doubles(values: dt.Array(dt.int64), bits: dt.int64) -> dt.Array(dt.float64):
    """Each element shifted right, as DOUBLE."""


@ibis.udf.scalar.builtin(name="segmint_sorted_unique")
def _sorted_unique(values: dt.Array(dt.float64)) -> dt.int64:
    """Number of distinct elements of a sorted list."""


@ibis.udf.scalar.builtin(name="segmint_count_at_most")
def _count_at_most(values: dt.Array(dt.float64), limit: dt.float64) -> dt.int64:
    """Number of distinct elements at most a limit."""


@ibis.udf.scalar.builtin(name="segmint_count_periods_back")
def _count_periods_back(values: dt.Array(dt.float64), width: dt.float64) -> dt.int64:
    """Number of distinct floor((x - 1) / width) over the elements."""


@ibis.udf.agg.builtin(name="bitstring_agg")
def _bitmap(position: dt.int64, lowest: dt.int64, highest: dt.int64) -> dt.binary:
    """Bit string with the bit of each position present set (bounds must be constants)."""


@ibis.udf.scalar.builtin(name="bit_count")
def _bit_count(bits: dt.binary) -> dt.int64:
    """Number of set bits."""


@ibis.udf.scalar.builtin(name="json_extract_string")
def _json_string(value: dt.JSON, path: dt.string) -> dt.string:
    """A JSON value as text: a string unquoted, a number or boolean as written."""


class DuckDBEngine(Engine):
    """The default engine: a DuckDB connection (a workspace's, or any holding the tables).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Wrapped as it is (no copy, same session and transaction).
    """

    name = "duckdb"
    bitmaps = True

    def __init__(self, con) -> None:
        self.con = con
        self.backend = ibis.duckdb.from_connection(con)

    def prepare(self) -> None:
        # temporary: they live in this connection only and never touch the workspace file
        for macro in _MACROS:
            self.con.execute(f"CREATE OR REPLACE TEMP MACRO {macro}")

    def memory_limit(self) -> int:
        # per-customer lists do not spill to disk, so callers size their work to this
        ((text,),) = self.con.execute("SELECT current_setting('memory_limit')").fetchall()
        number, unit = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text).groups()
        return int(float(number) * _UNITS[unit.lower()])

    def is_keyed(self, table: str, column: str) -> bool:
        return bool(self.con.execute(_KEYED_SQL, [table, column]).fetchall())

    def epoch_seconds(self, ts):
        return _epoch(ts)

    def hash64(self, value):
        return _hash(value)

    def hash_bits(self, value, bits: int):
        return (_hash(value) >> (64 - bits)).cast("int64")

    def collect(self, value, where):
        # include_null: the value is never NULL; Ibis would otherwise add a second filter
        return value.collect(where=where, include_null=True)

    def distinct(self, values):
        return _distinct(values)

    def count_unique(self, values):
        return _count_unique(values)

    def sorted_unique(self, values):
        return _sorted_unique(values)

    def inner_product(self, left, right):
        return _inner_product(left, right)

    def shifted_doubles(self, values, bits: int):
        return _shifted_doubles(values, bits)

    def count_at_most(self, values, limit: float):
        return _count_at_most(values, float(limit))

    def count_periods_back(self, days, width: float):
        return _count_periods_back(days, float(width))

    def is_json(self, value) -> bool:
        return value.type().is_json()

    def json_entries(self, table: str, column: str) -> ir.Table:
        # json_each reads each object once for all its keys; the schema is given because
        # Ibis 12 infers it with a method DuckDB 2 removed
        return self.backend.sql(
            f"SELECT e.key AS key, e.value ->> '$' AS value "
            f'FROM "{table}" AS t, json_each(t."{column}") AS e',
            schema=_ENTRIES,
        )

    def json_text(self, value: ir.JSONValue, key: str) -> ir.StringValue:
        item = value[key] if _PLAIN_KEY.match(key) else value.map[key]
        return _json_string(item, "$")

    def bitmap(self, position, n: int):
        return _bitmap(position, 0, max(n, 2) - 1)

    def bit_count(self, bits):
        return _bit_count(bits)
