"""Workspace settings: values a business decides once (the currency, the consent policy), as
JSON by name in the ``settings`` table, so the CLI, the service and every output read the same.

Known names are checked before they are stored (``currency`` must look like an ISO 4217 code);
other names are stored as given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import duckdb

from segmint.errors import DataValidationError

__all__ = ["CURRENCY", "all_settings", "check_currency", "get_setting", "set_setting"]

CURRENCY = "currency"
_ISO_4217 = re.compile(r"^[A-Z]{3}$")


def check_currency(code: object) -> str:
    """``code`` upper-cased if it has the shape of an ISO 4217 code (three letters).

    The shape only: the list of codes changes (new currencies, withdrawn ones) and a report
    only prints the code, so a code we do not know yet must not be refused.

    Examples
    --------
    >>> check_currency(" eur ")
    'EUR'
    """
    text = str(code).strip().upper() if code is not None else ""
    if not _ISO_4217.match(text):
        raise DataValidationError(
            f"{code!r} is not a currency code; expected a 3-letter ISO 4217 code such as "
            "EUR, USD or GBP"
        )
    return text


#: setting name -> the check a value must pass, returning the value to store
_CHECKS: dict[str, Callable[[Any], Any]] = {CURRENCY: check_currency}


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    # a workspace opened read-only before migration 012 has no settings table yet
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'settings'"
    ).fetchall()
    return bool(found[0][0])


def get_setting(con: duckdb.DuckDBPyConnection, name: str, default: Any = None) -> Any:
    """The stored value of setting ``name``, or ``default`` when it was never set."""
    if not _has_table(con):
        return default
    rows = con.execute("SELECT value FROM settings WHERE name = ?", [name]).fetchall()
    return json.loads(rows[0][0]) if rows else default


def set_setting(con: duckdb.DuckDBPyConnection, name: str, value: Any) -> Any:
    """Store ``value`` as setting ``name`` (checked first when the name is known); the value
    stored."""
    check = _CHECKS.get(name)
    if check is not None:
        value = check(value)
    con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [name, json.dumps(value)])
    return value


def all_settings(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Every stored setting, by name."""
    if not _has_table(con):
        return {}
    rows = con.execute("SELECT name, value FROM settings ORDER BY name").fetchall()
    return {name: json.loads(value) for name, value in rows}
