"""Campaign groups and outcomes in SQL: the deterministic holdout, and what members did after
the start.

The holdout is a keyed hash of the customer id under the campaign's own key (an HMAC, the
pseudonym of :mod:`segmint.consent.pseudonym`), read as a number in [0, 1): below the share
means held out. The same customer and campaign always land on the same side; nobody without
the workspace's key can tell or steer which.
"""

from __future__ import annotations

import re

from segmint.consent.pseudonym import pseudonym_sql
from segmint.errors import SegmintError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
#: hex digits of the HMAC read as the uniform number (52 bits: exact in a double)
_BITS = 13


def check_name(name: str) -> str:
    """A campaign name: letters, digits, space, ``_ . -``; up to 64 characters."""
    if not _NAME.match(name or ""):
        raise SegmintError(
            f"campaign name {name!r} is not allowed; use up to 64 letters, digits, spaces, "
            "'_', '.' or '-', starting with a letter or digit"
        )
    return name


def parse_share(text: str | float) -> float:
    """``10%``, ``0.1`` or ``10`` as the share 0.1; between 0 and 0.9."""
    raw = str(text).strip()
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise SegmintError(f"holdout {text!r} is not a share; expected e.g. 10% or 0.1") from None
    share = value / 100 if raw.endswith("%") or value > 1 else value
    if not 0 < share <= 0.9:
        raise SegmintError(f"holdout {text!r} must be above 0% and at most 90%")
    return share


def holdout_sql(key: bytes) -> tuple[str, list]:
    """A SQL expression of ``customer_id``: its uniform number in [0, 1) under ``key``, and
    the expression's parameters."""
    hashed, params = pseudonym_sql("customer_id", key)
    return f"CAST('0x' || left({hashed}, {_BITS}) AS UBIGINT) / {16**_BITS}.0", params


def outcomes_sql() -> str:
    """Per member of campaign ``?`` (name), with the window ``[? , ?)`` and the same length
    before the start ``[?, ?)``: ``holdout``, ``converted`` (a purchase in the window),
    ``revenue`` (net amount in the window, returns included) and ``active_before`` (a
    purchase in the period before)."""
    return """
        SELECT m.customer_id, m.holdout,
               coalesce(w.orders, 0) > 0 AS converted,
               coalesce(w.revenue, 0.0) AS revenue,
               coalesce(b.orders, 0) > 0 AS active_before
        FROM campaign_members m
        LEFT JOIN (
            SELECT customer_id, count(DISTINCT order_id) FILTER (WHERE NOT is_return) AS orders,
                   sum(amount) AS revenue
            FROM transactions WHERE ts >= ? AND ts < ? GROUP BY customer_id
        ) w USING (customer_id)
        LEFT JOIN (
            SELECT customer_id, count(DISTINCT order_id) FILTER (WHERE NOT is_return) AS orders
            FROM transactions WHERE ts >= ? AND ts < ? GROUP BY customer_id
        ) b USING (customer_id)
        WHERE m.name = ?
    """
