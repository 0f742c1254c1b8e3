"""What an action needs to know of each customer: name, value, favourite category, contact.

One query gives them for a run's customers (all of them, or some); ``CustomerFacts`` holds
them as arrays with an id index so the live next-best-action reads one customer in O(1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from segmint.store.runs import features_table

#: customer attributes read as the first name, first found first
NAME_KEYS = ("first_name", "firstname", "given_name", "name")


def facts_frame(
    con: duckdb.DuckDBPyConnection, run_id: int, ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per assigned customer of ``run_id`` (or of ``ids`` among them): segment,
    micro-segment, first name, CLV, average order value, top category, whether an email
    address and a phone number are known and whether they use the web or app."""
    features = features_table(run_id)
    columns = {r[0] for r in con.execute(f"DESCRIBE {features}").fetchall()}
    aov = "f.avg_order_value" if "avg_order_value" in columns else "NULL::DOUBLE"
    name = ", ".join(f"c.attributes->>'{k}'" for k in NAME_KEYS)
    where, params = "", [run_id]
    if ids is not None:
        con.register("_fact_ids", pa.table({"customer_id": pa.array(list(ids), pa.string())}))
        where = "AND a.customer_id IN (SELECT customer_id FROM _fact_ids)"
    try:
        return con.execute(
            f"""
            WITH contact AS (
                SELECT customer_id, bool_or(kind = 'email') AS has_email,
                       bool_or(kind = 'phone') AS has_phone
                FROM identities GROUP BY customer_id
            ),
            web AS (SELECT DISTINCT customer_id FROM events)
            SELECT a.customer_id, a.segment_id, a.micro_segment_id,
                   coalesce({name}) AS first_name, p.clv, {aov} AS avg_order_value,
                   p.top_category,
                   coalesce(k.has_email, false) AS has_email,
                   coalesce(k.has_phone, false) AS has_phone,
                   w.customer_id IS NOT NULL AS has_web
            FROM assignments a
            LEFT JOIN customers c USING (customer_id)
            LEFT JOIN predictions p ON p.run_id = a.run_id AND p.customer_id = a.customer_id
            LEFT JOIN {features} f ON f.customer_id = a.customer_id
            LEFT JOIN contact k ON k.customer_id = a.customer_id
            LEFT JOIN web w ON w.customer_id = a.customer_id
            WHERE a.run_id = ? {where}
            ORDER BY a.customer_id
            """,
            params,
        ).df()
    finally:
        if ids is not None:
            con.unregister("_fact_ids")


def customer_context(row: dict) -> dict:
    """A fact row as the ``customer`` a template sees (unknown fields left out, so the
    template's defaults apply)."""
    out = {"id": row["customer_id"]}
    for key in ("first_name", "top_category"):
        if isinstance(row.get(key), str) and row[key]:
            out[key] = row[key]
    for key in ("clv", "avg_order_value"):
        value = row.get(key)
        if value is not None and not pd.isna(value):
            out[key] = round(float(value), 2)
    return out


@dataclass
class CustomerFacts:
    """:func:`facts_frame` as arrays, indexed by customer id."""

    index: dict[str, int]
    frame: dict[str, np.ndarray]

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, run_id: int) -> CustomerFacts:
        frame = facts_frame(con, run_id)
        index = {c: i for i, c in enumerate(frame["customer_id"].tolist())}
        return cls(index, {k: frame[k].to_numpy() for k in frame.columns})

    def get(self, customer_id: str) -> dict | None:
        """The customer's facts, or None for a customer the run did not assign."""
        row = self.index.get(customer_id)
        if row is None:
            return None
        return {k: _plain(v[row]) for k, v in self.frame.items()}


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    return value
