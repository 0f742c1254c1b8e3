"""Customer attribute features from the ``customers.attributes`` JSON object.

Numbers (and booleans, as 0/1) become ``attr_<key>``; a string attribute with only a few distinct
values becomes one 0/1 column per value, ``attr_<key>_<value>``. Everything else (free text, ids,
nested objects, arrays) is left out, because a clustering on it would be meaningless.
"""

from __future__ import annotations

import re

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from segmint.features._backend import backend_for, table_or_none
from segmint.features.labels import slugify

__all__ = ["attribute_features", "customer_countries"]

#: a key that can be used in a plain JSON path (``$.key``); others go through a MAP lookup,
#: which is slower but safe for keys holding dots, quotes or spaces.
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    Key discovery runs two small queries over ``customers`` (keys, then per-key type counts);
    the values themselves stay in the engine. A key is numeric when at least as many customers
    hold a number or boolean for it as hold a string; strings are then ignored (NULL). A missing
    numeric attribute stays NULL (imputing is the segmentation step's job); a missing categorical
    attribute gives 0 in every one-hot column.
    """
    taken = set() if taken is None else taken
    customers = table_or_none(backend, "customers")
    if customers is None:
        return None
    if "attributes" not in customers.columns or not customers["attributes"].type().is_json():
        return None
    attrs = customers["attributes"]

    keys_expr = customers.select(key=attrs.map.keys().unnest()).distinct().order_by("key")
    keys = [k for k in keys_expr.to_pyarrow()["key"].to_pylist() if k is not None]
    if not keys:
        return None

    # One aggregate query counts, for every key, how many customers hold a number, a boolean or
    # a string, and how many distinct strings there are.
    stats = {}
    for i, key in enumerate(keys):
        item = _json_item(attrs, key)
        stats[f"n{i}"] = item.float.count()
        stats[f"b{i}"] = item.bool.count()
        stats[f"s{i}"] = item.str.count()
        stats[f"u{i}"] = item.str.nunique()
    counts = customers.aggregate(**stats).to_pyarrow().to_pylist()[0]

    columns = {}
    for i, key in enumerate(keys):
        item = _json_item(attrs, key)
        n_num, n_bool, n_str = counts[f"n{i}"], counts[f"b{i}"], counts[f"s{i}"]
        if n_num + n_bool > 0 and n_num + n_bool >= n_str:
            name = _unique_name("attr_" + slugify(key), taken)
            if n_bool > n_num:
                columns[name] = item.bool.cast("float64")
            else:
                columns[name] = item.float
        elif n_str > 0 and counts[f"u{i}"] <= max_levels:
            values_expr = (
                customers.select(v=item.str).filter(ibis._.v.notnull()).distinct().order_by("v")
            )
            for value in values_expr.to_pyarrow()["v"].to_pylist():
                name = _unique_name(f"attr_{slugify(key)}_{slugify(value)}", taken)
                columns[name] = (item.str == value).fill_null(False).cast("float64")
    if not columns:
        return None
    # Aggregating by customer guards against a customers table with repeated ids, which would
    # otherwise duplicate feature rows in the join.
    wide = customers.select(customers["customer_id"], **columns)
    return wide.group_by("customer_id").aggregate(
        **{name: wide[name].max() for name in columns}
    )


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
