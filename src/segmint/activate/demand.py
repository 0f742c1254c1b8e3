"""Expected demand per category, and per segment × category, over the next weeks.

The unit is **orders that contain the category** (an order with a mug and a lamp counts once
for kitchen and once for lighting), because that is what a shop plans stock and prices on.

Two models, both as of a run's ``as_of``:

- **customer model** (when ``segmint predict`` has scored the run): each customer's expected
  purchases over the horizon (the purchase model's 12-month expectation, stored in
  ``predictions.expected_purchases``, scaled to ``weeks / 52.18``), summed per segment, spread
  over categories by the segment's category mix of recent orders (share of its orders in the
  last 13 weeks that contain each category), blended with the run rate below:
  ``expected = MODEL_WEIGHT * customer model + (1 - MODEL_WEIGHT) * run rate``. The run rate
  carries what the customer model cannot see (customers who have not bought yet); the weight
  was chosen on Online Retail at a cut-off before the ones the benchmark reports
  (``benchmarks/bench_demand.py``).
- **run rate** (no predictions, said in the output's ``note``): the mean of the last 4 and
  the last 13 weeks' weekly orders, times ``weeks``.

The interval is a negative binomial around the expectation whose variance is the series'
own weekly dispersion (variance / mean of the 13 weekly counts, at least 1: Poisson) times
the expectation, the ``level`` central quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from segmint.errors import SegmintError

__all__ = [
    "MODEL_WEIGHT",
    "DemandForecast",
    "demand_backtest",
    "demand_effect",
    "demand_forecast",
    "forecast_frame",
    "interval",
    "wape",
    "weekly_orders",
]

#: ``predictions.expected_purchases`` is over 12 months; weeks in those months
WEEKS_PER_YEAR = 52.18
#: the run-rate windows, in weeks
SHORT_WEEKS, LONG_WEEKS = 4, 13
#: weight of the customer model in the blend with the run rate (bench_demand.py, cut-off
#: 2011-08-01 on Online Retail; the reported cut-offs are later)
MODEL_WEIGHT = 0.25
MAX_WEEKS = 52
#: categories are grouped as "uncategorised" when neither the line nor the product has one
UNCATEGORISED = "uncategorised"
_BY = ("category", "segment")


@dataclass(frozen=True)
class DemandForecast:
    """Expected orders per category (``by="category"``) or per segment × category.

    ``table`` columns: (``segment_id``, ``segment``,) ``category``, ``expected_orders``,
    ``lower``, ``upper``, ``run_rate_4w``, ``run_rate_13w`` (orders over the horizon at the
    last 4 / 13 weeks' weekly rate), ``change_vs_run_rate`` (expected / 13-week run rate - 1,
    None where the run rate is 0), and ``customer_model`` (the customer model alone; None
    without predictions).
    """

    run_id: int
    as_of: datetime
    weeks: int
    by: str
    method: str  # "customer model + run rate" or "run rate"
    note: str
    level: float
    table: pd.DataFrame = field(repr=False)
    withheld_segments: int = 0

    def to_dict(self) -> dict:
        rows = self.table.astype(object).where(self.table.notna(), None).to_dict("records")
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "weeks": self.weeks,
            "by": self.by,
            "method": self.method,
            "note": self.note,
            "level": self.level,
            "withheld_segments": self.withheld_segments,
            "rows": rows,
        }


def _check(weeks: int, by: str, level: float) -> None:
    if isinstance(weeks, bool) or not isinstance(weeks, int | np.integer):
        raise SegmintError(f"weeks must be a whole number of weeks, got {weeks!r}")
    if not 1 <= weeks <= MAX_WEEKS:
        raise SegmintError(f"weeks must be between 1 and {MAX_WEEKS}, got {weeks}")
    if by not in _BY:
        raise SegmintError(f"unknown grouping {by!r}; expected one of {', '.join(_BY)}")
    if not 0 < level < 1:
        raise SegmintError(f"interval level must lie between 0 and 1, got {level}")


def _lines_sql(category_map: bool) -> str:
    """Purchase lines with their category (the line's, else the product's)."""
    if not category_map:
        return (
            f"SELECT customer_id, order_id, ts, coalesce(category, '{UNCATEGORISED}') AS category"
            " FROM transactions WHERE NOT is_return"
        )
    return f"""SELECT t.customer_id, t.order_id, t.ts,
                      coalesce(t.category, pc.category, '{UNCATEGORISED}') AS category
               FROM transactions t
               LEFT JOIN (SELECT product_id, max(CAST(category AS VARCHAR)) AS category
                          FROM product_categories GROUP BY product_id) pc USING (product_id)
               WHERE NOT t.is_return"""


def _has_category_map(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'product_categories'"
    ).fetchall()[0][0]
    return bool(found)


def weekly_orders(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    weeks: int,
    *,
    run_id: int | None = None,
) -> pd.DataFrame:
    """Orders containing each category in each of ``weeks`` weeks from ``start``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A workspace connection.
    start : datetime
        The first week's start; week ``k`` is ``[start + 7k days, start + 7(k+1) days)``.
    weeks : int
        How many weeks.
    run_id : int, optional
        With a run, lines are also grouped by the buyer's segment in it (``segment_id``; -1
        for buyers the run does not hold).

    Returns
    -------
    DataFrame
        ``(segment_id,) category, week, orders``: only the weeks with orders (see
        :func:`forecast_frame` for the zeros).
    """
    end = start + timedelta(weeks=weeks)
    segment = "coalesce(a.segment_id, -1) AS segment_id," if run_id is not None else ""
    join = (
        "LEFT JOIN assignments a ON a.customer_id = l.customer_id AND a.run_id = ?"
        if run_id is not None
        else ""
    )
    params = [start, *([] if run_id is None else [run_id]), start, end]
    return con.execute(
        f"""SELECT {segment} l.category,
                   CAST(floor((epoch(l.ts) - epoch(CAST(? AS TIMESTAMP))) / 604800) AS INTEGER)
                     AS week,
                   count(DISTINCT l.order_id) AS orders
            FROM ({_lines_sql(_has_category_map(con))}) l {join}
            WHERE l.ts >= ? AND l.ts < ?
            GROUP BY ALL ORDER BY ALL""",
        params,
    ).df()


def wape(actual, forecast) -> float:
    """Weighted absolute percentage error: sum |actual - forecast| / sum actual.

    >>> wape([10, 0, 5], [8, 1, 5])
    0.2
    """
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    total = a.sum()
    if total <= 0:
        raise SegmintError("WAPE needs some actual orders; the held-out weeks have none")
    return float(np.abs(a - f).sum() / total)


def interval(mean, dispersion, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of a count with this mean and variance ``dispersion * mean``
    (negative binomial; Poisson where the dispersion is at most 1)."""
    mu = np.asarray(mean, dtype=float)
    phi = np.maximum(np.asarray(dispersion, dtype=float), 1.0)
    q = ((1 - level) / 2, (1 + level) / 2)
    lower, upper = np.zeros_like(mu), np.zeros_like(mu)
    pos = mu > 0
    over = pos & (phi > 1.0 + 1e-9)
    pois = pos & ~over
    n = mu[over] / (phi[over] - 1.0)
    lower[over], upper[over] = (stats.nbinom.ppf(p, n, 1.0 / phi[over]) for p in q)
    lower[pois], upper[pois] = (stats.poisson.ppf(p, mu[pois]) for p in q)
    return lower, upper


def forecast_frame(
    history: pd.DataFrame,
    keys: list[str],
    weeks: int,
    *,
    customer_model: pd.Series | None = None,
    model_weight: float = MODEL_WEIGHT,
    level: float = 0.9,
    universe: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Expected orders per series from its last 13 weeks (and the customer model).

    Parameters
    ----------
    history : DataFrame
        ``keys``, ``week`` (0 = the oldest of the 13 weeks, 12 = the latest), ``orders``.
    keys : list of str
        The series' key columns (``["category"]`` or ``["segment_id", "category"]``).
    weeks : int
        The horizon.
    customer_model : Series, optional
        Expected orders over the horizon from the customers' predictions, indexed by ``keys``.
    model_weight : float
        The customer model's weight in the blend with the run rate.
    level : float
        The interval's coverage.
    universe : DataFrame, optional
        Every series to report (``keys`` columns), those without recent orders included.

    Returns
    -------
    DataFrame
        See :class:`DemandForecast`.
    """
    grid = history.pivot_table(index=keys, columns="week", values="orders", aggfunc="sum")
    grid = grid.reindex(columns=range(LONG_WEEKS), fill_value=0).fillna(0.0)
    if universe is not None:
        index = pd.MultiIndex.from_frame(universe[keys]) if len(keys) > 1 else universe[keys[0]]
        grid = grid.reindex(grid.index.union(index), fill_value=0.0)
    counts = grid.to_numpy(dtype=float)
    rate4 = counts[:, -SHORT_WEEKS:].mean(axis=1) if counts.size else np.zeros(0)
    rate13 = counts.mean(axis=1) if counts.size else np.zeros(0)
    var13 = counts.var(axis=1, ddof=1) if counts.size else np.zeros(0)
    dispersion = np.where(rate13 > 0, var13 / np.where(rate13 > 0, rate13, 1.0), 1.0)
    run_rate = weeks * (rate4 + rate13) / 2
    expected = run_rate
    model = None
    if customer_model is not None:
        model = customer_model.reindex(grid.index).fillna(0.0).to_numpy(dtype=float)
        expected = model_weight * model + (1 - model_weight) * run_rate
    lower, upper = interval(expected, dispersion, level)
    base = weeks * rate13
    out = grid.index.to_frame(index=False)
    out["expected_orders"] = expected
    out["lower"] = lower
    out["upper"] = upper
    out["run_rate_4w"] = weeks * rate4
    out["run_rate_13w"] = base
    out["change_vs_run_rate"] = np.where(
        base > 0, expected / np.where(base > 0, base, 1.0) - 1.0, np.nan
    )
    out["customer_model"] = model if model is not None else np.nan
    return out.sort_values(
        [*keys[:-1], "expected_orders"], ascending=[True] * (len(keys) - 1) + [False]
    ).reset_index(drop=True)


def _customer_model(
    con: duckdb.DuckDBPyConnection, run_id: int, as_of: datetime, weeks: int
) -> pd.DataFrame | None:
    """Expected orders over the horizon per segment × category from the predictions, or None
    when the run has none."""
    scored = con.execute(
        "SELECT count(*) FROM predictions WHERE run_id = ? AND expected_purchases IS NOT NULL",
        [run_id],
    ).fetchall()[0][0]
    if not scored:
        return None
    start = as_of - timedelta(weeks=LONG_WEEKS)
    # each segment's share of orders containing a category over the 13 weeks; segments without
    # recent orders take the shop's mix
    return con.execute(
        f"""WITH lines AS (
                SELECT l.*, coalesce(a.segment_id, -1) AS segment_id
                FROM ({_lines_sql(_has_category_map(con))}) l
                LEFT JOIN assignments a ON a.customer_id = l.customer_id AND a.run_id = ?
                WHERE l.ts >= ? AND l.ts < ?),
            seg_orders AS (SELECT segment_id, count(DISTINCT order_id) AS n FROM lines
                           GROUP BY ALL),
            seg_mix AS (SELECT segment_id, category,
                               count(DISTINCT order_id) / any_value(s.n) AS share
                        FROM lines JOIN seg_orders s USING (segment_id) GROUP BY ALL),
            shop_mix AS (SELECT category, count(DISTINCT order_id)
                                / (SELECT count(DISTINCT order_id) FROM lines) AS share
                         FROM lines GROUP BY ALL),
            expected AS (SELECT a.segment_id,
                                sum(p.expected_purchases) * ? / {WEEKS_PER_YEAR} AS orders
                         FROM assignments a JOIN predictions p USING (run_id, customer_id)
                         WHERE a.run_id = ? GROUP BY ALL),
            mixed AS (SELECT e.segment_id, m.category, e.orders * m.share AS orders
                      FROM expected e JOIN seg_mix m USING (segment_id)
                      UNION ALL
                      SELECT e.segment_id, m.category, e.orders * m.share
                      FROM expected e CROSS JOIN shop_mix m
                      WHERE e.segment_id NOT IN (SELECT segment_id FROM seg_orders))
            SELECT segment_id, category, sum(orders) AS orders FROM mixed GROUP BY ALL""",
        [run_id, start, as_of, weeks, run_id],
    ).df()


def demand_forecast(
    con: duckdb.DuckDBPyConnection,
    run: dict,
    *,
    weeks: int = 4,
    by: str = "category",
    level: float = 0.9,
    min_audience: int = 0,
    model_weight: float = MODEL_WEIGHT,
) -> DemandForecast:
    """Expected orders per category, or per segment × category, over ``weeks`` weeks after
    the run's ``as_of``, with an interval, against the recent run rate.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A workspace connection.
    run : dict
        The run (:func:`segmint.store.runs.get_run`).
    weeks : int, default=4
        The horizon, 1 to 52 weeks.
    by : {"category", "segment"}
        Per category, or per segment × category.
    level : float, default=0.9
        The interval's coverage.
    min_audience : int
        Segments with fewer customers are left out of ``by="segment"`` (and counted).
    model_weight : float
        See the module docstring.

    Raises
    ------
    SegmintError
        A horizon that is not 1 to 52 whole weeks, an unknown grouping, or a run without
        purchases in the 13 weeks before its ``as_of``.
    """
    _check(weeks, by, level)
    run_id = int(run["run_id"])
    as_of = pd.Timestamp(run["as_of"]).to_pydatetime()
    start = as_of - timedelta(weeks=LONG_WEEKS)
    history = weekly_orders(con, start, LONG_WEEKS, run_id=run_id)
    if history.empty:
        raise SegmintError(
            f"run {run_id} has no purchases in the {LONG_WEEKS} weeks before its as-of date "
            f"{as_of:%Y-%m-%d}: demand needs recent orders (a run on customers alone has none)"
        )
    # every category seen before as_of, so one without recent orders shows as 0
    categories = con.execute(
        f"SELECT DISTINCT category FROM ({_lines_sql(_has_category_map(con))}) l WHERE ts < ?",
        [as_of],
    ).df()
    model = _customer_model(con, run_id, as_of, weeks)
    method = "customer model + run rate" if model is not None else "run rate"
    if model is None:
        note = (
            f"no predictions for run {run_id}: expected orders are the run rate (mean of the "
            f"last {SHORT_WEEKS} and {LONG_WEEKS} weeks' weekly orders) x {weeks} weeks; run "
            "`segmint predict` for the customer model"
        )
    else:
        note = (
            f"customers' expected purchases (segmint predict) spread by each segment's category "
            f"mix, blended {model_weight:.0%} with the run rate"
        )
    withheld = 0
    if by == "category":
        keys = ["category"]
        history = history.groupby(keys + ["week"], as_index=False)["orders"].sum()
        universe = categories
        series = None if model is None else model.groupby("category")["orders"].sum()
    else:
        keys = ["segment_id", "category"]
        segs = con.execute(
            "SELECT segment_id, name AS segment, size FROM segments WHERE run_id = ?", [run_id]
        ).df()
        small = segs.loc[segs["size"] < min_audience, "segment_id"]
        withheld = int(len(small))
        history = history[
            history["segment_id"].isin(segs["segment_id"]) & ~history["segment_id"].isin(small)
        ]
        kept = segs.loc[~segs["segment_id"].isin(small), ["segment_id"]]
        universe = kept.merge(categories, how="cross")
        series = None if model is None else model.set_index(keys)["orders"]
    table = forecast_frame(
        history,
        keys,
        weeks,
        customer_model=series,
        model_weight=model_weight,
        level=level,
        universe=universe,
    )
    if by == "segment":
        names = segs.set_index("segment_id")["segment"]
        table.insert(1, "segment", table["segment_id"].map(names))
    return DemandForecast(run_id, as_of, weeks, by, method, note, level, table, withheld)


def demand_effect(
    baseline_weekly_orders: float,
    relative_change: float,
    *,
    category: str,
    segment: str,
) -> dict:
    """What a shift in a segment's interest in a category means for next week's orders.

    Parameters
    ----------
    baseline_weekly_orders : float
        The segment's usual weekly orders containing the category.
    relative_change : float
        The shift (0.35 means +35%).
    category, segment : str
        For the sentence.

    Returns
    -------
    dict
        ``expected_change_orders`` (baseline x shift), ``baseline_weekly_orders``,
        ``relative_change`` and ``demand_message``, e.g. "demand for garden among Big
        spenders up 35%: about +120 orders next week".

    Examples
    --------
    >>> demand_effect(40, 0.5, category="garden", segment="Big spenders")["demand_message"]
    'demand for garden among Big spenders up 50%: about +20 orders next week'
    """
    base = float(baseline_weekly_orders)
    change = float(relative_change)
    if not np.isfinite(change):
        change_orders = None
        text = f"demand for {category} among {segment} is new: no baseline orders to compare"
    else:
        change_orders = round(base * change, 1)
        direction = "up" if change >= 0 else "down"
        text = (
            f"demand for {category} among {segment} {direction} {abs(change):.0%}: about "
            f"{change_orders:+,.0f} orders next week"
        )
    return {
        "expected_change_orders": change_orders,
        "baseline_weekly_orders": round(base, 2),
        "relative_change": change,
        "demand_message": text,
    }


def demand_backtest(
    con: duckdb.DuckDBPyConnection,
    run: dict,
    *,
    weeks: int = 4,
    model_weights: tuple[float, ...] = (MODEL_WEIGHT,),
) -> dict:
    """Held-out check of the per-category forecast on the weeks after the run's ``as_of``.

    The weekly forecast of each method is compared with the orders that happened (weekly
    WAPE over every category × week):

    - ``model w=<weight>``: :func:`demand_forecast` (its total spread evenly over the weeks)
      for each weight (1: customer model alone, 0: run rate alone; needs predictions);
    - ``naive``: each category's orders in the last week before ``as_of``, every week;
    - ``seasonal naive (4-week cycle)``: week k repeats week k of the last 4 weeks (Online
      Retail holds one year, so a 52-week season cannot be had before its last month).

    Returns
    -------
    dict
        ``wape`` (method -> WAPE), ``weeks``, ``as_of``, ``categories``, ``actual_orders``.
    """
    _check(weeks, "category", 0.9)
    as_of = pd.Timestamp(run["as_of"]).to_pydatetime()
    actual = weekly_orders(con, as_of, weeks)
    if actual.empty:
        raise SegmintError(f"no orders in the {weeks} weeks after {as_of:%Y-%m-%d} to check on")
    recent = weekly_orders(con, as_of - timedelta(weeks=SHORT_WEEKS), SHORT_WEEKS)
    categories = sorted(set(actual["category"]) | set(recent["category"]))
    shape = pd.MultiIndex.from_product([categories, range(weeks)], names=["category", "week"])
    truth = actual.set_index(["category", "week"])["orders"].reindex(shape, fill_value=0)
    last4 = recent.pivot_table(index="category", columns="week", values="orders", aggfunc="sum")
    last4 = last4.reindex(index=categories, columns=range(SHORT_WEEKS)).fillna(0.0)
    cycle = np.arange(weeks) % SHORT_WEEKS
    naive = np.repeat(last4[SHORT_WEEKS - 1].to_numpy()[:, None], weeks, axis=1)
    seasonal = last4.to_numpy()[:, cycle]
    y = truth.to_numpy(dtype=float)
    scores = {
        "naive (last week)": wape(y, naive.ravel()),
        "seasonal naive (4-week cycle)": wape(y, seasonal.ravel()),
    }
    for w in model_weights:
        f = demand_forecast(con, run, weeks=weeks, model_weight=w).table
        weekly = f.set_index("category")["expected_orders"].reindex(categories).fillna(0.0)
        scores[f"model w={w:g}"] = wape(y, np.repeat(weekly.to_numpy() / weeks, weeks))
    return {
        "as_of": as_of.date().isoformat(),
        "weeks": weeks,
        "categories": len(categories),
        "actual_orders": int(y.sum()),
        "wape": scores,
    }
