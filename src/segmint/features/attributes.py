"""Customer attribute features from the ``customers.attributes`` JSON object.

Each attribute key is typed from its values, whatever their JSON type (a CSV file's numbers
often arrive as text, with blanks):

- **numeric** when most of its given values read as numbers (the rest become missing):
  ``attr_<key>``;
- **binary** when it takes two values such as Yes/No, true/false or 0/1: one 0/1 column
  ``attr_<key>``;
- **categorical** when it is text with at most ``max_levels`` distinct values, or whole
  numbers with at most that many (codes such as a region 1, 2, 3): one 0/1 column per value,
  ``attr_<key>__<value>`` (the double underscore separates key and value; see
  :func:`attribute_groups`);
- left out when it is empty, constant, id-like (text with a distinct value on every row, or
  consecutive whole numbers) or free text with too many values, because clustering on it
  would be meaningless.

Keys are slugged with camel case split ("TotalCharges" -> ``total_charges``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from segmint.engine import Engine, engine_for
from segmint.errors import DataValidationError
from segmint.features.labels import INDICATOR_SEPARATOR, slugify

__all__ = [
    "OUTCOME_WORDS",
    "AttributeKind",
    "attribute_column",
    "attribute_features",
    "attribute_groups",
    "attribute_kinds",
    "classify_attribute",
    "customer_attributes",
    "customer_countries",
    "is_outcome",
    "money_columns",
]

_TRUE = frozenset({"yes", "true", "y", "1"})
_FALSE = frozenset({"no", "false", "n", "0"})


@ibis.udf.scalar.builtin(name="trim")
def _trim(value: dt.string) -> dt.string:
    """Spaces removed from both ends, on DuckDB and Spark alike (Ibis's ``strip()`` passes a
    character set, which makes DuckDB's trim twice as slow)."""


@dataclass(frozen=True)
class AttributeKind:
    """How one attribute key is used: ``kind`` is "numeric", "binary", "categorical" or
    "dropped"; ``values`` the categories (categorical), ``reason`` why it was dropped."""

    kind: str
    values: tuple[str, ...] = ()
    reason: str = ""


def classify_attribute(
    n: int,
    n_numbers: int,
    n_distinct: int,
    whole: bool,
    low: float | None,
    high: float | None,
    values: list[str] | None,
    *,
    max_levels: int = 5,
) -> AttributeKind:
    """Decide how an attribute key is encoded from counts over its given values.

    Parameters
    ----------
    n : int
        Customers with a non-blank value.
    n_numbers : int
        Of those, the values that read as numbers.
    n_distinct : int
        Distinct values.
    whole : bool
        Whether every number is a whole number.
    low, high : float or None
        Smallest and largest number.
    values : list of str or None
        The distinct values when there are at most ``max_levels`` (else None).
    max_levels : int, default=5

    Examples
    --------
    >>> classify_attribute(100, 0, 2, False, None, None, ["No", "Yes"]).kind
    'binary'
    >>> classify_attribute(100, 100, 3, True, 1, 3, ["1", "2", "3"]).kind
    'categorical'
    >>> classify_attribute(100, 98, 90, False, 0.5, 99.0, None).kind
    'numeric'
    >>> classify_attribute(100, 100, 100, True, 1, 100, None).reason
    'id-like (consecutive whole numbers)'
    """
    if n == 0:
        return AttributeKind("dropped", reason="empty")
    if n_distinct == 1:
        return AttributeKind("dropped", reason="constant")
    lowered = {v.lower() for v in values or ()}
    if n_distinct == 2 and lowered <= _TRUE | _FALSE and lowered & _TRUE and lowered & _FALSE:
        return AttributeKind("binary")
    numeric = 2 * n_numbers >= n
    if numeric and whole and values is not None:
        return AttributeKind("categorical", tuple(values))
    if numeric and whole and n_distinct == n and high - low + 1 == n and n > max_levels:
        return AttributeKind("dropped", reason="id-like (consecutive whole numbers)")
    if numeric:
        return AttributeKind("numeric")
    if values is not None:
        return AttributeKind("categorical", tuple(values))
    if n_distinct == n:
        return AttributeKind("dropped", reason="id-like (a different value on every row)")
    return AttributeKind("dropped", reason=f"more than {max_levels} distinct values")


def _key_slug(key: str) -> str:
    # camel case split first: "TotalCharges" -> "total_charges", "customerID" -> "customer_id"
    return slugify(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key))


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}_{i}", i + 1
    taken.add(candidate)
    return candidate


def _attributes(engine: Engine) -> tuple[ir.Table, ir.Value] | None:
    """The customers table and its JSON ``attributes`` column, when there are both."""
    customers = engine.table("customers")
    if customers is None or "attributes" not in customers.columns:
        return None
    attrs = customers["attributes"]
    return (customers, attrs) if engine.is_json(attrs) else None


def _texts(engine: Engine, attrs: ir.Value, keys: list[str]) -> dict[str, ir.StringValue]:
    """Each key's value as trimmed text whatever its JSON type, NULL when blank."""
    return {key: _trim(engine.json_text(attrs, key)).nullif("") for key in keys}


def attribute_kinds(con, *, max_levels: int = 5) -> dict[str, AttributeKind]:
    """Every attribute key of the ``customers`` table and how it is used (see
    :func:`classify_attribute`), in key order: one pass over all keys, then one query for the
    values of each key with few."""
    engine = engine_for(con)
    if _attributes(engine) is None:
        return {}
    # every key's values as trimmed text whatever their JSON type (a key whose values are all
    # null or blank still appears, with n = 0)
    entries = engine.json_entries("customers", "attributes")
    entries = entries.select("key", v=_trim(entries["value"]).nullif(""))
    entries = entries.mutate(x=entries["v"].try_cast("float64"))
    v, x = entries["v"], entries["x"]
    stats = entries.group_by("key").aggregate(
        n=v.count(),
        n_numbers=x.count(),
        n_distinct=v.nunique(),
        whole=(x % 1.0 == 0.0).all(),
        low=x.min(),
        high=x.max(),
    )
    kinds = {}
    for row in stats.order_by("key").to_pyarrow().to_pylist():
        values = None
        if row["n_distinct"] <= max_levels:
            given = entries.filter(entries["key"] == row["key"], v.notnull()).select("v")
            few = given.distinct().order_by("v").limit(max_levels + 1)
            values = few.to_pyarrow().column("v").to_pylist()
        kinds[row["key"]] = classify_attribute(
            row["n"],
            row["n_numbers"],
            row["n_distinct"],
            bool(row["whole"]),
            row["low"],
            row["high"],
            values,
            max_levels=max_levels,
        )
    return kinds


def attribute_features(con, *, max_levels: int = 5, taken: set[str] | None = None):
    """Build an Ibis table of numeric attribute features, one row per customer.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection, SparkSession or Engine
        Holding a ``customers`` table.
    max_levels : int, default=5
        A text attribute (or one of whole-number codes) with at most this many distinct values
        is one-hot encoded; text with more is left out.
    taken : set of str, optional
        Column names already in use; new names avoid them (and are added to the set).

    Returns
    -------
    ibis.Table or None
        ``customer_id`` plus ``attr_*`` float columns, or None when there is no ``customers``
        table, no ``attributes`` column or no usable attribute.

    Notes
    -----
    Typing (:func:`attribute_kinds`) runs a query for the keys, one pass over ``customers``
    for counts per key, and one query per key with few values (at most ``max_levels + 1`` are
    read). The values themselves stay in the engine as Ibis expressions. A missing numeric
    or binary attribute stays NULL (imputing is the segmentation step's job); a missing
    categorical attribute gives 0 in every one-hot column.
    """
    taken = set() if taken is None else taken
    engine = engine_for(con)
    found = _attributes(engine)
    if found is None:
        return None
    customers, attrs = found
    kinds = attribute_kinds(engine, max_levels=max_levels)
    texts = _texts(engine, attrs, list(kinds))
    columns = {}
    for key, kind in kinds.items():
        text = texts[key]
        slug = "attr_" + _key_slug(key)
        if kind.kind == "numeric":
            columns[_unique_name(slug, taken)] = text.try_cast("float64")
        elif kind.kind == "binary":
            lowered = text.lower()
            columns[_unique_name(slug, taken)] = ibis.cases(
                (lowered.isin(list(_TRUE)), 1.0), (lowered.isin(list(_FALSE)), 0.0)
            )
        elif kind.kind == "categorical":
            for value in kind.values:
                name = _unique_name(f"{slug}{INDICATOR_SEPARATOR}{slugify(value)}", taken)
                columns[name] = (text == value).fill_null(False).cast("float64")
    if not columns:
        return None
    wide = customers.select(customers["customer_id"], **columns)
    if engine.is_keyed("customers", "customer_id"):
        return wide
    # Without the workspace's primary key, repeated ids would duplicate feature rows in the join.
    return wide.group_by("customer_id").aggregate(**{name: wide[name].max() for name in columns})


def attribute_groups(columns) -> dict[str, str]:
    """The one-hot columns of each categorical attribute: column -> its attribute.

    Used to weigh a categorical attribute as one feature when clustering (see
    :class:`segmint.segment.FeatureScaler`'s ``groups``).

    Examples
    --------
    >>> attribute_groups(["attr_age", "attr_plan__gold", "attr_plan__basic"])
    {'attr_plan__gold': 'attr_plan', 'attr_plan__basic': 'attr_plan'}
    """
    return {
        c: c.split(INDICATOR_SEPARATOR)[0]
        for c in columns
        if c.startswith("attr_") and INDICATOR_SEPARATOR in c
    }


#: words in an attribute's name that mark money (the customer's value)
_MONEY_WORDS = frozenset(
    "charge charges spend spending spent revenue sales amount value monetary income "
    "balance fee fees turnover purchases".split()
)
#: words that mark a money total, preferred over a rate ("total charges" over "monthly")
_TOTAL_WORDS = frozenset({"total", "lifetime", "annual", "yearly"})
#: words in an attribute's name that mark an outcome (described, never a defining feature)
OUTCOME_WORDS = frozenset({"churn", "churned", "attrition", "exited", "outcome", "target"})


def attribute_column(key: str) -> str:
    """The feature column of a numeric or binary attribute key ("TotalCharges" ->
    ``attr_total_charges``)."""
    return "attr_" + _key_slug(key)


def money_columns(columns) -> list[str]:
    """Numeric attribute columns whose names say money, totals first.

    Examples
    --------
    >>> money_columns(["attr_tenure", "attr_monthly_charges", "attr_total_charges"])
    ['attr_total_charges', 'attr_monthly_charges']
    """
    words = {
        c: set(c.removeprefix("attr_").split("_"))
        for c in columns
        if c.startswith("attr_") and INDICATOR_SEPARATOR not in c
    }
    money = [c for c, w in words.items() if w & _MONEY_WORDS]
    return sorted(money, key=lambda c: not words[c] & _TOTAL_WORDS)


def is_outcome(column: str) -> bool:
    """Whether an attribute column is an outcome such as churn, by its name.

    Examples
    --------
    >>> is_outcome("attr_churn"), is_outcome("attr_churn__yes"), is_outcome("attr_tenure")
    (True, True, False)
    """
    key = column.removeprefix("attr_").split(INDICATOR_SEPARATOR)[0]
    return column.startswith("attr_") and bool(set(key.split("_")) & OUTCOME_WORDS)


def customer_attributes(con, *, max_levels: int = 10, source: str = "customers") -> pa.Table:
    """Attribute features of every customer, for segmenting customers on attributes alone.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection, SparkSession or Engine
        Holding the workspace's ``customers`` table.
    max_levels : int, default=10
        See :func:`attribute_features`; higher than there, as the attributes are all there is.
    source : str, default="customers"
        Where the customers came from, for the error message.

    Returns
    -------
    pyarrow.Table
        ``customer_id`` and the ``attr_*`` columns, sorted by ``customer_id``.

    Raises
    ------
    DataValidationError
        When no attribute can be used (only an id column, or only empty, constant or id-like
        columns).
    """
    table = attribute_features(con, max_levels=max_levels)
    if table is None:
        dropped = {
            k: v.reason
            for k, v in attribute_kinds(con, max_levels=max_levels).items()
            if v.kind == "dropped"
        }
        found = "; ".join(f"{k!r} is {r}" for k, r in dropped.items()) or "only the customer id"
        raise DataValidationError(
            "no customer attribute to segment on: the customers have "
            f"{found}. Segmenting customers without transactions needs columns next to the "
            "customer id with numbers (e.g. age, spend) or a few categories (e.g. plan, region)",
            source=source,
        )
    return table.order_by("customer_id").to_pyarrow()


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
    customers = engine_for(con).table("customers")
    if customers is None:
        empty = pa.array([], pa.string())
        return pa.table({"customer_id": empty, "country": empty})
    return customers.select("customer_id", "country").order_by("customer_id").to_pyarrow()
