"""The market view: per country (or any customer attribute), who the customers are, what they
are worth, how that grows, how deep the shop has gone, and where to expand.

Per market, as of the run's ``as_of``:

- ``customers``, ``share`` of all the run's customers, and ``segment_mix`` (share per segment);
- value: ``revenue_90d`` and ``revenue_365d`` (net line amounts before ``as_of``),
  ``revenue_per_customer`` (365 days) and ``mean_clv`` (when ``segmint predict`` scored the
  run);
- growth: ``revenue_growth`` (last 90 days against the 90 before, -1..inf; None without
  revenue before) and ``new_customers_90d`` against ``new_customers_prev_90d`` (first
  purchase in the window);
- penetration: ``high_value_share`` (customers flagged high value by ``segmint predict``; without
  predictions, customers in the segment worth most per customer), and with a population file
  ``customers_per_1000`` people;
- ``expand_score`` (0..1, higher = expand there first) and ``expand_rank``: the mean, over
  markets, of the percentile ranks of revenue per customer, revenue growth and high-value
  share, and, when populations are known, of low ``customers_per_1000`` (room left to grow).
  Markets where a measure is missing get the middle rank (0.5) on it.

Markets with fewer customers than the minimum audience are grouped as ``other``, so no small
group is described; ``other`` is not ranked (it is many markets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pandas as pd

from segmint.errors import SegmintError

__all__ = ["MarketView", "market_keys", "market_view", "read_population"]

OTHER = "other"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class MarketView:
    """One row per market (``table``), best place to expand first."""

    run_id: int
    as_of: str
    by: str
    min_audience: int
    has_predictions: bool
    high_value: str  # how high value is defined here
    table: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict:
        rows = self.table.astype(object).where(self.table.notna(), None).to_dict("records")
        return {
            "run_id": self.run_id,
            "as_of": self.as_of,
            "by": self.by,
            "min_audience": self.min_audience,
            "high_value": self.high_value,
            "markets": rows,
        }


def market_keys(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``country`` and every attribute key of the customers."""
    keys = con.execute(
        """SELECT DISTINCT unnest(json_keys(attributes)) AS k FROM customers
           WHERE attributes IS NOT NULL ORDER BY k"""
    ).fetchall()
    return ["country", *[k for (k,) in keys]]


def _market_expr(con: duckdb.DuckDBPyConnection, by: str) -> tuple[str, list]:
    """The SQL of a customer's market, and its parameters."""
    if by.strip().casefold() == "country":
        return "c.country", []
    keys = market_keys(con)[1:]
    exact = [k for k in keys if k == by] or [k for k in keys if k.casefold() == by.casefold()]
    if not exact:
        raise SegmintError(
            f"unknown market attribute {by!r}; expected country or one of the customers' "
            f"attributes: {', '.join(keys[:30]) or 'none (the customers have no attributes)'}"
        )
    return "json_extract_string(c.attributes, ?)", ["$." + f'"{exact[0]}"']


def read_population(con: duckdb.DuckDBPyConnection, view: str, source: str) -> pd.DataFrame:
    """``market, population`` from a file opened as ``view`` (two columns: the first is the
    market, the second its number of people)."""
    frame = con.execute(f'SELECT * FROM "{view}"').df()
    if frame.shape[1] < 2:
        raise SegmintError(
            f"{source}: a population file needs two columns, market and population; found "
            f"{list(frame.columns)}"
        )
    out = pd.DataFrame(
        {
            "market": frame.iloc[:, 0].astype(str).str.strip(),
            "population": pd.to_numeric(frame.iloc[:, 1], errors="coerce"),
        }
    )
    bad = out["population"].isna() | (out["population"] <= 0)
    if bad.any():
        first = out.loc[bad, "market"].iloc[0]
        raise SegmintError(
            f"{source}: population of {first!r} is not a positive number (column "
            f"{frame.columns[1]!r}); expected market,population rows"
        )
    return out


def market_view(
    con: duckdb.DuckDBPyConnection,
    run: dict,
    *,
    by: str = "country",
    min_audience: int = 50,
    population: pd.DataFrame | None = None,
) -> MarketView:
    """The market view of a run (see the module docstring).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A workspace connection.
    run : dict
        The run (:func:`segmint.store.runs.get_run`).
    by : str, default="country"
        ``country`` or a customer attribute key.
    min_audience : int
        Markets with fewer customers are grouped as ``other``.
    population : DataFrame, optional
        ``market, population`` (:func:`read_population`).

    Raises
    ------
    SegmintError
        An unknown attribute (naming the known ones).
    """
    run_id = int(run["run_id"])
    as_of = pd.Timestamp(run["as_of"]).to_pydatetime()
    expr, expr_params = _market_expr(con, by)
    has_predictions = bool(
        con.execute("SELECT count(*) FROM predictions WHERE run_id = ?", [run_id]).fetchall()[0][0]
    )
    if has_predictions:
        high = "p.high_value"
        high_text = "flagged high value by segmint predict"
    else:
        high = """a.segment_id = (SELECT segment_id FROM segments WHERE run_id = ? AND size > 0
                                  ORDER BY value_share / size DESC, segment_id LIMIT 1)"""
        high_text = "in the segment worth most per customer (no predictions)"
    con.register(
        "_market_population",
        population
        if population is not None
        else pd.DataFrame({"market": pd.Series(dtype=str), "population": pd.Series(dtype=float)}),
    )
    try:
        main = con.execute(
            f"""WITH cust AS (
                  SELECT a.customer_id, a.segment_id,
                         coalesce(nullif(trim({expr}), ''), '{UNKNOWN}') AS raw_market,
                         coalesce(({high}), false) AS high_value, p.clv
                  FROM assignments a JOIN customers c USING (customer_id)
                  LEFT JOIN predictions p ON p.run_id = a.run_id AND p.customer_id = a.customer_id
                  WHERE a.run_id = ?),
                sized AS (
                  SELECT *, CASE WHEN count(*) OVER (PARTITION BY raw_market) >= ?
                                 THEN raw_market ELSE '{OTHER}' END AS market
                  FROM cust),
                money AS (
                  SELECT customer_id,
                    sum(amount) FILTER (WHERE ts >= ? - INTERVAL 90 DAY) AS r90,
                    sum(amount) FILTER (WHERE ts >= ? - INTERVAL 180 DAY
                                          AND ts < ? - INTERVAL 90 DAY) AS r_prev90,
                    sum(amount) FILTER (WHERE ts >= ? - INTERVAL 365 DAY) AS r365,
                    min(ts) AS first_ts
                  FROM transactions WHERE ts < ? GROUP BY customer_id),
                agg AS (
                  SELECT s.market, count(*) AS customers,
                         count(*) / sum(count(*)) OVER () AS share,
                         coalesce(sum(m.r90), 0) AS revenue_90d,
                         coalesce(sum(m.r_prev90), 0) AS revenue_prev_90d,
                         coalesce(sum(m.r365), 0) AS revenue_365d,
                         coalesce(sum(m.r365), 0) / count(*) AS revenue_per_customer,
                         avg(s.clv) AS mean_clv,
                         count(*) FILTER (WHERE m.first_ts >= ? - INTERVAL 90 DAY)
                           AS new_customers_90d,
                         count(*) FILTER (WHERE m.first_ts >= ? - INTERVAL 180 DAY
                                            AND m.first_ts < ? - INTERVAL 90 DAY)
                           AS new_customers_prev_90d,
                         avg(s.high_value::INT) AS high_value_share
                  FROM sized s LEFT JOIN money m USING (customer_id)
                  GROUP BY s.market),
                measured AS (
                  SELECT agg.*,
                         CASE WHEN revenue_prev_90d > 0
                              THEN revenue_90d / revenue_prev_90d - 1 END AS revenue_growth,
                         pop.population,
                         CASE WHEN pop.population > 0
                              THEN 1000.0 * customers / pop.population END AS customers_per_1000
                  FROM agg LEFT JOIN _market_population pop USING (market)),
                ranked AS (
                  SELECT *,
                    percent_rank() OVER (ORDER BY revenue_per_customer) AS r_value,
                    CASE WHEN revenue_growth IS NULL THEN 0.5
                         ELSE percent_rank() OVER (ORDER BY revenue_growth NULLS FIRST) END
                      AS r_growth,
                    percent_rank() OVER (ORDER BY high_value_share) AS r_high,
                    CASE WHEN customers_per_1000 IS NULL THEN 0.5
                         ELSE percent_rank() OVER (ORDER BY customers_per_1000 DESC NULLS FIRST)
                      END AS r_room
                  FROM measured)
            SELECT * EXCLUDE (r_value, r_growth, r_high, r_room),
                   CASE WHEN ? THEN (r_value + r_growth + r_high + r_room) / 4
                        ELSE (r_value + r_growth + r_high) / 3 END AS expand_score
            FROM ranked""",
            [
                *expr_params,
                *([] if has_predictions else [run_id]),
                run_id,
                int(min_audience),
                *([as_of] * 5),
                *([as_of] * 3),
                population is not None,
            ],
        ).df()
        mix = con.execute(
            f"""WITH cust AS (
                  SELECT a.segment_id,
                         coalesce(nullif(trim({expr}), ''), '{UNKNOWN}') AS raw_market
                  FROM assignments a JOIN customers c USING (customer_id) WHERE a.run_id = ?),
                sized AS (
                  SELECT segment_id, CASE WHEN count(*) OVER (PARTITION BY raw_market) >= ?
                                          THEN raw_market ELSE '{OTHER}' END AS market
                  FROM cust)
                SELECT market, s.name AS segment, count(*) AS n
                FROM sized JOIN segments s ON s.run_id = ? AND s.segment_id = sized.segment_id
                GROUP BY ALL""",
            [*expr_params, run_id, int(min_audience), run_id],
        ).df()
    finally:
        con.unregister("_market_population")
    if main.empty:
        raise SegmintError(f"run {run_id} has no customers to group by {by}")
    totals = mix.groupby("market")["n"].transform("sum")
    mix["share"] = (mix["n"] / totals).round(4)
    shares = {m: dict(zip(g["segment"], g["share"], strict=True)) for m, g in mix.groupby("market")}
    main["segment_mix"] = main["market"].map(shares)
    # "other" is many small markets at once: described, not a place to expand to
    main.loc[main["market"] == OTHER, "expand_score"] = None
    main = main.sort_values(
        ["expand_score", "customers"], ascending=[False, False], na_position="last"
    )
    main["expand_rank"] = range(1, len(main) + 1)
    return MarketView(
        run_id=run_id,
        as_of=as_of.date().isoformat(),
        by=by,
        min_audience=int(min_audience),
        has_predictions=has_predictions,
        high_value=high_text,
        table=main.reset_index(drop=True),
    )
