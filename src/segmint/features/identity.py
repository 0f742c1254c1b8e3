"""Identity resolution: the customer behind every id that events and messages carry.

Anonymous cookie and device ids, emails, phones and customer ids are nodes; a row of the
``identities`` table and an ``identify`` event (``properties.anonymous_id`` seen as the event's
customer) are edges. Connected components (a union-find, run by SciPy on integer node numbers)
are the people. Rules, all deterministic:

* a component's customer is its customer id that has purchases, the smallest such id when
  several do (the others are merged into it), else its smallest customer id;
* an identifier linked directly to more than ``max_customers`` customers is *shared* (a shop's
  kiosk, a public tablet) and links nobody: it would otherwise merge a town;
* a component that still holds more than ``max_customers`` customers is not merged: each of
  its customers stays itself, and an identifier there resolves only if it is linked to
  exactly one customer (a family tablet of three stays unresolved inside a chain of six).

The edges are read from the engine (they are few next to the events); the components are
computed on the driver. The result maps raw ids to customers and is joined where the features
read events and messages; purchases are read per person through :func:`purchases_by_person`,
a temporary view that every reader of ``transactions`` on one DuckDB connection sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from segmint.engine import Engine, engine_for

#: most customers one person's identifiers may link; more is a shared device or a data error
MAX_CUSTOMERS = 5


@dataclass(frozen=True)
class IdentityStats:
    """What resolution did (``segmint identities stats``)."""

    identifiers: int
    links: int
    customers: int
    people: int
    customers_merged: int
    anonymous_resolved: int
    shared_identifiers: int
    clusters_over_cap: int

    def to_dict(self) -> dict:
        return asdict(self)


def _edges(engine: Engine) -> pd.DataFrame:
    """(identifier, kind, customer_id) links from the identities table and identify events."""
    parts = []
    identities = engine.table("identities")
    if identities is not None:
        parts.append(
            identities.select(
                identifier=identities["identifier"].cast("string"),
                kind=identities["kind"].cast("string"),
                customer_id=identities["customer_id"].cast("string"),
            )
        )
    events = engine.table("events")
    if events is not None:
        identify = events.filter(events["type"] == "identify")
        anonymous = engine.json_text(identify["properties"], "anonymous_id")
        linked = identify.select(
            identifier=anonymous,
            kind=ibis.literal("cookie", type="string"),
            customer_id=identify["customer_id"].cast("string"),
        )
        parts.append(linked.filter(linked["identifier"].notnull()))
    if not parts:
        return pd.DataFrame({"identifier": [], "kind": [], "customer_id": []}, dtype=object)
    links = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    return engine.to_arrow(links.distinct()).to_pandas()


def _buyers(engine: Engine) -> pa.Array:
    transactions = engine.table("transactions")
    if transactions is None:
        return pa.array([], pa.string())
    return engine.to_arrow(transactions.select("customer_id").distinct()).column(0)


def resolve_identities(
    engine: Engine, *, max_customers: int = MAX_CUSTOMERS
) -> tuple[pd.DataFrame, IdentityStats]:
    """Every linked id and the customer it resolves to, and what resolution did.

    Returns
    -------
    mapping : DataFrame
        Columns ``raw_id`` (an identifier or a customer id, as events and messages carry it)
        and ``customer_id``, one row per id that resolves to a customer other than itself or
        is an identifier; ids not in it stand for themselves.
    stats : IdentityStats
    """
    links = _edges(engine)
    empty = pd.DataFrame({"raw_id": pd.Series([], dtype=object), "customer_id": []})
    if links.empty:
        return empty, IdentityStats(0, 0, 0, 0, 0, 0, 0, 0)
    links = links[links["identifier"] != links["customer_id"]]
    per_identifier = links.groupby("identifier")["customer_id"].nunique()
    shared = per_identifier.index[per_identifier > max_customers]
    kept = links[~links["identifier"].isin(shared)]

    nodes, codes = np.unique(
        np.concatenate([kept["identifier"].to_numpy(), kept["customer_id"].to_numpy()]).astype(str),
        return_inverse=True,
    )
    n = len(kept)
    graph = coo_matrix((np.ones(n), (codes[:n], codes[n:])), shape=(len(nodes), len(nodes)))
    _, component = connected_components(graph, directed=False)

    customer_nodes = np.unique(codes[n:])
    customers = pd.DataFrame(
        {
            "node": nodes[customer_nodes],
            "component": component[customer_nodes],
            # buyers first, then the smallest id: the same choice whatever the input order
            "rank": ~np.isin(nodes[customer_nodes], np.asarray(_buyers(engine), dtype=str)),
        }
    ).sort_values(["component", "rank", "node"])
    size = customers.groupby("component")["node"].transform("size")
    over_cap = set(customers.loc[size > max_customers, "component"])
    canonical = customers.groupby("component")["node"].first()

    everyone = pd.DataFrame({"raw_id": nodes, "component": component})
    everyone["customer_id"] = everyone["component"].map(canonical)
    capped = everyone["component"].isin(over_cap)
    if capped.any():
        # inside an over-cap cluster: customers stay themselves, identifiers resolve only to
        # their one directly linked customer
        one = kept.groupby("identifier")["customer_id"].agg(["nunique", "first"])
        single = one.loc[one["nunique"] == 1, "first"]
        is_customer = everyone["raw_id"].isin(customers["node"])
        everyone.loc[capped & is_customer, "customer_id"] = everyone["raw_id"]
        everyone.loc[capped & ~is_customer, "customer_id"] = everyone["raw_id"].map(single)
    mapping = everyone.dropna(subset=["customer_id"])
    mapping = mapping.loc[mapping["raw_id"] != mapping["customer_id"], ["raw_id", "customer_id"]]
    is_identifier = ~mapping["raw_id"].isin(customers["node"])
    stats = IdentityStats(
        identifiers=int(links["identifier"].nunique()),
        links=len(links),
        customers=len(customers),
        people=int(
            everyone.loc[everyone["raw_id"].isin(customers["node"]), "customer_id"].nunique()
        ),
        customers_merged=int((~is_identifier).sum()),
        anonymous_resolved=int(is_identifier.sum()),
        shared_identifiers=len(shared),
        clusters_over_cap=len(over_cap),
    )
    return mapping.reset_index(drop=True), stats


def resolved(engine: Engine, table: ir.Table, mapping: pd.DataFrame) -> ir.Table:
    """``table`` with each row's ``customer_id`` replaced by the customer it resolves to."""
    if mapping.empty:
        return table
    links = ibis.memtable(pa.Table.from_pandas(mapping, preserve_index=False))
    links = links.rename(resolved_id="customer_id")
    joined = table.left_join(links, table["customer_id"] == links["raw_id"])
    return joined.mutate(customer_id=joined["resolved_id"].fill_null(joined["customer_id"])).drop(
        "raw_id", "resolved_id"
    )


#: the table of the ids :func:`purchases_by_person` replaces in purchases
_PEOPLE = "_segmint_people"


@contextmanager
def purchases_by_person(con, mapping: pd.DataFrame | None = None) -> Iterator[pd.DataFrame]:
    """Within the block, ``con`` (a DuckDB connection) reads ``transactions`` per person.

    A temporary view named ``transactions`` stands in for the stored table, each line's
    customer id replaced by the customer it resolves to (two accounts of one person linked by
    an email are one customer with both accounts' orders). Every query on ``con`` sees it --
    features, predictions, the live profiles -- and nothing else does: other connections, and
    this one after the block. Without merged purchasing ids there is no view.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Read only in the block (writes to ``transactions`` would reach the view).
    mapping : DataFrame, optional
        :func:`resolve_identities`' mapping, when already computed.

    Yields
    ------
    DataFrame
        The mapping (every resolved id, not only purchasing ones).
    """
    if mapping is None:
        mapping, _ = resolve_identities(engine_for(con))
    buyers = _buyers(engine_for(con)).to_pandas()
    merged = mapping[mapping["raw_id"].isin(buyers)]
    if merged.empty:
        yield mapping
        return
    ((database,),) = con.execute("SELECT current_database()").fetchall()
    con.register("_segmint_people_arrow", pa.Table.from_pandas(merged, preserve_index=False))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_PEOPLE} AS SELECT * FROM _segmint_people_arrow")
    con.unregister("_segmint_people_arrow")
    quoted = database.replace('"', '""')
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW transactions AS
            SELECT t.* REPLACE (coalesce(p.customer_id, t.customer_id) AS customer_id)
            FROM "{quoted}".main.transactions AS t
            LEFT JOIN {_PEOPLE} AS p ON t.customer_id = p.raw_id"""
    )
    try:
        yield mapping
    finally:
        con.execute("DROP VIEW IF EXISTS temp.main.transactions")
        con.execute(f"DROP TABLE IF EXISTS temp.main.{_PEOPLE}")
