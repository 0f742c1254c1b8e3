"""The calibration/holdout RFM summary that buy-till-you-die models take, computed in DuckDB.

One parameterised SQL statement over the workspace's ``transactions`` table turns order lines
into one row per customer with ``frequency``, ``recency``, ``T`` and ``monetary_value`` (and,
with a holdout period, the holdout counts), following the conventions of Fader, Hardie & Lee
(2005) and of the ``lifetimes`` package's ``calibration_and_holdout_data``:

- a *transaction* is a calendar day with at least one purchase (``merge_same_day=True``, the
  papers' convention) or one order (``merge_same_day=False``);
- ``frequency`` counts *repeat* transactions (all but the first) up to ``calibration_end``;
- ``recency`` is the time from the first to the last transaction (0 with no repeat);
- ``T`` is the time from the first transaction to ``calibration_end``;
- ``monetary_value`` is the mean *net* value of the repeat transactions with a positive net
  value (0 with none), the input of the Gamma-Gamma spend model.

Only the per-customer result leaves the engine (as Arrow).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pyarrow as pa

from segmint.errors import DataValidationError

__all__ = ["rfm_summary", "TIME_UNIT_DAYS"]

#: days per time unit: weeks (default), days, and average Gregorian months.
TIME_UNIT_DAYS: dict[str, float] = {"W": 7.0, "D": 1.0, "M": 365.2425 / 12.0}

_HOLDOUT_COLUMNS = ("frequency_holdout", "monetary_holdout", "duration_holdout")

# Parameters: $merge (BOOLEAN), $cal_end, $hold_end, $obs_start (TIMESTAMP or NULL),
# $unit_seconds (DOUBLE). No value is ever formatted into the text.
_SQL = """
WITH lines AS (
    -- a line is a return when is_return is true, or (is_return NULL) when its amount is
    -- negative
    SELECT customer_id, order_id, ts, amount, coalesce(is_return, amount < 0, false) AS ret
    FROM transactions
    WHERE customer_id IS NOT NULL
      AND ts IS NOT NULL
),
gross AS (
    -- one row per purchase: a purchase day, or an order
    SELECT
        customer_id,
        CASE WHEN $merge THEN date_trunc('day', min(ts)) ELSE min(ts) END AS t,
        coalesce(sum(amount), 0.0) AS value
    FROM lines
    WHERE NOT ret
    GROUP BY
        customer_id,
        CASE WHEN $merge THEN date_trunc('day', ts) END,
        CASE WHEN $merge THEN NULL ELSE coalesce(order_id, CAST(ts AS VARCHAR)) END
),
returned AS (
    -- each return undoes the customer's latest purchase at or before it, and only within the
    -- same period (a calibration purchase is not netted with a later holdout return, which
    -- would leak the future into calibration)
    SELECT g.customer_id, g.t, sum(abs(r.amount)) AS amount
    FROM (
        SELECT customer_id, ts, amount,
               CASE WHEN $merge THEN date_trunc('day', ts) ELSE ts END AS rt
        FROM lines
        WHERE ret
    ) AS r
    ASOF JOIN gross AS g ON r.customer_id = g.customer_id AND r.rt >= g.t
    WHERE (r.rt <= $cal_end) = (g.t <= $cal_end)
    GROUP BY g.customer_id, g.t
),
events AS (
    -- net values; a purchase wholly returned is no transaction. A zero-value purchase with
    -- nothing returned stays one (it is a visit), but carries no spend.
    SELECT g.customer_id, g.t, g.value - coalesce(r.amount, 0.0) AS value
    FROM gross AS g
    LEFT JOIN returned AS r USING (customer_id, t)
    WHERE r.amount IS NULL OR g.value - r.amount > 0
),
firsts AS (
    SELECT customer_id, min(t) AS t0
    FROM events
    GROUP BY customer_id
    HAVING min(t) <= $cal_end
       AND ($obs_start IS NULL OR min(t) >= $obs_start)
),
calibration AS (
    SELECT
        e.customer_id,
        any_value(f.t0) AS t0,
        count(*) - 1 AS frequency,
        max(e.t) AS t_last,
        -- Gamma-Gamma's spend: repeat transactions with positive net value only
        coalesce(avg(e.value) FILTER (WHERE e.t > f.t0 AND e.value > 0), 0.0)
            AS monetary_value
    FROM events AS e
    JOIN firsts AS f USING (customer_id)
    WHERE e.t <= $cal_end
    GROUP BY e.customer_id
),
holdout AS (
    SELECT customer_id, count(*) AS n, avg(value) AS m
    FROM events
    WHERE $hold_end IS NOT NULL AND t > $cal_end AND t <= $hold_end
    GROUP BY customer_id
)
SELECT
    c.customer_id,
    CAST(c.frequency AS BIGINT) AS frequency,
    (epoch(c.t_last) - epoch(c.t0)) / $unit_seconds AS recency,
    (epoch($cal_end) - epoch(c.t0)) / $unit_seconds AS T,
    CAST(c.monetary_value AS DOUBLE) AS monetary_value,
    CAST(coalesce(h.n, 0) AS BIGINT) AS frequency_holdout,
    CAST(coalesce(h.m, 0.0) AS DOUBLE) AS monetary_holdout,
    (epoch($hold_end) - epoch($cal_end)) / $unit_seconds AS duration_holdout
FROM calibration AS c
LEFT JOIN holdout AS h USING (customer_id)
ORDER BY c.customer_id
"""
# Typed parameters (a bare NULL parameter has no type for DuckDB to infer).
for _name in ("cal_end", "hold_end", "obs_start"):
    _SQL = _SQL.replace("$" + _name, "CAST($" + _name + " AS TIMESTAMP)")


def _as_timestamp(value: datetime | date | str | None, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise DataValidationError(
                f"{name} must be an ISO date or datetime, got {value!r}"
            ) from None
    if not isinstance(value, datetime):
        if isinstance(value, date):
            return datetime.combine(value, time())
        raise DataValidationError(f"{name} must be a date or datetime, got {value!r}")
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def rfm_summary(
    con,
    *,
    calibration_end: datetime | date | str,
    holdout_end: datetime | date | str | None = None,
    time_unit: str = "W",
    merge_same_day: bool = True,
    observation_start: datetime | date | str | None = None,
) -> pa.Table:
    """Per-customer frequency, recency, T and spend for BTYD models, computed in DuckDB.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding a ``transactions`` table in the canonical schema
        (:mod:`segmint.schema`).
    calibration_end : datetime, date or ISO string
        End of the calibration period, **inclusive** (as in ``lifetimes``): a transaction at
        time ``t <= calibration_end`` is in calibration. With ``merge_same_day`` the
        transaction time is its day's midnight, so a date includes that whole day. ``T`` is
        measured up to this instant. (Note the difference from
        :func:`segmint.features.build_features`, whose ``as_of`` is exclusive: the summary for
        features ``as_of=D`` is ``calibration_end=D - 1 day``.)
    holdout_end : datetime, date or ISO string, optional
        End of the holdout period (inclusive); when given, the holdout columns are added.
    time_unit : {"W", "D", "M"}, default="W"
        Unit of ``recency``, ``T`` and ``duration_holdout``: weeks, days, or average months
        (365.2425 / 12 days). Times are fractional (days / 7 for weeks); unlike ``lifetimes``
        with ``freq="W"``, purchases are not bucketed into calendar weeks.
    merge_same_day : bool, default=True
        Count all purchases of one customer on one calendar day as one transaction (amounts
        summed). When False, each order (``order_id``) is a transaction, timed at its first
        line.
    observation_start : datetime, date or ISO string, optional
        Keep only the cohort of customers whose first purchase is at or after this time
        (customers first seen earlier are left out, not truncated, so nobody's history is
        cut short).

    Returns
    -------
    pyarrow.Table
        Sorted by ``customer_id``; one row per customer whose first purchase is on or before
        ``calibration_end``. Columns ``customer_id``, ``frequency`` (int64), ``recency``,
        ``T``, ``monetary_value``; with ``holdout_end`` also ``frequency_holdout`` (int64,
        transactions in ``(calibration_end, holdout_end]``, all of them repeats),
        ``monetary_holdout`` (their mean value, 0 if none) and ``duration_holdout``.

    Raises
    ------
    DataValidationError
        When the transactions table or a column is missing, an argument is invalid, or no
        customer made a purchase by ``calibration_end``.

    Notes
    -----
    Returns are not purchases, and spend is net of them: a return line (``is_return`` true or,
    where ``is_return`` is NULL, a negative ``amount``) is taken off the customer's latest
    transaction at or before it in the same period (calibration or holdout). A transaction
    whose returns equal or exceed its value was wholly returned and is no transaction at all (a
    customer who returned everything after a first purchase has no repeat). Returns larger
    than that latest transaction are not carried back to earlier ones. A zero-value
    transaction with nothing returned still counts as a purchase but is no spend observation.
    Lines without a customer id or timestamp are ignored.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute(
    ...     "CREATE TABLE transactions AS SELECT * FROM (VALUES "
    ...     "('a', 'o1', TIMESTAMP '2024-01-01 10:00', 10.0, false), "
    ...     "('a', 'o2', TIMESTAMP '2024-01-01 18:00', 5.0, false), "
    ...     "('a', 'o3', TIMESTAMP '2024-01-15 09:00', 20.0, false)) "
    ...     "t(customer_id, order_id, ts, amount, is_return)")
    >>> rfm_summary(con, calibration_end="2024-01-29").to_pylist()
    [{'customer_id': 'a', 'frequency': 1, 'recency': 2.0, 'T': 4.0, 'monetary_value': 20.0}]
    """
    if time_unit not in TIME_UNIT_DAYS:
        raise DataValidationError(
            f"time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, got {time_unit!r}"
        )
    cal_end = _as_timestamp(calibration_end, "calibration_end")
    hold_end = _as_timestamp(holdout_end, "holdout_end")
    obs_start = _as_timestamp(observation_start, "observation_start")
    if cal_end is None:
        raise DataValidationError("calibration_end is required")
    if hold_end is not None and hold_end <= cal_end:
        raise DataValidationError(
            f"holdout_end ({hold_end}) must be after calibration_end ({cal_end})"
        )
    if obs_start is not None and obs_start > cal_end:
        raise DataValidationError(
            f"observation_start ({obs_start}) must not be after calibration_end ({cal_end})"
        )
    _check_transactions(con)
    params = {
        "merge": bool(merge_same_day),
        "cal_end": cal_end,
        "hold_end": hold_end,
        "obs_start": obs_start,
        "unit_seconds": TIME_UNIT_DAYS[time_unit] * 86400.0,
    }
    table = con.sql(_SQL, params=params).to_arrow_table()
    if table.num_rows == 0:
        raise DataValidationError(
            f"no customer made a purchase on or before calibration_end ({cal_end})"
            + (
                f" with a first purchase at or after observation_start ({obs_start})"
                if obs_start is not None
                else ""
            ),
            source="transactions",
        )
    if hold_end is None:
        table = table.drop_columns(list(_HOLDOUT_COLUMNS))
    return table


def _check_transactions(con) -> None:
    required = ("customer_id", "order_id", "ts", "amount", "is_return")
    try:
        rows = con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
            ["transactions"],
        ).fetchall()
    except Exception as exc:  # pragma: no cover - a closed connection
        raise DataValidationError(f"cannot read the workspace ({exc})") from None
    present = {r[0] for r in rows}
    if not present:
        raise DataValidationError("no transactions table in the workspace", source="transactions")
    missing = [c for c in required if c not in present]
    if missing:
        raise DataValidationError(
            f"transactions lack column(s) {', '.join(missing)}", source="transactions"
        )
