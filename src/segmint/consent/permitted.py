"""The one choke point through which an output selects customers: :func:`permitted`.

Every output that carries customer-level data (exports, the API's member lists and customer
reads, webhooks, the event stream, audiences) declares a purpose and keeps only the customers
:func:`permitted` allows for it, counting the ones it withholds. A customer's say for a purpose
is their latest ledger entry for it at ``as_of`` (by ledger order); without one, the purpose's
regime decides (opt-out: permitted; opt-in: not). Erased customers are never permitted: their
ids are remembered only as keyed hashes (``erased_customers``), so data of theirs that comes
back (an old file ingested again) stays out of every output.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.consent.policy import ConsentPolicy, load_policy
from segmint.consent.pseudonym import destination_key, pseudonym, pseudonym_sql
from segmint.store.workspace import database_directory, utcnow

__all__ = ["ERASED_KEY", "ConsentView", "Permission", "erased_refs", "permitted"]

#: the pseudonym destination whose key hashes erased customers' ids
ERASED_KEY = "erasure"
_SERIALS = itertools.count()


@dataclass(frozen=True)
class Permission:
    """What :func:`permitted` decided for one purpose: a SQL condition on a customer id column.

    ``table`` (a TEMP table of ``customer_id``) holds the customers whose latest entry differs
    from the regime: those who withdrew under opt-out, those who granted under opt-in.
    """

    purpose: str
    regime: str
    as_of: datetime
    table: str
    min_audience: int
    erased: str | None = None

    def where(self, column: str = "customer_id") -> str:
        """A SQL condition true for the permitted customers."""
        op = "NOT IN" if self.regime == "opt-out" else "IN"
        cond = f"{column} {op} (SELECT customer_id FROM {self.table})"
        if self.erased is not None:
            cond += f" AND {self.erased.format(column=column)}"
        return cond

    def everyone(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether every customer is permitted (opt-out, nobody withdrew, nobody erased)."""
        if self.regime != "opt-out" or self.erased is not None:
            return False
        return not con.execute(f"SELECT count(*) FROM {self.table}").fetchall()[0][0]

    def allows_ids(self, con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> np.ndarray:
        """A boolean mask over ``ids``: which are permitted (one vectorised query)."""
        if self.everyone(con):
            return np.ones(len(ids), dtype=bool)
        ids = pa.array(ids, pa.string())
        con.register("_consent_ids", pa.table({"customer_id": ids, "i": np.arange(len(ids))}))
        try:
            rows = con.execute(
                f"SELECT list(({self.where()}) ORDER BY i) FROM _consent_ids"
            ).fetchall()
        finally:
            con.unregister("_consent_ids")
        return np.asarray(rows[0][0] or [], dtype=bool)

    def summary(self, *, selected: int, withheld: int) -> dict:
        """What every output reports with its rows."""
        return {
            "purpose": self.purpose,
            "regime": self.regime,
            "as_of": self.as_of.isoformat(timespec="seconds") + "Z",
            "selected": int(selected),
            "withheld": int(withheld),
            "min_audience": self.min_audience,
        }


def permitted(
    con: duckdb.DuckDBPyConnection,
    purpose: str,
    as_of: datetime | None = None,
    *,
    directory: Path | None = None,
    policy: ConsentPolicy | None = None,
) -> Permission:
    """The customers an output may include for ``purpose`` at ``as_of`` (default: now).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A workspace connection (read-only is fine: only TEMP tables are written).
    purpose : str
        One of the workspace's purposes (:class:`~segmint.consent.policy.ConsentPolicy`).
    as_of : datetime, optional
        Consent as it stood then (naive UTC); outputs use now.
    directory : Path, optional
        The workspace directory (the key of the erased customers' hashes lives there); by
        default the directory of ``con``'s database file.
    """
    directory = directory or database_directory(con)
    policy = policy or load_policy(con)
    regime = policy.regime(purpose)
    as_of = as_of or utcnow()
    table = f"_consent_{purpose.replace('-', '_')}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT s.customer_id FROM consent_ledger l JOIN consent_subjects s USING (customer_ref)
            WHERE l.purpose = ? AND l.ts <= ?
            GROUP BY s.customer_id
            HAVING arg_max(l.status, l.seq) = ?""",
        [purpose, as_of, "withdrawn" if regime == "opt-out" else "granted"],
    )
    return Permission(
        purpose, regime, as_of, table, policy.min_audience, _erased_condition(con, directory)
    )


def erased_refs(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM erased_customers").fetchall()[0][0]


def _erased_condition(con: duckdb.DuckDBPyConnection, directory: Path) -> str | None:
    """A condition excluding erased customers, or None when nobody was erased (the usual case,
    which then costs nothing)."""
    if not erased_refs(con):
        return None
    sql, params = pseudonym_sql("{column}", destination_key(con, directory, ERASED_KEY))
    # inline the key blocks: the condition is reused inside other statements' text
    for block in params:
        sql = sql.replace("?", f"unhex('{bytes(block).hex()}')", 1)
    return f"{sql} NOT IN (SELECT ref FROM erased_customers)"


class ConsentView:
    """Every purpose's exceptions to its regime, in memory, for the service's per-customer
    checks (reloaded after each consent change).

    Examples
    --------
    >>> view = ConsentView(ConsentPolicy(), {"email": {"c1"}}, set(), b"k" * 32)
    >>> view.allows("c1", "email"), view.allows("c1", "analytics")
    (False, True)
    """

    def __init__(
        self,
        policy: ConsentPolicy,
        exceptions: dict[str, set[str]],
        erased: set[str],
        erased_key: bytes | None,
    ) -> None:
        self.policy = policy
        #: changes with every view loaded: caches of what it allowed are keyed by it
        self.serial = next(_SERIALS)
        self._exceptions = exceptions
        self._erased = erased
        self._erased_key = erased_key

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, directory: Path) -> ConsentView:
        policy = load_policy(con)
        exceptions: dict[str, set[str]] = {}
        for purpose in policy.purposes:
            perm = permitted(con, purpose, directory=directory, policy=policy)
            rows = con.execute(f"SELECT customer_id FROM {perm.table}").fetchall()
            exceptions[purpose] = {r[0] for r in rows}
        erased = {r[0] for r in con.execute("SELECT ref FROM erased_customers").fetchall()}
        key = destination_key(con, directory, ERASED_KEY) if erased else None
        return cls(policy, exceptions, erased, key)

    def allows_many(self, ids: pa.Array, purpose: str) -> np.ndarray:
        """:meth:`allows` for a whole column of ids at once (the service's lists of every
        customer): one set lookup in Arrow, the erased checked only when there are any."""
        n = len(ids)
        if purpose not in self._exceptions:
            return np.zeros(n, dtype=bool)
        listed = self._exceptions[purpose]
        hit = (
            pc.is_in(ids, value_set=pa.array(sorted(listed), pa.string()))
            .to_numpy(zero_copy_only=False)
            .astype(bool)
            if listed
            else np.zeros(n, dtype=bool)
        )
        out = ~hit if self.policy.regime(purpose) == "opt-out" else hit
        if self._erased_key is not None and self._erased:
            expr, params = pseudonym_sql("c", self._erased_key)
            with duckdb.connect() as con:
                con.register("ids", pa.table({"c": ids}))
                con.register("erased", pa.table({"ref": sorted(self._erased)}))
                gone = con.execute(
                    f"SELECT {expr} IN (SELECT ref FROM erased) FROM ids", params
                ).fetchnumpy()
            out &= ~next(iter(gone.values())).astype(bool)
        return out

    def allows(self, customer_id: str, purpose: str) -> bool:
        """Whether ``customer_id`` may be used for ``purpose`` now (an unknown purpose, e.g.
        one removed from the policy after a webhook declared it: never)."""
        if purpose not in self._exceptions:
            return False
        if (
            self._erased_key is not None
            and pseudonym(self._erased_key, customer_id) in self._erased
        ):
            return False
        listed = customer_id in self._exceptions[purpose]
        return not listed if self.policy.regime(purpose) == "opt-out" else listed
