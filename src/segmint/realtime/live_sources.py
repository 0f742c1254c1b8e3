"""The live values of a run's features that purchases do not give: web/app, conversations,
devices and social (the sources), and customer attributes.

A run found on more than purchases needs, for each live customer, the columns the profile
store (:class:`~segmint.realtime.ProfileStore`) cannot compute. :class:`LiveSources` keeps them
in one float64 array (a row per live customer), loaded from the run's stored features, so that
a service started on a run reproduces its assignments exactly.

When a customer's events arrive the row is stale. Once the events are stored, the service
recomputes the stale customers' source columns (:meth:`LiveSources.compute`, in a worker
thread) with the batch's own feature queries (:func:`segmint.features.source_features`) on
their rows only, at the live clock: the same definitions, hence the batch values. Chat text is
read there too (sentiment, the run's stored topics, intents), so it never slows the event path;
the lag is what the service reports. Attributes keep their run values (customers' attribute
files are batch input). Identities are resolved as at load: links made by later identify
events take effect at the next run or reload.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from segmint.engine import engine_for
from segmint.features import SOURCES, source_features
from segmint.features.labels import SOURCE_PREFIXES
from segmint.store.runs import features_table, load_model

#: event types that say nothing about a customer's sources or attributes
_IGNORED_TYPES = frozenset({"consent"})


def beyond_purchases(column: str) -> bool:
    """Whether a feature column is one the profile store does not compute."""
    return column.startswith(("attr_", *SOURCE_PREFIXES))


class LiveSources:
    """The run's non-purchase columns for every live customer, and which are stale.

    Parameters
    ----------
    columns : list of str
        The model's columns beyond purchases, in model order.
    sources : list of str
        The sources the run used (names of :data:`segmint.features.SOURCES`).
    topics : dict or None
        The run's chat topics (``TopicModel.to_dict``).
    identities : DataFrame
        The identity resolution's mapping (``raw_id``, ``customer_id``).
    """

    def __init__(
        self,
        columns: list[str],
        sources: list[str],
        topics: dict | None,
        identities: pd.DataFrame,
    ) -> None:
        self.columns = list(columns)
        self.sources = list(sources)
        self.topics = topics
        self.identities = identities
        coverage = set(SOURCES.values())
        self._coverage = np.array([c in coverage for c in self.columns])
        self._source = np.array([c.startswith(SOURCE_PREFIXES) for c in self.columns])
        self.values = np.empty((0, len(self.columns)))
        #: when each row's source columns were measured (microseconds; the run's as_of at load)
        self.as_of_us = np.empty(0, dtype=np.int64)
        #: customer -> ``time.monotonic()`` of the first event not reflected yet
        self.stale: dict[str, float] = {}
        #: the same, for customers being recomputed now
        self.refreshing: dict[str, float] = {}
        self.refreshed = 0

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        con: duckdb.DuckDBPyConnection,
        run: dict,
        columns: list[str],
        ids: list[str],
        identities: pd.DataFrame,
        resolve: Callable[[str], str],
    ) -> LiveSources:
        """The run's stored values for ``ids`` (live rows, in order); customers with data
        stored after the run are stale (``identities``: the resolution's mapping, ``resolve``
        the customer an id stands for)."""
        used = (run["metrics"].get("sources") or {}).get("used") or []
        state = cls(columns, used, load_model(con, run["run_id"], "topics"), identities)
        state.grow(len(ids))
        selected = ", ".join(f'"{c}"' for c in columns)
        stored = (
            con.execute(f"SELECT customer_id, {selected} FROM {features_table(run['run_id'])}")
            .df()
            .set_index("customer_id")
        )
        stored.index = stored.index.astype(str)
        found = stored.reindex(pd.Index(ids)).to_numpy(dtype=np.float64)
        state.values[: len(ids)] = np.where(np.isnan(found) & state._coverage, 0.0, found)
        state.as_of_us[: len(ids)] = _us(run["as_of"])
        if used:
            since = datetime.fromisoformat(run["as_of"])
            changed = con.execute(
                """SELECT DISTINCT customer_id FROM events WHERE ts >= $1
                   UNION SELECT DISTINCT customer_id FROM messages WHERE ts >= $1
                   UNION SELECT DISTINCT customer_id FROM transactions WHERE ts >= $1""",
                [since],
            ).fetchall()
            state.mark([resolve(str(c)) for (c,) in changed])
        return state

    def grow(self, n: int) -> None:
        """Room for ``n`` rows; new rows are customers the run never saw (no source covers
        them, attributes missing)."""
        have = len(self.values)
        if n <= have:
            return
        size = max(n, 2 * have, 64)
        fresh = np.full((size - have, len(self.columns)), np.nan)
        fresh[:, self._coverage] = 0.0
        self.values = np.concatenate([self.values, fresh])
        self.as_of_us = np.concatenate([self.as_of_us, np.zeros(size - have, dtype=np.int64)])

    # ------------------------------------------------------------------ staleness

    def mark(self, customer_ids: list[str], types: list[str] | None = None) -> None:
        """These customers (ids resolved) have new events."""
        if not self.sources:
            return
        now = time.monotonic()
        for i, c in enumerate(customer_ids):
            if types is None or types[i] not in _IGNORED_TYPES:
                self.stale.setdefault(c, now)

    def take_stale(self) -> list[str]:
        """The stale customers so far, now being recomputed (call once their events are
        stored; :meth:`store` or :meth:`give_back` ends it)."""
        self.refreshing.update(self.stale)
        taken, self.stale = list(self.stale), {}
        return taken

    def give_back(self, customer_ids: list[str]) -> None:
        """A recompute failed: these customers are stale again."""
        for c in customer_ids:
            self.stale.setdefault(c, self.refreshing.pop(c, time.monotonic()))

    def pending(self, customer_id: str) -> bool:
        """Whether the customer has events not yet in their source columns."""
        return customer_id in self.stale or customer_id in self.refreshing

    def lag_s(self) -> float:
        """Seconds the oldest event not yet in the source columns has waited (0: none)."""
        waiting = [*self.stale.values(), *self.refreshing.values()]
        return time.monotonic() - min(waiting) if waiting else 0.0

    # ------------------------------------------------------------------ refreshing

    def compute(
        self, con: duckdb.DuckDBPyConnection, customer_ids: list[str], as_of: datetime
    ) -> pd.DataFrame:
        """The source columns of customers at ``as_of`` from what is stored, one row each in
        order (the batch's queries on their rows; no state is changed: a worker thread's)."""
        found = source_features(
            engine_for(con),
            as_of,
            pa.array(customer_ids, pa.string()),
            sources=self.sources,
            topics=self.topics,
            required=False,
            identities=self.identities,
            restrict=True,
        )
        names = [c for c, s in zip(self.columns, self._source, strict=True) if s]
        frame = found.frame(pd.Index(customer_ids)).reindex(columns=names)
        coverage = [c for c in names if c in set(SOURCES.values())]
        frame[coverage] = frame[coverage].fillna(0.0)
        return frame

    def store(self, rows: np.ndarray, frame: pd.DataFrame, as_of: datetime) -> None:
        """Put computed source columns (:meth:`compute`) into ``rows``."""
        positions = [self.columns.index(c) for c in frame.columns]
        self.values[np.ix_(rows, positions)] = frame.to_numpy(dtype=np.float64)
        self.as_of_us[rows] = _us(as_of)
        self.refreshed += len(rows)
        for c in frame.index:
            self.refreshing.pop(str(c), None)

    def row_values(self, row: int) -> dict[str, float | None]:
        """One row's columns (None where missing)."""
        return {
            c: None if np.isnan(v) else float(v)
            for c, v in zip(self.columns, self.values[row], strict=True)
        }


def _us(value: datetime | str) -> int:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return int((value - datetime(1970, 1, 1)) // timedelta(microseconds=1))


def as_of_of(us: int) -> datetime:
    """The datetime of microseconds since the epoch."""
    return datetime(1970, 1, 1) + timedelta(microseconds=int(us))
