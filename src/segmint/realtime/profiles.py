"""Live customer profiles: array-backed running aggregates that give the batch features.

:class:`ProfileStore` keeps, per customer, what :func:`segmint.features.build_features` needs
to compute its transaction features at any ``as_of``: running sums in per-customer NumPy columns
(grown by doubling) and a few sorted key-value arrays (:class:`~segmint.realtime._arrays.SortedKV`)
for what cannot be a running sum:

==================  =====================================================================
state               used for
==================  =====================================================================
per customer        orders (frequency), gross spend, returned value, items and lines with a
                    quantity, first/last order time, distinct products, event counts by type
orders              key (customer, order id) -> the order's time: a repeated order id is not
                    counted twice and a late line joins its order's day
order days          key (customer, day) -> purchase spend that day: distinct order days give
                    the inter-purchase gaps exactly (also for a day arriving out of order),
                    and day ranges give ``spend_trend``, ``recent_purchase_days`` and
                    ``active_months``
category spend      key (customer, category) -> spend: n_categories, top and cat shares
products            key hash(customer, product, category): distinct products (exact up to
                    64-bit hash collisions, about 1e-6 for ten million pairs)
==================  =====================================================================

Memory is about 16 bytes per order, per customer-day with an order, per customer-category and
per customer-product, plus about 100 bytes per customer (and 8 per event type): a million
customers with twenty orders each need roughly 1 GB. There are no per-customer Python objects
besides the id -> row dict (whose strings the garbage collector does not track).

Consistency with the batch definitions (checked by the tests: half the data loaded in bulk,
half applied as events, gives the batch features of all the data) holds under two documented
assumptions:

- ``as_of`` is not before the events applied (features describe the current state measured at
  ``as_of``; events after ``as_of`` are not removed). The windows (``spend_trend``,
  ``recent_purchase_days``, ``active_months``) are bucketed by
  UTC day, so it is exact when ``as_of`` is a midnight (the batch default).
- The lines of one order share its timestamp (true of invoices and order events). A line that
  arrives for an already known order joins that order with the order's time.

Not thread-safe: one writer at a time (the service serialises updates).

This module is the store's state and the updates and reads that must agree on its layout
(one idea, hence ~600 lines); the parts that stand alone live beside it: coercion of inputs
(``_inputs``), key packing and the feature arithmetic (:mod:`~segmint.realtime.aggregates`),
and the bulk load's SQL (:mod:`~segmint.realtime.profile_load`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import DataValidationError
from segmint.features import CORE_FEATURES, category_columns
from segmint.realtime._arrays import Growable, SortedKV, combine, hash_strings
from segmint.realtime._inputs import as_float, as_object, scalar_us, to_us
from segmint.realtime.aggregates import (
    CAT_BITS,
    DAY_OFFSET,
    US_PER_DAY,
    cat_key,
    day_key,
    features_from_aggregates,
)

__all__ = ["FEATURE_COLUMNS", "ProfileStore", "category_columns"]

_NO_TS = np.iinfo(np.int64).min

#: the columns after ``cat_share_*``, as the batch orders them
_WINDOW_FEATURES = ("spend_trend", "recent_purchase_days", "active_months")
#: the batch feature columns the store computes, besides ``cat_share_*`` (which follow
#: ``top_category_share``)
FEATURE_COLUMNS = (*CORE_FEATURES, *_WINDOW_FEATURES)


class ProfileStore:
    """Per-customer running aggregates giving the batch transaction features at any ``as_of``.

    Build one with :func:`~segmint.realtime.profile_load.profiles_from_workspace` (bulk,
    vectorised SQL) or empty, then feed it with
    :meth:`apply_purchases` and :meth:`apply_events`; read it with :meth:`features` (a frame
    with the batch column names) and :meth:`profile` (one customer as a JSON-ready dict).

    Parameters
    ----------
    categories : sequence of str, optional
        Categories of the default ``cat_share_*`` columns of :meth:`features`, in column order.
        Default: the ``n_top_categories`` categories with the largest purchase spend in the
        store (ties by name), as the batch features choose them.
    n_top_categories : int, default=8
        Number of default ``cat_share_*`` columns when ``categories`` is not given (the
        pipeline's ``N_TOP_CATEGORIES``).
    trend_window_days : int, default=90
        Window of ``spend_trend``, as in :func:`segmint.features.build_features`.
    category_map : dict of str to str, optional
        Product id -> category replacing the category of purchase lines (as the batch's
        ``category_map_table``); products not in it keep their own category.
    capacity : int, default=1024
        Initial number of customer rows (grows by doubling).

    Attributes
    ----------
    as_of : datetime or None
        The ``as_of`` of the bulk load (None for an empty store).
    """

    def __init__(
        self,
        *,
        categories: Sequence[str] | None = None,
        n_top_categories: int = 8,
        trend_window_days: int = 90,
        category_map: dict[str, str] | None = None,
        capacity: int = 1024,
    ) -> None:
        if trend_window_days <= 0:
            raise ValueError("trend_window_days must be > 0")
        self.categories = None if categories is None else [str(c) for c in categories]
        self.n_top_categories = int(n_top_categories)
        self.trend_window_days = int(trend_window_days)
        self.category_map = dict(category_map or {})
        self.as_of: datetime | None = None
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        self._rows = Growable(capacity)
        for name, dtype, fill in (
            ("frequency", np.int64, 0),
            ("n_products", np.int64, 0),
            ("n_qty", np.int64, 0),
            ("gross", np.float64, 0.0),
            ("returned", np.float64, 0.0),
            ("items", np.float64, 0.0),
            ("first_ts", np.int64, np.iinfo(np.int64).max),
            ("last_ts", np.int64, _NO_TS),
            ("last_event_ts", np.int64, _NO_TS),
        ):
            self._rows.add_column(name, dtype, fill)
        self._rows.add_column("events", np.int64, 0, width=4)
        self._event_types: dict[str, int] = {}
        self._cat_index: dict[str, int] = {}
        self._cat_names: list[str] = []
        self._cat_spend = np.zeros(16)
        self._orders = SortedKV()
        self._days = SortedKV()
        self._cats = SortedKV()
        self._products = SortedKV()

    # ------------------------------------------------------------------ customers
    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, customer_id: object) -> bool:
        return str(customer_id) in self._index

    @property
    def customer_ids(self) -> list[str]:
        """Known customer ids, by row index."""
        return list(self._ids)

    @property
    def event_types(self) -> list[str]:
        """Event types counted so far."""
        return list(self._event_types)

    @property
    def known_categories(self) -> list[str]:
        """Every category seen on a purchase, by descending total spend (ties by name)."""
        n = len(self._cat_names)
        order = sorted(range(n), key=lambda i: (-self._cat_spend[i], self._cat_names[i]))
        return [self._cat_names[i] for i in order]

    def index_of(self, customer_ids: Iterable[object], *, create: bool = False) -> np.ndarray:
        """Row indexes of customers; unknown ones are added (``create=True``) or raise.

        Raises
        ------
        KeyError
            An unknown customer id when ``create`` is False.
        """
        ids = [str(c) for c in customer_ids]
        index = self._index
        out = np.empty(len(ids), dtype=np.int64)
        for i, cid in enumerate(ids):  # a dict lookup per incoming id; no per-customer state
            j = index.get(cid)
            if j is None:
                if not create:
                    raise KeyError(cid)
                j = len(self._ids)
                index[cid] = j
                self._ids.append(cid)
            out[i] = j
        self._rows.reserve(len(self._ids))
        return out

    def add_customers(self, ids: np.ndarray) -> None:
        """Add customers in bulk: ``ids`` must be new and unique (not checked)."""
        start = len(self._ids)
        self._ids.extend(str(c) for c in ids)
        self._index.update(zip(self._ids[start:], range(start, len(self._ids)), strict=True))
        self._rows.reserve(len(self._ids))

    def _category_indexes(self, categories: np.ndarray) -> np.ndarray:
        out = np.full(categories.size, -1, dtype=np.int64)
        if categories.size == 0:
            return out
        codes, uniques = pd.factorize(pd.Series(categories, dtype=object), use_na_sentinel=True)
        mapped = np.empty(len(uniques), dtype=np.int64)
        for u, name in enumerate(uniques):
            name = str(name)
            j = self._cat_index.get(name)
            if j is None:
                j = len(self._cat_names)
                if j >= 1 << CAT_BITS:
                    raise DataValidationError(
                        "more than 2**20 distinct categories", column="category"
                    )
                self._cat_index[name] = j
                self._cat_names.append(name)
                if j >= self._cat_spend.size:
                    self._cat_spend = np.concatenate(
                        [self._cat_spend, np.zeros(self._cat_spend.size)]
                    )
            mapped[u] = j
        ok = codes >= 0
        out[ok] = mapped[codes[ok]]
        return out

    # ------------------------------------------------------------------ updates
    def apply_purchases(
        self,
        customer_ids: Any,
        order_ids: Any,
        ts: Any,
        product_ids: Any,
        categories: Any,
        quantities: Any,
        amounts: Any,
        is_return: Any = None,
    ) -> np.ndarray:
        """Add transaction lines (purchases and returns) to the profiles.

        Parameters
        ----------
        customer_ids, order_ids : array-like of str, shape (n,)
            Unknown customers are created.
        ts : array-like of datetime, shape (n,)
            Line times (naive = UTC).
        product_ids, categories : array-like of str or None, shape (n,)
            ``categories`` may be None (all missing); ``category_map`` applies first.
        quantities : array-like of float or None, shape (n,)
        amounts : array-like of float, shape (n,)
            Line amounts in the workspace currency.
        is_return : array-like of bool or None, optional
            Return flag; where missing, a negative amount marks a return (as in the batch).

        Returns
        -------
        ndarray of int64
            Sorted unique row indexes of the customers touched.
        """
        cid_list = np.asarray(customer_ids, dtype=object).ravel()
        n = cid_list.size
        if n == 0:
            return np.empty(0, dtype=np.int64)
        amount = as_float(amounts, n, "amount")
        if np.isnan(amount).any():
            raise DataValidationError("amount must not be missing", column="amount")
        orders = as_object(order_ids, n, "order_id")
        if pd.isna(orders).any():
            raise DataValidationError("order_id must not be missing", column="order_id")
        ts_us = to_us(ts)
        if ts_us.size != n:
            raise DataValidationError(f"ts has {ts_us.size} values, expected {n}", column="ts")
        products = as_object(product_ids, n, "product_id")
        cats = as_object(categories, n, "category")
        qty = as_float(quantities, n, "quantity")
        flag = as_object(is_return, n, "is_return")
        missing = pd.isna(flag)
        given = np.zeros(n, dtype=bool)
        given[~missing] = flag[~missing].astype(bool)
        is_ret = np.where(missing, amount < 0, given)
        if self.category_map:
            mapped = pd.Series(products, dtype=object).map(self.category_map).to_numpy(object)
            cats = np.where(pd.isna(mapped), cats, mapped)
        idx = self.index_of(cid_list, create=True)
        value = np.where(is_ret, -np.abs(amount), amount)
        rows = self._rows

        ret = is_ret
        np.add.at(rows["returned"], idx[ret], -value[ret])

        p = ~is_ret
        if p.any():
            self._apply_purchase_lines(
                idx[p], orders[p], ts_us[p], products[p], cats[p], qty[p], value[p]
            )
        return np.unique(idx)

    def _apply_purchase_lines(self, idx, orders, ts_us, products, cats, qty, value) -> None:
        rows = self._rows
        okey = combine(idx, hash_strings(orders))
        stored, known = self._orders.get(okey)
        # a new order's time is the earliest of its lines in this batch
        uk, inverse = np.unique(okey, return_inverse=True)
        earliest = np.full(uk.size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(earliest, inverse, ts_us)
        order_ts = np.where(known, np.nan_to_num(stored).astype(np.int64), earliest[inverse])
        new_order = self._orders.insert_missing(okey, order_ts.astype(np.float64))
        np.add.at(rows["frequency"], idx[new_order], 1)
        np.minimum.at(rows["first_ts"], idx, order_ts)
        np.maximum.at(rows["last_ts"], idx, order_ts)
        np.add.at(rows["gross"], idx, value)
        has_qty = ~np.isnan(qty)
        np.add.at(rows["items"], idx[has_qty], qty[has_qty])
        np.add.at(rows["n_qty"], idx[has_qty], 1)
        self._days.add(day_key(idx, order_ts // US_PER_DAY), value)
        cat = self._category_indexes(cats)
        named = cat >= 0
        self._cats.add(cat_key(idx[named], cat[named]), value[named])
        np.add.at(self._cat_spend, cat[named], value[named])
        has_product = ~pd.isna(products)
        if has_product.any():
            pkey = combine(
                idx[has_product],
                hash_strings(products[has_product]),
                hash_strings(cats[has_product]),
            )
            new_product = self._products.insert_missing(pkey, 0.0)
            np.add.at(rows["n_products"], idx[has_product][new_product], 1)

    def apply_events(self, customer_ids: Any, types: Any, ts: Any) -> np.ndarray:
        """Count non-purchase events (page/app views, device telemetry, chat messages, ...).

        Parameters
        ----------
        customer_ids : array-like of str, shape (n,)
            Unknown customers are created.
        types : array-like of str, shape (n,)
            Event type (any string; each becomes a counter).
        ts : array-like of datetime, shape (n,)

        Returns
        -------
        ndarray of int64
            Sorted unique row indexes of the customers touched.
        """
        cid_list = np.asarray(customer_ids, dtype=object).ravel()
        n = cid_list.size
        if n == 0:
            return np.empty(0, dtype=np.int64)
        kinds = as_object(types, n, "type")
        ts_us = to_us(ts)
        idx = self.index_of(cid_list, create=True)
        codes, uniques = pd.factorize(pd.Series(kinds, dtype=object).fillna("unknown"))
        mapped = np.array([self._event_type(str(u)) for u in uniques], dtype=np.int64)
        self._rows.widen("events", len(self._event_types))
        np.add.at(self._rows["events"], (idx, mapped[codes]), 1)
        np.maximum.at(self._rows["last_event_ts"], idx, ts_us)
        return np.unique(idx)

    def _event_type(self, name: str) -> int:
        j = self._event_types.get(name)
        if j is None:
            j = self._event_types[name] = len(self._event_types)
        return j

    def add_event_counts(
        self, idx: np.ndarray, types: Any, counts: np.ndarray, last_us: np.ndarray
    ) -> None:
        """Add event counts in bulk: ``counts[i]`` events of ``types[i]`` for row ``idx[i]``,
        the latest at ``last_us[i]`` (microseconds)."""
        codes, uniques = pd.factorize(pd.Series(types, dtype=object).fillna("unknown"))
        mapped = np.array([self._event_type(str(u)) for u in uniques], dtype=np.int64)
        self._rows.widen("events", len(self._event_types))
        np.add.at(self._rows["events"], (idx, mapped[codes]), counts)
        np.maximum.at(self._rows["last_event_ts"], idx, last_us)

    def add_aggregates(self, frames: dict[str, pd.DataFrame], lookup: pd.Index) -> None:
        """Add per-customer aggregates computed in bulk (see
        :mod:`segmint.realtime.profile_load`), to a store without purchases yet.

        Parameters
        ----------
        frames : dict of str to DataFrame
            ``orders`` (customer_id, order_id, ts_us, gross, items, n_qty), ``returns``
            (customer_id, returned), ``categories`` (customer_id, category, spend) and
            ``products`` (customer_id, product_id, category).
        lookup : pandas.Index
            Customer ids by row (every customer in ``frames`` is already added).
        """
        rows = self._rows
        n = len(self._ids)

        def idx_of(frame: pd.DataFrame) -> np.ndarray:
            return lookup.get_indexer(frame["customer_id"].astype(str)).astype(np.int64)

        o = frames["orders"]
        if len(o):
            idx = idx_of(o)
            ts_us = o["ts_us"].to_numpy(np.int64)
            gross = o["gross"].to_numpy(np.float64)
            rows["frequency"][:n] += np.bincount(idx, minlength=n)
            rows["gross"][:n] += np.bincount(idx, weights=gross, minlength=n)
            rows["items"][:n] += np.bincount(
                idx, weights=o["items"].to_numpy(np.float64), minlength=n
            )
            rows["n_qty"][:n] += np.bincount(
                idx, weights=o["n_qty"].to_numpy(np.float64), minlength=n
            ).astype(np.int64)
            np.minimum.at(rows["first_ts"], idx, ts_us)
            np.maximum.at(rows["last_ts"], idx, ts_us)
            okey = combine(idx, hash_strings(o["order_id"].to_numpy(object)))
            keys, first = np.unique(okey, return_index=True)
            self._orders = SortedKV(keys, ts_us[first].astype(np.float64))
            dkey = day_key(idx, ts_us // US_PER_DAY)
            keys, inverse = np.unique(dkey, return_inverse=True)
            self._days = SortedKV(keys, np.bincount(inverse, weights=gross, minlength=keys.size))
        r = frames["returns"]
        if len(r):
            rows["returned"][:n] += np.bincount(
                idx_of(r), weights=r["returned"].to_numpy(np.float64), minlength=n
            )
        c = frames["categories"]
        if len(c):
            idx = idx_of(c)
            cat = self._category_indexes(c["category"].to_numpy(object))
            spend = c["spend"].to_numpy(np.float64)
            self._cats = SortedKV(cat_key(idx, cat), spend)
            np.add.at(self._cat_spend, cat, spend)
        p = frames["products"]
        if len(p):
            idx = idx_of(p)
            pkey = combine(
                idx,
                hash_strings(p["product_id"].to_numpy(object)),
                hash_strings(p["category"].to_numpy(object)),
            )
            keys, first = np.unique(pkey, return_index=True)
            self._products = SortedKV(keys)
            rows["n_products"][:n] += np.bincount(idx[first], minlength=n)

    # ------------------------------------------------------------------ reads
    def _share_columns(self, columns: Sequence[str] | None) -> dict[str, str]:
        if columns is None:
            chosen = (
                self.categories
                if self.categories is not None
                else self.known_categories[: self.n_top_categories]
            )
            return category_columns(chosen)
        wanted = [c for c in columns if c.startswith("cat_share_")]
        known = category_columns(self.categories or [])
        known.update(
            {k: v for k, v in category_columns(self.known_categories).items() if k not in known}
        )
        return {c: known.get(c) for c in wanted}  # None: a category never bought -> share 0

    def features(
        self,
        customer_ids: Iterable[object] | None,
        as_of: datetime | date,
        *,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The batch transaction features of customers, measured at ``as_of``.

        Parameters
        ----------
        customer_ids : iterable of str or None
            Customers to describe (None: every customer in the store).
        as_of : datetime or date
            Reference time of recency, tenure and ``spend_trend`` (naive = UTC); should not
            be before the events applied.
        columns : sequence of str, optional
            Columns to return, e.g. a live model's ``feature_names``; ``cat_share_<slug>``
            columns are resolved against the categories seen (a category never bought gives
            0). Default: :data:`FEATURE_COLUMNS` with the default ``cat_share_*`` columns
            after ``top_category_share``.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``customer_id`` in the order given, columns as in
            :func:`segmint.features.build_features` (float64; NaN where the batch has NULL).
            A customer without any purchase (events or returns only) has ``frequency`` 0
            and NaN elsewhere; the batch features leave such customers out.

        Raises
        ------
        KeyError
            An unknown customer id.
        """
        if customer_ids is None:
            idx = np.arange(len(self._ids), dtype=np.int64)
            ids = list(self._ids)
        else:
            ids = [str(c) for c in customer_ids]
            idx = self.index_of(ids)
        share_cols = self._share_columns(columns)
        values = self._compute(idx, scalar_us(as_of), share_cols)
        if columns is None:
            names = [*CORE_FEATURES, *share_cols, *_WINDOW_FEATURES]
        else:
            unknown = [c for c in columns if c not in values]
            if unknown:
                raise KeyError(f"unknown feature column(s): {', '.join(unknown)}")
            names = list(columns)
        frame = pd.DataFrame({c: values[c] for c in names}, index=pd.Index(ids, name="customer_id"))
        return frame

    def _compute(self, idx: np.ndarray, as_of_us: int, share_cols: dict[str, str | None]) -> dict:
        rows = {
            name: self._rows[name][idx]
            for name in (
                "frequency",
                "gross",
                "returned",
                "items",
                "n_qty",
                "n_products",
                "first_ts",
                "last_ts",
            )
        }
        start = np.full(idx.size, -DAY_OFFSET)
        days = self._days.gather(day_key(idx, start), day_key(idx + 1, start))
        cats = self._cats.gather(cat_key(idx, 0), cat_key(idx + 1, 0))
        shares = {
            name: -1 if category is None else self._cat_index.get(category, -1)
            for name, category in share_cols.items()
        }
        return features_from_aggregates(rows, days, cats, shares, as_of_us, self.trend_window_days)

    def profile(self, customer_id: object, as_of: datetime | date) -> dict:
        """One customer's live profile as a JSON-ready dict.

        Parameters
        ----------
        customer_id : str
        as_of : datetime or date

        Returns
        -------
        dict
            ``customer_id``, ``features`` (the default columns of :meth:`features`; None for
            missing values),
            ``events`` (count per event type), ``first_purchase_at``, ``last_purchase_at``
            and ``last_event_at`` (ISO strings or None).

        Raises
        ------
        KeyError
            An unknown customer id.
        """
        (j,) = self.index_of([customer_id])
        frame = self.features([customer_id], as_of)
        feats = {
            k: (
                None
                if pd.isna(v)
                else (int(v) if k in ("frequency", "n_products", "n_categories") else float(v))
            )
            for k, v in frame.iloc[0].items()
        }
        counts = self._rows["events"][j]
        rows = self._rows

        def iso(us: int) -> str | None:
            if us in (_NO_TS, np.iinfo(np.int64).max):
                return None
            return (datetime(1970, 1, 1) + timedelta(microseconds=int(us))).isoformat()

        return {
            "customer_id": str(customer_id),
            "features": feats,
            "events": {t: int(counts[i]) for t, i in self._event_types.items()},
            "first_purchase_at": iso(int(rows["first_ts"][j])),
            "last_purchase_at": iso(int(rows["last_ts"][j])),
            "last_event_at": iso(int(rows["last_event_ts"][j])),
        }

    def event_counts(self, customer_ids: Iterable[object] | None = None) -> pd.DataFrame:
        """Counts of events per type (columns) per customer (rows)."""
        if customer_ids is None:
            idx = np.arange(len(self._ids))
            ids = list(self._ids)
        else:
            ids = [str(c) for c in customer_ids]
            idx = self.index_of(ids)
        counts = self._rows["events"][idx][:, : len(self._event_types)]
        return pd.DataFrame(
            counts, index=pd.Index(ids, name="customer_id"), columns=list(self._event_types)
        )

    @property
    def nbytes(self) -> int:
        """Approximate bytes held by the arrays (not the id dict)."""
        kv = sum(s.nbytes for s in (self._orders, self._days, self._cats, self._products))
        return int(kv + sum(a.nbytes for a, _ in self._rows._columns.values()))
