"""Apache Spark (PySpark 4.x): the same feature queries where the data lives, for scale-out.

The canonical tables are temporary views of the session, read from Parquet or CSV files,
directories or globs (:func:`read_tables`). PySpark is an optional dependency (the ``spark``
extra) and needs a Java 17 runtime; nothing here imports it until a session is asked for.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt

from segmint.engine._base import Engine
from segmint.errors import DataValidationError, SegmintError
from segmint.io.sniff import WHITESPACE, Dialect, sniff
from segmint.io.text import sample_text
from segmint.io.validate import DATE_FORMATS
from segmint.schema import SOURCE_TABLES, Preset, SourceTable, get_preset

#: how to get what Spark needs, for the error messages
_INSTALL_PYSPARK = "pip install 'segmint[spark]'"
_INSTALL_JAVA = "apt-get install openjdk-17-jre-headless (Debian; .ci/run does this)"

#: the canonical transaction columns a file must have under these names on Spark (column
#: mappings and presets are applied by the DuckDB ingest only, for now)
_REQUIRED = ("customer_id", "ts")
_TEXT = ("product_id", "description", "category", "channel")
_NUMBERS = ("quantity", "unit_price", "amount")
_CUSTOMER_FIELDS = ("customer_id", "first_seen", "country")
#: Spark's integer and floating types (``df.dtypes`` names): read as they are, not as text
_INTEGERS = {"tinyint", "smallint", "int", "bigint"}
_NUMBER_TYPES = _INTEGERS | {"float", "double"}


class EngineError(SegmintError):
    """An engine cannot be started, or cannot run what was asked of it."""


@ibis.udf.scalar.builtin(name="xxhash64")
def _hash(value: dt.string) -> dt.int64:
    """64-bit xxHash (signed)."""


@ibis.udf.scalar.builtin(name="shiftrightunsigned")
def _shift_right_unsigned(value: dt.int64, bits: dt.int32) -> dt.int64:
    """Logical (unsigned) right shift."""


@ibis.udf.scalar.builtin(name="unix_micros")
def _unix_micros(ts: dt.timestamp) -> dt.int64:
    """Microseconds since 1970."""


@ibis.udf.scalar.builtin(name="from_json")
def _json_map(value: dt.string, schema: dt.string) -> dt.Map(dt.string, dt.string):
    """A JSON object as a map of its values' text."""


@ibis.udf.scalar.builtin(name="try_element_at")
def _map_get(value: dt.Map(dt.string, dt.string), key: dt.string) -> dt.string:
    """One key's value, NULL when absent."""


@ibis.udf.scalar.builtin(name="segmint_inner_product")
def _inner_product(left: dt.Array(dt.float64), right: dt.Array(dt.float64)) -> dt.float64:
    """Sum of the element-wise products (a temporary SQL function)."""


_FUNCTIONS = (
    "segmint_inner_product(a ARRAY<DOUBLE>, b ARRAY<DOUBLE>) RETURNS DOUBLE "
    "RETURN aggregate(zip_with(a, b, (x, y) -> x * y), 0D, (s, v) -> s + v)",
)


class SparkEngine(Engine):
    """Spark: a SparkSession whose catalog holds the canonical tables (see :func:`read_tables`).

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        For example from :func:`spark_session`.
    """

    name = "spark"

    def __init__(self, session) -> None:
        self.session = session
        self.backend = ibis.pyspark.connect(session)

    def prepare(self) -> None:
        for function in _FUNCTIONS:
            self.session.sql(f"CREATE OR REPLACE TEMPORARY FUNCTION {function}")

    def dataframe(self, expr):
        """``expr`` as a Spark DataFrame, not run (to be written where the data lives)."""
        # the hooks register the expression's in-memory tables with the session
        self.backend._run_pre_execute_hooks(expr)
        return self.session.sql(self.backend.compile(expr))

    def to_arrow(self, expr):
        # Spark's own Arrow export: Ibis 12's to_pyarrow goes through pandas (slower, and
        # NaN for NULL on the way)
        return self.dataframe(expr).toArrow().cast(expr.schema().to_pyarrow())

    def memory_limit(self) -> None:
        return None  # Spark spills aggregation state to disk

    def is_keyed(self, table: str, column: str) -> bool:
        return False  # Spark tables have no key constraints

    def epoch_seconds(self, ts):
        # Ibis's epoch_seconds is Spark's unix_timestamp, which drops fractions of a second.
        # A DOUBLE before dividing: Spark reads Ibis's float literals (1000000.0) as DECIMAL,
        # and a decimal quotient is rounded otherwise than DuckDB's double one
        return _unix_micros(ts).cast("float64") / 1e6

    def hash64(self, value):
        return _hash(value)

    def hash_bits(self, value, bits: int):
        return _shift_right_unsigned(_hash(value), 64 - bits)

    def collect(self, value, where):
        return value.collect(where=where)

    def distinct(self, values):
        return values.unique()

    def count_unique(self, values):
        return values.unique().length()

    def sorted_unique(self, values):
        return values.unique().length()

    def inner_product(self, left, right):
        return _inner_product(left, right)

    def shifted_doubles(self, values, bits: int):
        return values.map(lambda x: (x >> bits).cast("float64"))

    def count_at_most(self, values, limit: float):
        return values.filter(lambda x: x <= float(limit)).unique().length()

    def count_periods_back(self, days, width: float):
        return days.map(lambda x: ((x - 1.0) / float(width)).floor()).unique().length()

    def is_json(self, value) -> bool:
        return value.type().is_string()  # JSON objects as text (see read_tables)

    def json_entries(self, table: str, column: str):
        return self.backend.sql(
            f"SELECT e.key AS key, e.value AS value FROM `{table}` "
            f"LATERAL VIEW explode(from_json(`{column}`, 'map<string,string>')) e AS key, value",
            schema={"key": "string", "value": "string"},
        )

    def json_text(self, value, key: str):
        # a map lookup, not a JSON path: any key works, quotes and brackets included
        return _map_get(_json_map(value, "map<string,string>"), key)


def spark_session(
    master: str = "local[2]",
    *,
    driver_memory: str = "4g",
    shuffle_partitions: int | None = None,
    app_name: str = "segmint",
    config: dict[str, str] | None = None,
):
    """Create a SparkSession for segmint, or reuse the running one.

    Parameters
    ----------
    master : str, default="local[2]"
        ``local[N]`` / ``local[*]`` (in this process's JVM), ``spark://HOST:PORT`` (a
        standalone cluster), ``sc://HOST:PORT`` (a Spark Connect server: no JVM here) or any
        master URL Spark accepts.
    driver_memory : str, default="4g"
        The driver JVM's heap; in local mode the executors run inside it. Only takes effect
        when this call starts the JVM (not with Spark Connect).
    shuffle_partitions : int, optional
        Partitions after a shuffle. Default: twice the local threads in local mode (Spark's
        200 would make hundreds of tiny tasks), Spark's own default on a cluster.
    app_name : str, default="segmint"
    config : dict of str to str, optional
        Other Spark settings (they win over the ones above).

    Returns
    -------
    pyspark.sql.SparkSession
        With the session time zone set to UTC (workspace time), the web UI off, and this
        Python interpreter for the workers (``PYSPARK_PYTHON`` names another: on a cluster,
        one with segmint installed on every worker).

    Raises
    ------
    EngineError
        When PySpark, or a Java runtime (for a JVM of its own), is missing.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(f"the Spark engine needs PySpark: {_INSTALL_PYSPARK}") from None
    java_home = os.environ.get("JAVA_HOME")
    has_java = shutil.which("java") or (java_home and Path(java_home, "bin", "java").exists())
    if not has_java and not master.startswith("sc://"):
        raise EngineError(f"the Spark engine needs a Java 17 runtime: {_INSTALL_JAVA}")
    settings = {"spark.sql.session.timeZone": "UTC"}
    if master.startswith("sc://"):
        # Spark Connect: the server owns the JVM, its memory and its workers' Python
        builder = SparkSession.builder.remote(master).appName(app_name)
    else:
        if shuffle_partitions is None and master.startswith("local"):
            threads = re.fullmatch(r"local\[(\d+|\*)(,\d+)?\]", master)
            n = threads.group(1) if threads else "1"
            shuffle_partitions = 2 * ((os.cpu_count() or 1) if n == "*" else int(n))
        builder = SparkSession.builder.master(master).appName(app_name)
        settings |= {
            "spark.driver.memory": driver_memory,
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            # the workers run segmint's own assignment code: this interpreter's, unless told
            "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
        }
    if shuffle_partitions is not None:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    for key, value in (settings | (config or {})).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not master.startswith("sc://"):
        session.sparkContext.setLogLevel("ERROR")
    return session


def read_tables(
    session,
    transactions: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    customers: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    layout: Preset | None = None,
    delimiter: str | None = None,
    date_format: str | None = None,
    encoding: str = "utf-8",
    sources: dict[str, str | os.PathLike | Sequence[str | os.PathLike]] | None = None,
) -> SparkEngine:
    """Read files into the session as the canonical ``transactions`` (and ``customers``).

    Parameters
    ----------
    session : pyspark.sql.SparkSession
    transactions : path, glob or sequence of them
        Parquet or CSV files (by extension; a directory by the files in it) whose columns
        have the canonical names (:data:`segmint.schema.TRANSACTION_COLUMNS`); at least
        ``customer_id`` and ``ts``, and ``amount`` or ``unit_price``.
    customers : path, glob or sequence of them, optional
        ``customer_id``, optionally ``first_seen`` and ``country``; every other column becomes
        a key of the ``attributes`` JSON object, as the DuckDB ingest does.
    layout : Preset, optional
        The files' columns per canonical field and the layout's conventions (return order
        prefix, date format), as :func:`segmint.io.resolve_layout` gives them for ``--preset``
        and ``--map``; default: the canonical names.
    delimiter : str, optional
        Of CSV files: ``,`` ``;`` ``\t`` ``|`` or ``"whitespace"``; by default sniffed from the
        first lines of the first file, as the DuckDB ingest does, with the header line and the
        decimal comma.
    date_format : str, optional
        strptime format of text dates tried first (then the layout's and the usual ones).
    encoding : str, default="utf-8"
        Of CSV files.
    sources : dict, optional
        ``events``, ``messages`` and ``identities`` files (as for ``transactions``) with the
        canonical column names of :data:`segmint.schema.SOURCE_TABLES`, by table.

    Returns
    -------
    SparkEngine
        Over the session, with the temporary views ``transactions`` (and ``customers`` and
        the ``sources`` tables).

    Raises
    ------
    DataValidationError
        When a file is of an unknown format or lacks a required column.

    Notes
    -----
    Values are cleaned as the DuckDB ingest cleans them (ids and text trimmed, blanks NULL,
    numbers and times parsed, returns flagged and their amounts negative), and lines without
    a customer id or a readable time, or with an unreadable number, are left out, as are
    lines that do not split into the file's columns. A text file's layout (delimiter, header
    line, decimal comma) is sniffed as the DuckDB ingest sniffs it, from the first lines of
    the first file when the files are on this machine; files elsewhere (``s3://``,
    ``hdfs://``) are read as having a header line and the given delimiter (default ``,``).
    """
    layout = layout or get_preset("generic")
    formats = [_spark_pattern(f) for f in (date_format, layout.date_format, *DATE_FORMATS) if f]
    tx, decimal_comma = _read(session, transactions, delimiter, encoding, layout.names)
    _transactions(
        _mapped(tx, layout.transactions),
        source=str(transactions),
        layout=layout,
        formats=formats,
        decimal_comma=decimal_comma,
    ).createOrReplaceTempView("transactions")
    if customers is None:
        # no customers from an earlier read: the tables are the files given, as in a workspace
        session.catalog.dropTempView("customers")
    else:
        cu = _mapped(_read(session, customers, delimiter, encoding)[0], layout.customers)
        _customers(
            cu, source=str(customers), layout=layout, formats=formats
        ).createOrReplaceTempView("customers")
    for name, table in SOURCE_TABLES.items():
        if name in (sources or {}):
            rows = _read(session, sources[name], delimiter, encoding)[0]
            _source(
                rows, table, source=str(sources[name]), formats=formats
            ).createOrReplaceTempView(name)
        else:
            session.catalog.dropTempView(name)
    return SparkEngine(session)


def _paths(paths) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    return [os.fspath(p) for p in paths]


def _format(path: str) -> str:
    """``parquet`` or ``csv``, by the extension of the path or of the files in a directory."""
    names = [path]
    if os.path.isdir(path):
        names = [n for n in os.listdir(path) if not n.startswith(("_", "."))]
    # the format's extension, under a compression one (Spark reads .csv.gz as it is)
    suffixes = {Path(n.lower().removesuffix(".gz").removesuffix(".bz2")).suffix for n in names}
    for fmt, known in (("parquet", {".parquet", ".pq"}), ("csv", {".csv", ".txt"})):
        if suffixes and suffixes <= known:
            return fmt
    raise DataValidationError(
        "the Spark engine reads Parquet (.parquet) or CSV (.csv) files; "
        f"found {', '.join(sorted(suffixes)) or 'no files'}",
        source=path,
    )


def _read(session, paths, delimiter=None, encoding="utf-8", names: Sequence[str] = ()):
    """The files' rows (text files: every column as text) and whether their numbers are
    written with a decimal comma."""
    paths = _paths(paths)
    formats = {_format(p) for p in paths}
    if len(formats) > 1:
        raise DataValidationError("mixed Parquet and CSV files", source=", ".join(paths))
    if formats == {"parquet"}:
        return session.read.parquet(*paths), False
    dialect = _dialect(paths, delimiter, encoding, names)
    if dialect.delimiter == WHITESPACE:
        return _whitespace_columns(session, paths, dialect, encoding), dialect.decimal_comma
    # as text: ids keep their leading zeros; numbers and times are parsed below
    df = session.read.csv(
        paths, header=dialect.header, inferSchema=False, sep=dialect.delimiter, encoding=encoding
    )
    if not dialect.header and len(dialect.names) == len(df.columns):
        df = df.toDF(*dialect.names)
    return df, dialect.decimal_comma


def _dialect(paths: list[str], delimiter, encoding: str, names: Sequence[str]) -> Dialect:
    """How the text files are laid out, sniffed from the first file's first lines (files not
    on this machine: a header line and ``delimiter``, default ``,``)."""
    first = _first_local_file(paths)
    if first is None:
        return Dialect(delimiter or ",", True, ())
    try:
        sample = sample_text(Path(first), encoding)
    except LookupError:
        raise DataValidationError(f"unknown encoding {encoding!r}", source=first) from None
    return sniff(sample, delimiter=delimiter, names=names)


def _first_local_file(paths: list[str]) -> str | None:
    for path in paths:
        if "://" in path and not path.startswith("file://"):
            continue
        path = path.removeprefix("file://")
        found = sorted(
            glob.glob(os.path.join(path, "*")) if os.path.isdir(path) else glob.glob(path)
        )
        found = [f for f in found if os.path.isfile(f) and not Path(f).name.startswith(("_", "."))]
        if found:
            return found[0]
    return None


def _whitespace_columns(session, paths: list[str], dialect: Dialect, encoding: str):
    """Lines split on runs of spaces and tabs (leading ones ignored), as the DuckDB ingest
    splits them; header lines, blank lines and lines with another number of fields left out."""
    from pyspark.sql import functions as F

    if encoding.lower().replace("-", "").replace("_", "") not in ("utf8", "utf8sig", "ascii"):
        # Spark reads plain text as UTF-8 only
        raise DataValidationError(
            f"whitespace-delimited files in {encoding} are read by the DuckDB engine only",
            source=", ".join(paths),
        )
    width = len(dialect.names)
    lines = session.read.text(paths)
    fields = F.split(F.regexp_replace("value", r"^\s+|\s+$", ""), r"[ \t]+")
    rows = lines.select(fields.alias("fields")).filter(
        (F.size("fields") == width) & (F.col("fields")[0] != "")
    )
    if dialect.header:  # every file's first line, wherever it lands among the rows
        header = F.array(*(F.lit(name) for name in dialect.names))
        rows = rows.filter(F.col("fields") != header)
    return rows.select(*(F.col("fields")[i].alias(name) for i, name in enumerate(dialect.names)))


def _mapped(df, fields: dict[str, str]):
    """The columns named by the layout (``field -> column``, matched without regard to case)
    under their field names; the other columns as they are."""
    by_lower = {c.lower(): c for c in df.columns}
    renamed = {
        by_lower[column.lower()]: field
        for field, column in fields.items()
        if column.lower() in by_lower
    }
    taken = set(renamed.values())
    keep = [c for c in df.columns if c in renamed or c not in taken]
    return df.select(*(df[c].alias(renamed.get(c, c)) for c in keep))


#: strptime directives and the Spark datetime pattern letters that read the same text (single
#: letters: Spark then takes one or two digits, as strptime does)
_PATTERN = {
    "%Y": "yyyy",
    "%y": "yy",
    "%m": "M",
    "%d": "d",
    "%H": "H",
    "%I": "h",
    "%M": "m",
    "%S": "s",
    "%f": "SSSSSS",
    "%p": "a",
    "%b": "MMM",
    "%B": "MMMM",
    "%j": "D",
    "%%": "%",
}


def _spark_pattern(strptime_format: str) -> str:
    """A strptime format as a Spark datetime pattern (letters outside directives quoted)."""
    out, i = [], 0
    while i < len(strptime_format):
        piece = strptime_format[i : i + 2]
        if piece in _PATTERN:
            letters = _PATTERN[piece]
            # a field run into another ("%Y%m%d": 19970101) has its full width: one letter
            # would take one or two digits and leave the parse ambiguous
            touching = strptime_format[i + 2 : i + 3] == "%" or (
                i >= 2 and strptime_format[i - 2] == "%"
            )
            if len(letters) == 1 and touching:
                letters *= 2
            out.append(letters)
            i += 2
        elif piece.startswith("%"):
            raise DataValidationError(
                f"date format {strptime_format!r}: {piece} is not supported on Spark"
            )
        else:
            char = strptime_format[i]
            out.append(f"'{char}'" if char.isalpha() or char == "'" else char)
            i += 1
    return "".join(out)


def _quote(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _text(column: str) -> str:
    return f"nullif(trim(CAST({_quote(column)} AS STRING)), '')"


def _id(column: str, dtype: str) -> str:
    if dtype in _INTEGERS:
        return f"CAST({_quote(column)} AS STRING)"
    # spreadsheets export integer ids as floats ("17850.0"); an id is a label, so strip that
    # (the regular expression only where it can match: it is slow)
    text = _text(column)
    stripped = f"regexp_replace({text}, '^([0-9]+)\\\\.0+$', '$1')"
    return f"CASE WHEN endswith({text}, '.0') THEN {stripped} ELSE {text} END"


def _number(column: str, dtype: str, decimal_comma: bool = False) -> str:
    if dtype in _NUMBER_TYPES or dtype.startswith("decimal"):
        return f"CAST({_quote(column)} AS DOUBLE)"
    text = f"trim(CAST({_quote(column)} AS STRING))"
    if decimal_comma:  # "1.234,5": the dots group thousands, the comma is the decimal point
        european = f"replace(replace({text}, '.', ''), ',', '.')"
        text = f"CASE WHEN contains({text}, ',') THEN {european} ELSE {text} END"
    return f"try_cast({text} AS DOUBLE)"


def _time(column: str, dtype: str, formats: Sequence[str] = ()) -> str:
    if dtype.startswith("timestamp") or dtype == "date":
        return f"CAST({_quote(column)} AS TIMESTAMP)"
    text = f"trim(CAST({_quote(column)} AS STRING))"
    tries = [f"try_cast({text} AS TIMESTAMP)"]
    tries += [f"try_to_timestamp({text}, '{_escape(f)}')" for f in formats]
    return f"coalesce({', '.join(tries)})"


def _missing(source: str, fields: list[str], layout: dict[str, str]) -> DataValidationError:
    wanted = ", ".join(f"{layout.get(f, f)} (for {f})" for f in fields)
    return DataValidationError(
        f"lacks column(s) {wanted}; name the file's own columns with --map COLUMN=FIELD "
        "or a --preset",
        source=source,
    )


def _transactions(
    df, *, source: str, layout: Preset, formats: Sequence[str], decimal_comma: bool = False
):
    """The canonical lines (SQL as :func:`segmint.io.validate.stage_transactions` writes)."""
    types = dict(df.dtypes)
    missing = [c for c in _REQUIRED if c not in types]
    if "amount" not in types and "unit_price" not in types:
        missing.append("amount")
    if missing:
        raise _missing(source, missing, layout.transactions)
    null = {c: "CAST(NULL AS STRING)" for c in _TEXT} | {
        c: "CAST(NULL AS DOUBLE)" for c in _NUMBERS
    }
    customer = _id("customer_id", types["customer_id"])
    ts = _time("ts", types["ts"], formats)
    text = {c: _text(c) if c in types else null[c] for c in _TEXT}
    number = {c: _number(c, types[c], decimal_comma) if c in types else null[c] for c in _NUMBERS}
    quantity = number["quantity"] if "quantity" in types else "1.0D"
    value = f"coalesce({number['amount']}, {quantity} * {number['unit_price']})"
    order = (
        _id("order_id", types["order_id"])
        if "order_id" in types
        else f"concat({customer}, '@', CAST({ts} AS STRING))"
    )
    flag = "NULL"
    if types.get("is_return") == "boolean":
        flag = "is_return"
    elif "is_return" in types:
        flag = "try_cast(CAST(is_return AS STRING) AS BOOLEAN)"
    prefix = "false"
    if layout.return_order_prefix and "order_id" in types:
        prefix = f"startswith({order}, '{_escape(layout.return_order_prefix)}')"
    is_return = f"coalesce({flag}, {prefix} OR {quantity} < 0 OR {value} < 0, false)"
    usable = [f"{customer} IS NOT NULL", f"{ts} IS NOT NULL"]
    usable += [f"{number[c]} IS NOT NULL" for c in _NUMBERS if c in types]
    return df.filter(" AND ".join(usable)).selectExpr(
        f"{customer} AS customer_id",
        f"{order} AS order_id",
        f"{ts} AS ts",
        *(f"{text[c]} AS {c}" for c in ("product_id", "description", "category")),
        f"{quantity} AS quantity",
        f"coalesce({number['unit_price']}, {number['amount']} / nullif({quantity}, 0)) "
        "AS unit_price",
        f"CASE WHEN {is_return} THEN -abs({value}) ELSE {value} END AS amount",
        f"{text['channel']} AS channel",
        f"{is_return} AS is_return",
    )


def _customers(df, *, source: str, layout: Preset, formats: Sequence[str]):
    """The canonical customers: other columns go into the ``attributes`` JSON object."""
    types = dict(df.dtypes)
    if "customer_id" not in types:
        raise _missing(source, ["customer_id"], layout.customers)
    customer = _id("customer_id", types["customer_id"])
    extras = [c for c in df.columns if c not in _CUSTOMER_FIELDS]
    attributes = (
        "to_json(named_struct(" + ", ".join(f"'{_escape(c)}', {_quote(c)}" for c in extras) + "))"
        if extras
        else "CAST(NULL AS STRING)"
    )
    first_seen = (
        _time("first_seen", types["first_seen"], formats)
        if "first_seen" in types
        else "CAST(NULL AS TIMESTAMP)"
    )
    country = _text("country") if "country" in types else "CAST(NULL AS STRING)"
    return df.filter(f"{customer} IS NOT NULL").selectExpr(
        f"{customer} AS customer_id",
        f"{first_seen} AS first_seen",
        f"{country} AS country",
        f"{attributes} AS attributes",
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _source(df, table: SourceTable, *, source: str, formats: Sequence[str]):
    """A source table's canonical rows, cleaned as :func:`segmint.io.validate.stage_source`
    cleans them (rows it would reject left out; an id the files lack is an MD5 of the row)."""
    types = dict(df.dtypes)
    missing = [f for f in table.required if f not in types]
    if missing:
        raise _missing(source, missing, {})
    exprs = {}
    for name, sql_type in table.columns.items():
        if name not in types:
            exprs[name] = f"CAST(NULL AS {'STRING' if sql_type != 'TIMESTAMP' else 'TIMESTAMP'})"
        elif name == "ts":
            exprs[name] = _time(name, types[name], formats)
        elif name == "properties":
            nested = types[name].startswith(("struct", "map"))
            exprs[name] = f"to_json({_quote(name)})" if nested else _text(name)
        elif name in ("kind", "role", "source", "type", "channel"):
            exprs[name] = f"lower({_text(name)})"
        elif name.endswith("_id") or name == "identifier":
            exprs[name] = _id(name, types[name])
        else:
            exprs[name] = _text(name)
    if table.name == "identities" and "identifier" in types:
        # as the DuckDB ingest normalises them: one email or phone, whichever way it was typed
        exprs["identifier"] = (
            f"CASE {exprs['kind']} WHEN 'email' THEN lower({exprs['identifier']}) "
            f"WHEN 'phone' THEN regexp_replace({exprs['identifier']}, '[^0-9]', '') "
            f"ELSE {exprs['identifier']} END"
        )
    derived = [k for k in table.key if k.endswith("_id") and k not in types]
    content = ", ".join(
        f"coalesce(CAST({exprs[n]} AS STRING), '')" for n in table.columns if n not in derived
    )
    for name in derived:
        exprs[name] = f"md5(concat_ws(chr(31), {content}))"
    keep = " AND ".join(f"({exprs[f]}) IS NOT NULL" for f in table.required)
    return (
        df.filter(keep)
        .selectExpr(*(f"{e} AS {n}" for n, e in exprs.items()))
        .dropDuplicates(list(table.key))
    )
