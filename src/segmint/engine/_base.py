"""The engine interface: what the feature queries need beyond Ibis's portable operations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import ibis.common.exceptions as ibis_exc
import ibis.expr.types as ir
import pyarrow as pa


class Engine(ABC):
    """Where feature queries run: an Ibis backend plus the engine's own versions of the few
    functions that Ibis does not compile the same way on every engine.

    A feature is written once, as an Ibis expression that calls these methods where it needs
    them; each method returns an Ibis expression (nothing runs until a result is fetched).

    Attributes
    ----------
    name : str
        ``"duckdb"`` or ``"spark"``.
    backend : ibis backend
        The Ibis backend over the engine's session, where the canonical tables
        (``transactions``, ``customers``) are found by name.
    bitmaps : bool
        Whether :meth:`bitmap` and :meth:`bit_count` exist (a faster way to count a
        customer's distinct products).
    """

    name: ClassVar[str]
    bitmaps: ClassVar[bool] = False
    backend: object

    def prepare(self) -> None:  # noqa: B027  (most engines need nothing)
        """Define the temporary functions the feature queries call (in this session only)."""

    def table(self, name: str) -> ir.Table | None:
        """The named table, or None when it does not exist.

        ``backend.list_tables()`` is avoided on purpose: with ibis 12.0.0 on duckdb 2.0 it
        calls ``DuckDBPyConnection.fetch_arrow_table``, which duckdb 2.0 removed.
        """
        try:
            return self.backend.table(name)
        except ibis_exc.TableNotFound:
            return None

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        """Run ``expr`` and return its rows."""
        return expr.to_pyarrow()

    @abstractmethod
    def memory_limit(self) -> int | None:
        """Bytes a query may take, or None when the engine spills whatever it holds."""

    @abstractmethod
    def is_keyed(self, table: str, column: str) -> bool:
        """Whether ``column`` is ``table``'s primary key (unique, so no need to group by it)."""

    @abstractmethod
    def epoch_seconds(self, ts: ir.TimestampValue) -> ir.FloatingValue:
        """Seconds since 1970 (fractions of a second kept)."""

    @abstractmethod
    def hash64(self, value: ir.StringValue) -> ir.IntegerValue:
        """A 64-bit hash, never NULL (in the engine's own type: uint64 or int64)."""

    @abstractmethod
    def hash_bits(self, value: ir.StringValue, bits: int) -> ir.IntegerValue:
        """The top ``bits`` bits of :meth:`hash64`, as a non-negative int64."""

    @abstractmethod
    def collect(self, value: ir.Value, where: ir.BooleanValue) -> ir.ArrayValue:
        """The values of the rows where ``where`` holds, as a list (``value`` is never NULL)."""

    @abstractmethod
    def distinct(self, values: ir.ArrayValue) -> ir.ArrayValue:
        """The distinct elements of a list (in any order)."""

    @abstractmethod
    def count_unique(self, values: ir.ArrayValue) -> ir.IntegerValue:
        """The number of distinct elements of a list."""

    @abstractmethod
    def sorted_unique(self, values: ir.ArrayValue) -> ir.IntegerValue:
        """The number of distinct elements of a sorted list."""

    @abstractmethod
    def inner_product(self, left: ir.ArrayValue, right: ir.ArrayValue) -> ir.FloatingValue:
        """Sum of the element-wise products of two float lists of one length."""

    @abstractmethod
    def shifted_doubles(self, values: ir.ArrayValue, bits: int) -> ir.ArrayValue:
        """Each int64 element shifted right by ``bits``, as float64."""

    @abstractmethod
    def count_at_most(self, values: ir.ArrayValue, limit: float) -> ir.IntegerValue:
        """The number of distinct elements of a float list that are at most ``limit``."""

    @abstractmethod
    def count_periods_back(self, days: ir.ArrayValue, width: float) -> ir.IntegerValue:
        """The number of distinct periods of ``width`` days that a float list of days back
        falls in, counted back (``floor((days - 1) / width)``: 1 to ``width`` days back is
        the first)."""

    @abstractmethod
    def is_json(self, value: ir.Value) -> bool:
        """Whether a column holds JSON objects (in the type this engine keeps them in)."""

    @abstractmethod
    def json_entries(self, table: str, column: str) -> ir.Table:
        """Every key of the JSON objects in ``table.column``, one row per object and key:
        columns ``key`` and ``value`` (the value as :meth:`json_text` gives it)."""

    @abstractmethod
    def json_text(self, value: ir.Value, key: str) -> ir.StringValue:
        """One key's value of a JSON object as text: a string unquoted, a number or boolean
        as written, NULL when absent or null."""

    def bitmap(self, position: ir.IntegerValue, n: int) -> ir.Value:
        """Aggregate: a bit string of ``n`` bits with the bit at each position present set."""
        raise NotImplementedError(f"no bitmaps on {self.name}")

    def bit_count(self, bits: ir.Value) -> ir.IntegerValue:
        """The number of set bits of a bit string."""
        raise NotImplementedError(f"no bitmaps on {self.name}")
