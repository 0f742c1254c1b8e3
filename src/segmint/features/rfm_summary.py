"""The calibration/holdout RFM summary that buy-till-you-die models take, computed in the engine.

One Ibis expression over the ``transactions`` table, run on DuckDB or Spark
(:mod:`segmint.engine`), turns order lines into one row per customer with ``frequency``,
``recency``, ``T`` and ``monetary_value`` (and, with a holdout period, the holdout counts),
following the conventions of Fader, Hardie & Lee
(2005) and of the ``lifetimes`` package's ``calibration_and_holdout_data``:

- a *transaction* is a calendar day with at least one purchase (``merge_same_day=True``, the
  papers' convention) or one order (``merge_same_day=False``);
- ``frequency`` counts *repeat* transactions (all but the first) up to ``calibration_end``;
- ``recency`` is the time from the first to the last transaction (0 with no repeat);
- ``T`` is the time from the first transaction to ``calibration_end``;
- ``monetary_value`` is the mean *net* value of the repeat transactions with a positive net
  value (0 with none), the input of the Gamma-Gamma spend model.

Only the per-customer result leaves the engine (as Arrow); or, compressed, one row per distinct
(``frequency``, ``recency``, ``T``) with the number of customers sharing it, which is all the
purchase models' likelihoods need (they take those counts as weights), so a model can be fitted
on the driver whatever the number of customers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from segmint.engine import Engine, engine_for
from segmint.errors import DataValidationError

__all__ = ["rfm_summary", "rfm_summary_query", "TIME_UNIT_DAYS"]

#: days per time unit: weeks (default), days, and average Gregorian months.
TIME_UNIT_DAYS: dict[str, float] = {"W": 7.0, "D": 1.0, "M": 365.2425 / 12.0}

_HOLDOUT_COLUMNS = ("frequency_holdout", "monetary_holdout", "duration_holdout")
_SECONDS_PER_DAY = 86400.0
#: what is left of a purchase after its returns, as a share of its value, that is rounding
_ROUNDING = 1e-9
_REQUIRED = ("customer_id", "order_id", "ts", "amount", "is_return")
#: the grouping columns of the compressed summary, in its sort order
_COMPRESSED_KEYS = ("frequency", "recency", "T")


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
    compress: bool = False,
) -> pa.Table:
    """Per-customer frequency, recency, T and spend for BTYD models, computed in the engine.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection, SparkSession or Engine
        Where a ``transactions`` table in the canonical schema (:mod:`segmint.schema`) is: a
        DuckDB connection (a workspace's), or a Spark session or engine from
        :func:`segmint.engine.read_tables`.
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
    compress : bool, default=False
        Return one row per distinct (``frequency``, ``recency``, ``T``) with ``weight``, the
        number of customers in it, instead of one row per customer: the input of the purchase
        models' ``fit(frequency, recency, T, weights)``, which gives the same parameters as on
        the per-customer rows. Spend is left out (the Gamma-Gamma likelihood does not reduce
        to such counts).

    Returns
    -------
    pyarrow.Table
        Sorted by ``customer_id``; one row per customer whose first purchase is on or before
        ``calibration_end``. Columns ``customer_id``, ``frequency`` (int64), ``recency``,
        ``T``, ``monetary_value``; with ``holdout_end`` also ``frequency_holdout`` (int64,
        transactions in ``(calibration_end, holdout_end]``, all of them repeats),
        ``monetary_holdout`` (their mean value, 0 if none) and ``duration_holdout``.
        Compressed: sorted by ``frequency``, ``recency``, ``T``; columns ``frequency``,
        ``recency``, ``T``, ``weight`` (int64); with ``holdout_end`` also
        ``frequency_holdout`` (the total over the row's customers) and ``duration_holdout``.

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
    whose returns equal or exceed its value (up to rounding: within a billionth of it) was
    wholly returned and is no transaction at all (a
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
    engine = engine_for(con)
    cal_end, hold_end, obs_start = _check_arguments(
        calibration_end, holdout_end, time_unit, observation_start
    )
    summary = rfm_summary_query(
        engine,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        time_unit=time_unit,
        merge_same_day=merge_same_day,
        observation_start=observation_start,
    )
    if compress:
        holdout = {}
        if hold_end is not None:
            holdout = {"frequency_holdout": summary["frequency_holdout"].sum()}
        keys = [*_COMPRESSED_KEYS, *(["duration_holdout"] if hold_end is not None else [])]
        summary = summary.group_by(keys).aggregate(weight=summary.count(), **holdout)
        summary = summary.select(*_COMPRESSED_KEYS, "weight", *holdout, *keys[3:])
        order = list(_COMPRESSED_KEYS)
    else:
        order = ["customer_id"]
    table = engine.to_arrow(summary).sort_by([(c, "ascending") for c in order])
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
    return table


def rfm_summary_query(
    con,
    *,
    calibration_end: datetime | date | str,
    holdout_end: datetime | date | str | None = None,
    time_unit: str = "W",
    merge_same_day: bool = True,
    observation_start: datetime | date | str | None = None,
) -> ir.Table:
    """:func:`rfm_summary`'s per-customer rows as one query, not run, for an engine that keeps
    them where the data lives (Spark): rows in no set order. Arguments as there."""
    engine = engine_for(con)
    cal_end, hold_end, obs_start = _check_arguments(
        calibration_end, holdout_end, time_unit, observation_start
    )
    summary = _per_customer(
        engine,
        _transactions(engine),
        cal_end=cal_end,
        hold_end=hold_end,
        obs_start=obs_start,
        unit_seconds=TIME_UNIT_DAYS[time_unit] * _SECONDS_PER_DAY,
        merge=merge_same_day,
    )
    return summary if hold_end is not None else summary.drop(*_HOLDOUT_COLUMNS)


def _check_arguments(calibration_end, holdout_end, time_unit, observation_start):
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
    return cal_end, hold_end, obs_start


def _transactions(engine: Engine) -> ir.Table:
    tx = engine.table("transactions")
    if tx is None:
        raise DataValidationError("no transactions table in the workspace", source="transactions")
    missing = [c for c in _REQUIRED if c not in tx.columns]
    if missing:
        raise DataValidationError(
            f"transactions lack column(s) {', '.join(missing)}", source="transactions"
        )
    return tx


def _per_customer(
    engine: Engine,
    tx: ir.Table,
    *,
    cal_end: datetime,
    hold_end: datetime | None,
    obs_start: datetime | None,
    unit_seconds: float,
    merge: bool,
) -> ir.Table:
    """The summary's expression, one row per customer, holdout columns always there."""
    cal = ibis.literal(cal_end, type="timestamp")
    lines = tx.filter(tx["customer_id"].notnull(), tx["ts"].notnull())
    # a line is a return when is_return is true, or (is_return NULL) when its amount is negative
    ret = ibis.coalesce(lines["is_return"], lines["amount"] < 0, False)
    lines = lines.select("customer_id", "order_id", "ts", "amount", ret=ret)

    # one row per purchase: a purchase day, or an order (timed at its first line)
    bought = lines.filter(~lines["ret"])
    if merge:
        bought = bought.mutate(key=bought["ts"].truncate("D"))
        gross = bought.group_by(["customer_id", "key"]).aggregate(
            value=bought["amount"].sum().fill_null(0.0)
        )
        gross = gross.select("customer_id", t=gross["key"], value=gross["value"])
    else:
        bought = bought.mutate(
            key=bought["order_id"].fill_null(bought["ts"].cast("string")),
        )
        gross = bought.group_by(["customer_id", "key"]).aggregate(
            t=bought["ts"].min(), value=bought["amount"].sum().fill_null(0.0)
        )
        gross = gross.drop("key")

    # each return undoes the customer's latest purchase at or before it (an as-of join, written
    # as a running maximum over purchases and returns in time order, purchases first at a tie,
    # which both engines run), and only within the same period: a calibration purchase is not
    # netted with a later holdout return, which would leak the future into calibration
    returns = lines.filter(lines["ret"])
    rt = returns["ts"].truncate("D") if merge else returns["ts"]
    stream = gross.select(
        "customer_id", at=gross["t"], kind=ibis.literal(0), amount=ibis.null("float64")
    ).union(
        returns.select(
            "customer_id",
            at=rt,
            kind=ibis.literal(1),
            amount=returns["amount"].abs().cast("float64"),
        )
    )
    latest = ibis.cumulative_window(group_by="customer_id", order_by=["at", "kind"])
    stream = stream.mutate(
        t=ibis.ifelse(stream["kind"] == 0, stream["at"], ibis.null()).max().over(latest)
    )
    undone = stream.filter(
        stream["kind"] == 1,
        stream["t"].notnull(),
        (stream["at"] <= cal) == (stream["t"] <= cal),
    )
    returned = undone.group_by(["customer_id", "t"]).aggregate(returned=undone["amount"].sum())

    # net values; a purchase wholly returned is no transaction. A zero-value purchase with
    # nothing returned stays one (it is a visit), but carries no spend. Sums of the same
    # amounts in another order differ in the last bits, so what is left of a purchase after
    # its returns must be more than rounding (a share of its value) for it to count
    joined = gross.left_join(returned, ["customer_id", "t"])
    net = joined["value"] - joined["returned"]
    events = joined.filter(
        joined["returned"].isnull() | (net > _ROUNDING * joined["value"])
    ).select(
        "customer_id",
        "t",
        value=joined["value"] - joined["returned"].fill_null(0.0),
    )

    firsts = events.group_by("customer_id").aggregate(t0=events["t"].min())
    keep = firsts["t0"] <= cal
    if obs_start is not None:
        keep &= firsts["t0"] >= ibis.literal(obs_start, type="timestamp")
    firsts = firsts.filter(keep)
    e = events.filter(events["t"] <= cal).join(firsts, "customer_id")
    calibration = e.group_by("customer_id").aggregate(
        t0=e["t0"].min(),
        frequency=e.count() - 1,
        t_last=e["t"].max(),
        # Gamma-Gamma's spend: repeat transactions with positive net value only
        monetary_value=e["value"].mean(where=(e["t"] > e["t0"]) & (e["value"] > 0)),
    )

    epoch = engine.epoch_seconds
    cal_s = epoch(cal)
    if hold_end is None:
        holdout = None
        duration = ibis.null("float64")
    else:
        hold = ibis.literal(hold_end, type="timestamp")
        later = events.filter(events["t"] > cal, events["t"] <= hold)
        holdout = later.group_by("customer_id").aggregate(n=later.count(), m=later["value"].mean())
        duration = (epoch(hold) - cal_s) / unit_seconds
    c = calibration
    if holdout is not None:
        c = c.left_join(holdout, "customer_id")
    n = c["n"] if holdout is not None else ibis.literal(0, "int64")
    m = c["m"] if holdout is not None else ibis.literal(0.0)
    return c.select(
        customer_id=c["customer_id"],
        frequency=c["frequency"].cast("int64"),
        recency=(epoch(c["t_last"]) - epoch(c["t0"])) / unit_seconds,
        T=(cal_s - epoch(c["t0"])) / unit_seconds,
        monetary_value=c["monetary_value"].fill_null(0.0).cast("float64"),
        frequency_holdout=n.fill_null(0).cast("int64"),
        monetary_holdout=m.fill_null(0.0).cast("float64"),
        duration_holdout=duration.cast("float64"),
    )
