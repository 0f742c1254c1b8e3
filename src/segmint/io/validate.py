"""Map a source view onto the canonical transactions/customers columns and sort out bad rows.

All of it runs as one DuckDB statement per table, so it costs about one scan of the file.
Rows that cannot be used are kept in the staging table with a reason, counted, and shown with
examples (row number and value); only a file with nothing usable is an error.
The SQL is assembled from the column mapping, which is the nature of the job: every source
column name is quoted as an identifier, every value is a bound parameter.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import duckdb

from segmint.errors import DataValidationError
from segmint.io.text import LINE, LINE_PROBLEMS, PROBLEM
from segmint.schema import (
    CONSENT_STATUSES,
    IDENTITY_KINDS,
    REQUIRED_TRANSACTION_FIELDS,
    Preset,
    SourceTable,
)

STAGE_TRANSACTIONS = "_stage_transactions"
STAGE_CUSTOMERS = "_stage_customers"

#: date layouts tried after ISO 8601, in order (UCI's own CSV uses month-first)
DATE_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y")

#: reject reasons, in the order they are checked; a row gets the first that applies
REASONS = {
    **LINE_PROBLEMS,
    "missing_customer_id": "no customer id",
    "bad_date": "missing or unparseable date (give its layout with --date-format, e.g. '%d/%m/%Y')",
    "bad_quantity": "quantity is not a number",
    "bad_unit_price": "unit price is not a number",
    "bad_amount": "amount is not a number",
    "missing_type": "no event type",
    "bad_properties": "properties are not a JSON object",
    "missing_text": "no message text",
    "missing_intent": "no intent label",
    "missing_identifier": "no identifier",
    "bad_kind": "identifier kind is not one of " + ", ".join(IDENTITY_KINDS),
    "missing_purpose": "no consent purpose",
    "bad_status": "consent status is not one of "
    + ", ".join(f"{s} ({'/'.join(words)})" for s, words in CONSENT_STATUSES.items()),
}


@dataclass
class StageReport:
    """What staging found in one source file."""

    source: str
    rows_read: int
    rows_usable: int
    rejected: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_usable": self.rows_usable,
            "rejected": dict(self.rejected),
            "examples": dict(self.examples),
        }


def quote(identifier: str) -> str:
    """Quote ``identifier`` for DuckDB SQL (doubling embedded quotes)."""
    return '"' + identifier.replace('"', '""') + '"'


def _resolve(mapping: dict[str, str], columns: list[str]) -> dict[str, str]:
    """Canonical field -> actual source column, matching names case-insensitively, then also
    ignoring spaces and underscores ("customerID" and "Customer ID" are ``customer_id``)."""
    by_lower = {c.lower().strip(): c for c in columns}
    by_letters = {_letters(c): c for c in reversed(columns)}
    resolved = {}
    for canonical, wanted in mapping.items():
        actual = by_lower.get(wanted.lower().strip(), by_letters.get(_letters(wanted)))
        if actual is not None:
            resolved[canonical] = actual
    return resolved


def _letters(name: str) -> str:
    return re.sub(r"[\s_]+", "", name.lower())


def _missing_error(
    source: str, missing: list[str], mapping: dict, columns: list[str], option: str
) -> None:
    wanted = ", ".join(f"{mapping.get(m, m)!r} (for {m})" for m in missing)
    found = ", ".join(repr(c) for c in columns[:20]) + (" ..." if len(columns) > 20 else "")
    hint = f"choose a --preset, or name the column with {option} COLUMN={missing[0]}"
    if len(columns) == 1:
        hint += "; the lines split into one column only, so check --delimiter"
    raise DataValidationError(
        f"missing required column(s) {wanted}; the file's columns are {found}: {hint}",
        source=source,
    )


def _line_columns(types: dict[str, str]) -> tuple[str, str]:
    """SQL for the reader's problem and raw-line columns (text sources have them; others not)."""
    if PROBLEM in types:
        return quote(PROBLEM), quote(LINE)
    return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"


_INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}
_NUMBER_TYPES = _INTEGER_TYPES | {"FLOAT", "DOUBLE"}
_TIME_TYPES = {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE"}


def column_types(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    """Column name -> DuckDB type of the source view (typed formats skip text parsing)."""
    return dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {quote(view)})").fetchall()
    )


def _id_expr(col: str, dtype: str) -> str:
    if dtype in _INTEGER_TYPES:
        return f"CAST({quote(col)} AS VARCHAR)"
    # spreadsheets export integer ids as floats ("17850.0"); an id is a label, so strip that
    text = f"nullif(trim(CAST({quote(col)} AS VARCHAR)), '')"
    stripped = f"regexp_replace({text}, '^([0-9]+)\\.0+$', '\\1')"
    return f"CASE WHEN ends_with({text}, '.0') THEN {stripped} ELSE {text} END"


def _number_expr(col: str, dtype: str, decimal_comma: bool) -> str:
    if dtype in _NUMBER_TYPES or dtype.startswith("DECIMAL"):
        return f"CAST({quote(col)} AS DOUBLE)"
    text = f"trim(CAST({quote(col)} AS VARCHAR))"
    if decimal_comma:  # "1.234,5": the dots group thousands, the comma is the decimal point
        european = f"replace(replace({text}, '.', ''), ',', '.')"
        text = f"if(contains({text}, ','), {european}, {text})"
    return f"TRY_CAST({text} AS DOUBLE)"


def _ts_expr(col: str, dtype: str, formats: list[str]) -> tuple[str, list[str]]:
    """SQL for the column as a UTC timestamp, and the parameters it binds (in order)."""
    if dtype in _TIME_TYPES:
        return f"CAST({quote(col)} AS TIMESTAMP)", []
    if dtype == "TIMESTAMP WITH TIME ZONE":
        return f"CAST({quote(col)} AT TIME ZONE 'UTC' AS TIMESTAMP)", []
    text = f"trim(CAST({quote(col)} AS VARCHAR))"
    parts = [f"CAST(TRY_CAST({text} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)"]
    parts += [f"try_strptime({text}, ?)" for _ in formats]
    return "coalesce(" + ", ".join(parts) + ")", list(formats)


def stage_transactions(
    con: duckdb.DuckDBPyConnection,
    view: str,
    columns: list[str],
    preset: Preset,
    *,
    source: str,
    date_format: str | None = None,
    decimal_comma: bool = False,
) -> StageReport:
    """Build the staging table of canonical transaction rows from the source ``view``.

    The table is an ordinary one in the caller's transaction, dropped before it commits: its
    row groups are compressed and written to the database file as they fill, so staging 200M
    lines holds a few GB of memory instead of spilling an uncompressed temporary table (about
    150 bytes a line) and reading it back on every pass.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding ``view``, inside a transaction (see above).
    view : str
        Name of the source view (from :func:`segmint.io.readers.open_source`).
    columns : list of str
        The view's column names.
    preset : Preset
        Column mapping and conventions of the file's layout.
    source : str
        File name used in messages.
    date_format : str, optional
        strptime format tried first for the date column (e.g. ``"%d/%m/%Y %H:%M"``).
    decimal_comma : bool, default=False
        Numbers are written with a decimal comma (from :class:`segmint.io.readers.Source`).

    Returns
    -------
    StageReport
        Counts of rows read, usable and rejected per reason, with one example per reason.

    Raises
    ------
    DataValidationError
        A required column is missing, or no row at all is usable.
    """
    col = _resolve(preset.transactions, columns)
    missing = [f for f in REQUIRED_TRANSACTION_FIELDS if f not in col]
    if "amount" not in col and "unit_price" not in col:
        missing.append("amount")
    if missing:
        _missing_error(source, missing, preset.transactions, columns, "--map")

    given = [f for f in (date_format, preset.date_format) if f]
    formats = given + list(DATE_FORMATS)
    types = column_types(con, view)
    problem, line = _line_columns(types)
    ts, ts_params = _ts_expr(col["ts"], types[col["ts"]], formats)
    customer = _id_expr(col["customer_id"], types[col["customer_id"]])

    def number(field_name: str) -> str | None:
        if field_name not in col:
            return None
        return _number_expr(col[field_name], types[col[field_name]], decimal_comma)

    quantity = number("quantity") or "1.0"
    price = number("unit_price")
    amount = number("amount")
    order = (
        _id_expr(col["order_id"], types[col["order_id"]])
        if "order_id" in col
        else f"{customer} || '@' || CAST({ts} AS VARCHAR)"
    )
    # parameters in order of appearance: the default order id embeds the timestamp expression
    params: list[object] = ([] if "order_id" in col else list(ts_params)) + list(ts_params)

    def text(field_name: str) -> str:
        if field_name not in col:
            return "CAST(NULL AS VARCHAR)"
        return f"nullif(trim(CAST({quote(col[field_name])} AS VARCHAR)), '')"

    if "is_return" in col:
        flag = f"TRY_CAST(CAST({quote(col['is_return'])} AS VARCHAR) AS BOOLEAN)"
    else:
        flag = "CAST(NULL AS BOOLEAN)"
    prefix_test = "false"
    if preset.return_order_prefix and "order_id" in col:
        prefix_test = "starts_with(s_order, ?)"

    raw_checks = [
        ("missing_customer_id", "s_customer IS NULL"),
        ("bad_date", "s_ts IS NULL"),
    ]
    if "quantity" in col:
        raw_checks.append(("bad_quantity", "s_quantity IS NULL"))
    if price is not None:
        raw_checks.append(("bad_unit_price", "s_price IS NULL"))
    if amount is not None:
        raw_checks.append(("bad_amount", "s_amount IS NULL"))
    reason = (
        "CASE WHEN s_problem IS NOT NULL THEN s_problem "
        + " ".join(f"WHEN {c} THEN '{r}'" for r, c in raw_checks)
        + " END"
    )

    def select(numbered: bool) -> str:
        # the examples of rejected rows need file row numbers and raw text; numbering is a
        # single-threaded window, so it runs only in the second pass, when rows were rejected
        extra = (
            f"coalesce({line}, {_raw_preview(col)}) AS _raw, row_number() OVER () AS _row,"
            if numbered
            else ""
        )
        keep = "_raw, _row," if numbered else ""
        return f"""
    WITH mapped AS (
        SELECT
            {problem} AS s_problem,
            {customer} AS s_customer,
            {order} AS s_order,
            {ts} AS s_ts,
            {quantity} AS s_quantity,
            {price if price is not None else "CAST(NULL AS DOUBLE)"} AS s_price,
            {amount if amount is not None else "CAST(NULL AS DOUBLE)"} AS s_amount,
            {flag} AS s_flag,
            {text("product_id")} AS product_id,
            {text("description")} AS description,
            {text("category")} AS category,
            {text("channel")} AS channel,
            {extra}
            {text("country")} AS country
        FROM {quote(view)}
    ), flagged AS (
        SELECT *, {reason} AS _reason,
               coalesce(s_flag, {prefix_test} OR s_quantity < 0
                        OR coalesce(s_amount, s_quantity * s_price) < 0) AS is_return
        FROM mapped
    )
    SELECT
        s_customer AS customer_id,
        s_order AS order_id,
        s_ts AS ts,
        product_id, description, category,
        s_quantity AS quantity,
        coalesce(s_price, s_amount / nullif(s_quantity, 0)) AS unit_price,
        -- returns are negative amounts whatever sign the source used
        CASE WHEN is_return THEN -abs(coalesce(s_amount, s_quantity * s_price))
             ELSE coalesce(s_amount, s_quantity * s_price) END AS amount,
        channel,
        coalesce(is_return, false) AS is_return,
        country,
        {keep}
        _reason
    FROM flagged
    """

    if prefix_test != "false":
        params.append(preset.return_order_prefix)
    con.execute(f"CREATE OR REPLACE TABLE {STAGE_TRANSACTIONS} AS {select(False)}", params)
    return _report(con, STAGE_TRANSACTIONS, source, select(True), params)


def _raw_preview(col: dict[str, str]) -> str:
    # the raw text of the fields we check, to quote in examples of rejected rows
    keys = [k for k in ("customer_id", "ts", "quantity", "unit_price", "amount") if k in col]
    pairs = " || ', ' || ".join(
        f"'{col[k].replace(chr(39), chr(39) * 2)}=' || coalesce(CAST({quote(col[k])} AS VARCHAR), "
        "'<empty>')"
        for k in keys
    )
    return pairs


def _report(
    con: duckdb.DuckDBPyConnection, table: str, source: str, numbered_sql: str, params: list
) -> StageReport:
    rows = con.execute(f"SELECT _reason, count(*) FROM {table} GROUP BY _reason").fetchall()
    read = sum(n for _, n in rows)
    rejected = {r: n for r, n in rows if r is not None}
    examples = {}
    if rejected:
        found = con.execute(
            f"""SELECT _reason, min(_row), arg_min(_raw, _row) FROM ({numbered_sql})
                WHERE _reason IS NOT NULL GROUP BY _reason""",
            params,
        ).fetchall()
        examples = {reason: f"row {first}: {raw}" for reason, first, raw in found}
    report = StageReport(source, read, read - sum(rejected.values()), rejected, examples)
    if report.rows_usable == 0:
        worst = max(rejected, key=rejected.get)
        raise DataValidationError(
            f"no usable rows: every row was rejected ({_describe(rejected)}); "
            f"first problem: {REASONS[worst]} at {examples[worst]}",
            source=source,
        )
    return report


def _describe(rejected: dict[str, int]) -> str:
    return ", ".join(f"{REASONS[r]}: {n:,}" for r, n in sorted(rejected.items()))


def describe_rejects(report: StageReport) -> str:
    """One line listing rejected rows per reason, for messages."""
    return _describe(report.rejected)


def stage_customers(
    con: duckdb.DuckDBPyConnection,
    view: str,
    columns: list[str],
    preset: Preset,
    *,
    source: str,
    number_rows: bool = False,
) -> StageReport:
    """Build the temporary table of canonical customer rows from the source ``view``.

    Columns other than the mapped ones become the ``attributes`` JSON object, keeping their names.
    With ``number_rows``, a file without a customer id column gets the row numbers (1, 2, ...
    in file order) as ids instead of an error.
    """
    col = _resolve(preset.customers or {"customer_id": "customer_id"}, columns)
    if "customer_id" not in col:
        if not number_rows:
            _missing_error(source, ["customer_id"], preset.customers, columns, "--customers-map")
        warnings.warn(
            f"{source} has no customer id column; its customers are numbered by row "
            "(1, 2, ... in file order); name an id column with --customers-map COLUMN=customer_id",
            stacklevel=2,
        )
    mapped_sources = set(col.values())
    extras = [c for c in columns if c not in mapped_sources]
    attrs = (
        "to_json(struct_pack(" + ", ".join(f"{quote(c)} := {quote(c)}" for c in extras) + "))"
        if extras
        else "CAST(NULL AS JSON)"
    )
    types = column_types(con, view)
    problem, line = _line_columns(types)
    first_seen, params = (
        _ts_expr(col["first_seen"], types[col["first_seen"]], list(DATE_FORMATS))
        if "first_seen" in col
        else ("CAST(NULL AS TIMESTAMP)", [])
    )
    country = (
        f"nullif(trim(CAST({quote(col['country'])} AS VARCHAR)), '')"
        if "country" in col
        else "CAST(NULL AS VARCHAR)"
    )
    customer = (
        _id_expr(col["customer_id"], types[col["customer_id"]])
        if "customer_id" in col
        else "CAST(row_number() OVER () AS VARCHAR)"
    )
    shown = (
        f"'{col['customer_id'].replace(chr(39), chr(39) * 2)}=' || "
        f"coalesce(CAST({quote(col['customer_id'])} AS VARCHAR), '<empty>')"
        if "customer_id" in col
        else "'<no id column>'"
    )
    raw = f"coalesce({line}, {shown}) AS _raw, row_number() OVER () AS _row,"

    def select(numbered: bool) -> str:
        return f"""
        SELECT {customer} AS customer_id, {first_seen} AS first_seen, {country} AS country,
               {attrs} AS attributes, {raw if numbered else ""}
               CASE WHEN {problem} IS NOT NULL THEN {problem}
                    WHEN {customer} IS NULL THEN 'missing_customer_id' END AS _reason
        FROM {quote(view)}
        """

    con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE_CUSTOMERS} AS {select(False)}", params)
    return _report(con, STAGE_CUSTOMERS, source, select(True), params)


def stage_table(table: SourceTable) -> str:
    """The staging table of a source's rows (see :func:`stage_source`)."""
    return f"_stage_{table.name}"


def stage_source(
    con: duckdb.DuckDBPyConnection,
    view: str,
    columns: list[str],
    table: SourceTable,
    mapping: dict[str, str],
    *,
    source: str,
    date_format: str | None = None,
) -> StageReport:
    """Build the staging table of canonical ``table`` rows (events, messages, identities)
    from the source ``view``: one statement, rejected rows kept with their reason.

    ``mapping`` is canonical field -> the file's column (fields left out are looked for under
    their own names). An id column the file lacks (``event_id``, ``message_id``) is an MD5 of
    the row's other fields, so the same file ingested twice adds nothing the second time.
    Properties may be JSON text or a nested column (Parquet structs and maps).
    """
    col = _resolve({f: mapping.get(f, f) for f in table.columns}, columns)
    missing = [f for f in table.required if f not in col]
    if missing:
        _missing_error(source, missing, {f: mapping.get(f, f) for f in missing}, columns, "--map")
    types = column_types(con, view)
    problem, line = _line_columns(types)
    formats = [date_format, *DATE_FORMATS] if date_format else list(DATE_FORMATS)
    params: list[object] = []
    exprs: dict[str, str] = {}
    for name, sql_type in table.columns.items():
        if name not in col:
            exprs[name] = f"CAST(NULL AS {sql_type})"
            continue
        dtype = types[col[name]]
        if name == "ts":
            exprs[name], params = _ts_expr(col[name], dtype, formats)
        elif name == "properties":
            exprs[name] = _json_expr(col[name], dtype)
        elif name in ("kind", "role", "source", "type", "channel", "purpose"):
            exprs[name] = f"lower(nullif(trim(CAST({quote(col[name])} AS VARCHAR)), ''))"
        elif name == "status":
            exprs[name] = _status_expr(col[name])
        elif name.endswith("_id") or name == "identifier":
            exprs[name] = _id_expr(col[name], dtype)
        else:
            exprs[name] = f"nullif(trim(CAST({quote(col[name])} AS VARCHAR)), '')"
    named = {"ts": "bad_date", "kind": "bad_kind", "status": "bad_status"}
    checks = [(named.get(f, f"missing_{f}"), f"s_{f} IS NULL") for f in table.required]
    if "properties" in col:
        exprs["given_properties"] = f"{quote(col['properties'])} IS NOT NULL"
        checks.append(("bad_properties", "s_given_properties AND s_properties IS NULL"))
    if table.name == "identities":
        kinds = ", ".join(f"'{k}'" for k in IDENTITY_KINDS)
        checks.append(("bad_kind", f"s_kind NOT IN ({kinds})"))
    if table.name == "consent":
        statuses = ", ".join(f"'{s}'" for s in CONSENT_STATUSES)
        checks.append(("bad_status", f"s_status NOT IN ({statuses})"))
    reason = (
        "CASE WHEN s_problem IS NOT NULL THEN s_problem "
        + " ".join(f"WHEN {c} THEN '{r}'" for r, c in checks)
        + " END"
    )
    derived = [k for k in table.key if k.endswith("_id") and k not in col]
    content = " || chr(31) || ".join(
        f"coalesce(CAST(s_{n} AS VARCHAR), '')" for n in table.columns if n not in derived
    )
    shown = " || ', ' || ".join(
        f"'{col[f].replace(chr(39), chr(39) * 2)}=' || "
        f"coalesce(CAST({quote(col[f])} AS VARCHAR), '<empty>')"
        for f in table.required
        if f in col
    )
    mapped = ", ".join(f"{expr} AS s_{name}" for name, expr in exprs.items())
    outputs = {name: f"s_{name}" for name in table.columns}
    outputs.update({name: f"md5({content})" for name in derived})
    if table.name == "identities":
        # the forms the same email or phone takes in different systems match once normalised
        outputs["identifier"] = (
            "CASE s_kind WHEN 'email' THEN lower(s_identifier) "
            "WHEN 'phone' THEN regexp_replace(s_identifier, '[^0-9]', '', 'g') "
            "ELSE s_identifier END"
        )
    outputs = ", ".join(f"{expr} AS {name}" for name, expr in outputs.items())

    def select(numbered: bool) -> str:
        # row numbers and raw text only for the examples of rejected rows (see stage_transactions)
        extra = (
            f"coalesce({line}, {shown}) AS _raw, row_number() OVER () AS _row," if numbered else ""
        )
        keep = "_raw, _row," if numbered else ""
        return f"""
        WITH mapped AS (SELECT {problem} AS s_problem, {extra} {mapped} FROM {quote(view)})
        SELECT {outputs}, {keep} {reason} AS _reason FROM mapped
        """

    con.execute(f"CREATE OR REPLACE TABLE {stage_table(table)} AS {select(False)}", params)
    return _report(con, stage_table(table), source, select(True), params)


def _status_expr(col: str) -> str:
    """SQL for a consent status in its canonical word (other words left as they are, for the
    bad_status check to reject)."""
    text = f"lower(nullif(trim(CAST({quote(col)} AS VARCHAR)), ''))"
    cases = " ".join(
        f"WHEN {text} IN ({', '.join(repr(w) for w in words)}) THEN '{status}'"
        for status, words in CONSENT_STATUSES.items()
    )
    return f"CASE {cases} ELSE {text} END"


def _json_expr(col: str, dtype: str) -> str:
    """SQL for the column as a JSON object, NULL where it is not one."""
    if dtype.startswith(("STRUCT", "MAP")):
        return f"to_json({quote(col)})"
    text = f"nullif(trim(CAST({quote(col)} AS VARCHAR)), '')"
    is_object = f"json_valid({text}) AND json_type({text}) = 'OBJECT'"
    return f"CASE WHEN {is_object} THEN CAST({text} AS JSON) END"
