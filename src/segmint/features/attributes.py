"""Customer attribute features from the ``customers.attributes`` JSON object.

Numbers (and booleans, as 0/1) become ``attr_<key>``; a string attribute with only a few distinct
values becomes one 0/1 column per value, ``attr_<key>_<value>``. Everything else (free text, ids,
nested objects, arrays) is left out, because a clustering on it would be meaningless.
"""

from __future__ import annotations

import re

import ibis.expr.types as ir
import pyarrow as pa

from segmint.features._backend import backend_for, table_or_none
from segmint.features.labels import slugify

__all__ = ["attribute_features", "customer_countries"]

#: a key that can be used in a plain JSON path (``$.key``); others go through a MAP lookup,
#: which is slower but safe for keys holding dots, quotes or spaces.
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_DISCOVER_SQL = """
SELECT e.key, e.type, count(*) AS n
FROM customers AS c, json_each(c.attributes) AS e
GROUP BY 1, 2
ORDER BY 1, 2
"""

# distinct values are counted only for the string keys, and only up to one past the limit
# (a distinct count over every value of every key costs most of the discovery)
_VALUES_SQL = """
SELECT v FROM (
    SELECT DISTINCT e.value ->> '$' AS v
    FROM customers AS c, json_each(c.attributes) AS e
    WHERE e.key = ? AND e.type = 'VARCHAR'
)
ORDER BY v
LIMIT ?
"""

# whether customer_id is the customers table's primary key (it is in a workspace)
_KEYED_SQL = """
SELECT 1 FROM duckdb_constraints()
WHERE database_name = current_database() AND schema_name = current_schema()
  AND table_name = 'customers' AND constraint_type = 'PRIMARY KEY'
  AND constraint_column_names = ['customer_id']
"""


def _json_item(attributes: ir.JSONValue, key: str) -> ir.JSONValue:
    if _PLAIN_KEY.match(key):
        return attributes[key]
    return attributes.map[key]


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}_{i}", i + 1
    taken.add(candidate)
    return candidate


def attribute_features(backend, *, max_levels: int = 5, taken: set[str] | None = None):
    """Build an Ibis table of numeric attribute features, one row per customer.

    Parameters
    ----------
    backend : ibis DuckDB backend
        Backend holding a ``customers`` table.
    max_levels : int, default=5
        A string attribute with at most this many distinct values is one-hot encoded; one with
        more is left out.
    taken : set of str, optional
        Column names already in use; new names avoid them (and are added to the set).

    Returns
    -------
    ibis.Table or None
        ``customer_id`` plus ``attr_*`` float columns, or None when there is no ``customers``
        table, no ``attributes`` column or no usable attribute.

    Notes
    -----
    Key discovery runs one DuckDB query over ``customers`` (``json_each``: key, JSON type,
    counts) and, per string key, one for its distinct values (at most ``max_levels + 1`` are
    read); a Spark engine needs its own version of these two queries. The values themselves
    stay in the engine as Ibis expressions. A key is numeric when at least as many customers
    hold a number or boolean for it as hold a string; strings are then ignored (NULL).
    Booleans become 0/1. A missing numeric attribute stays NULL (imputing is the segmentation
    step's job); a missing categorical attribute gives 0 in every one-hot column.
    """
    taken = set() if taken is None else taken
    customers = table_or_none(backend, "customers")
    if customers is None:
        return None
    if "attributes" not in customers.columns or not customers["attributes"].type().is_json():
        return None
    attrs = customers["attributes"]

    # Discovery reads only key names, JSON types and counts, with one fixed query (no user
    # values in the SQL); the feature values themselves are Ibis expressions below.
    stats = backend.con.execute(_DISCOVER_SQL).fetchall()
    by_key: dict[str, dict[str, int]] = {}
    for key, json_type, n in stats:
        by_key.setdefault(key, {})[json_type] = n

    columns = {}
    for key, types in by_key.items():
        n_num = sum(types.get(t, 0) for t in ("BIGINT", "UBIGINT", "DOUBLE"))
        n_bool = types.get("BOOLEAN", 0)
        n_str = types.get("VARCHAR", 0)
        item = _json_item(attrs, key)
        if n_num + n_bool > 0 and n_num + n_bool >= n_str:
            name = _unique_name("attr_" + slugify(key), taken)
            columns[name] = item.bool.cast("float64") if n_bool > n_num else item.float
        elif n_str > 0:
            values = backend.con.execute(_VALUES_SQL, [key, max_levels + 1]).fetchall()
            if len(values) > max_levels:
                continue
            for (value,) in values:
                name = _unique_name(f"attr_{slugify(key)}_{slugify(value)}", taken)
                columns[name] = (item.str == value).fill_null(False).cast("float64")
    if not columns:
        return None
    wide = customers.select(customers["customer_id"], **columns)
    if backend.con.execute(_KEYED_SQL).fetchall():
        return wide
    # Without the workspace's primary key, repeated ids would duplicate feature rows in the join.
    return wide.group_by("customer_id").aggregate(**{name: wide[name].max() for name in columns})


def customer_countries(con) -> pa.Table:
    """Return each customer's country (kept out of the numeric features on purpose).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding a ``customers`` table.

    Returns
    -------
    pyarrow.Table
        Columns ``customer_id`` and ``country``; empty when there is no ``customers`` table.
    """
    customers = table_or_none(backend_for(con), "customers")
    if customers is None:
        empty = pa.array([], pa.string())
        return pa.table({"customer_id": empty, "country": empty})
    return customers.select("customer_id", "country").order_by("customer_id").to_pyarrow()
