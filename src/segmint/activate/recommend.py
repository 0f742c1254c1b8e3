"""Product recommendations from purchase (and, where present, product-view) history.

A customer x item matrix of implicit feedback (:func:`read_interactions`), recommenders with
one interface (``fit(matrix)``, ``recommend(user_rows, n, exclude_bought=True)``, scored in
batches of users), the ranking metrics they are chosen by, and :class:`RecommendationBook`,
the stored recommendations of one run held in memory for O(1) lookups by the service.

The recommenders:

- :class:`Popularity`: the items most customers bought, the same for everyone;
- :class:`SegmentPopularity`: the items most customers of the customer's segment bought;
- :class:`CoOccurrence`: item-to-item cosine similarity of co-purchase, summed over the
  customer's items;
- :class:`EASE`: Steck's closed-form item-item ridge regression (2019), on the most popular
  ``max_items`` items so that its dense ``items x items`` inverse stays bounded;
- :class:`ALS`: implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) through
  the ``implicit`` package, where it is installed.

Purchases count once per order (returns and service codes such as postage left out); a
product viewed or put in a basket but not bought counts ``view_weight`` (a weaker signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from segmint.errors import SegmintError

__all__ = [
    "ALS",
    "EASE",
    "MODELS",
    "CoOccurrence",
    "Interactions",
    "Popularity",
    "RecommendationBook",
    "RepeatPurchases",
    "SegmentPopularity",
    "catalogue_coverage",
    "interactions_from_frame",
    "make_model",
    "ndcg_at_k",
    "precision_at_k",
    "read_interactions",
    "recall_at_k",
]

#: product codes without a digit are services, not products (Online Retail: POST, DOT, M,
#: BANK CHARGES, AMAZONFEE, ...): never recommended
SERVICE_CODE = r"^[A-Za-z _-]+$"
#: users scored per batch: a batch's dense score block is BATCH x items floats
BATCH = 1024


# ---------------------------------------------------------------------------- the matrix


@dataclass
class Interactions:
    """Implicit feedback of customers (rows) on items (columns).

    ``bought`` holds the number of orders each customer bought each item in; ``viewed`` the
    product views and basket adds of items, where the workspace has web events (else None).
    """

    customer_ids: np.ndarray
    product_ids: np.ndarray
    descriptions: np.ndarray
    bought: sp.csr_matrix
    viewed: sp.csr_matrix | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.bought.shape

    def matrix(self, view_weight: float = 0.25) -> sp.csr_matrix:
        """1 where bought, ``view_weight`` where only viewed, as float32."""
        bought = (self.bought > 0).astype(np.float32)
        if self.viewed is None or view_weight <= 0:
            return bought.tocsr()
        viewed = (self.viewed > 0).astype(np.float32) * np.float32(view_weight)
        return bought.maximum(viewed).tocsr()

    def rows(self, customer_ids) -> np.ndarray:
        """Row of each customer id; -1 for customers without history."""
        index = pd.Index(self.customer_ids)
        return index.get_indexer(pd.Index(np.asarray(customer_ids, dtype=object)))


def interactions_from_frame(
    frame: pd.DataFrame, descriptions: pd.Series | None = None
) -> Interactions:
    """Build :class:`Interactions` from a long frame.

    Parameters
    ----------
    frame : DataFrame
        ``customer_id``, ``product_id``, ``orders`` (purchases, 0 for none) and optionally
        ``views``: one row per customer and item.
    descriptions : Series, optional
        Description by product id.
    """
    missing = {"customer_id", "product_id", "orders"} - set(frame.columns)
    if missing:
        raise SegmintError(
            f"interactions need columns customer_id, product_id, orders; missing {sorted(missing)}"
        )
    frame = frame[frame["customer_id"].notna() & frame["product_id"].notna()]
    users, u = np.unique(frame["customer_id"].to_numpy(dtype=object), return_inverse=True)
    items, i = np.unique(frame["product_id"].to_numpy(dtype=object), return_inverse=True)
    shape = (len(users), len(items))
    orders = frame["orders"].fillna(0).to_numpy(np.float32)
    bought = sp.csr_matrix((orders, (u, i)), shape=shape)
    bought.eliminate_zeros()
    viewed = None
    if "views" in frame.columns and frame["views"].fillna(0).gt(0).any():
        viewed = sp.csr_matrix((frame["views"].fillna(0).to_numpy(np.float32), (u, i)), shape)
        viewed.eliminate_zeros()
    if descriptions is None:
        desc = np.full(len(items), "", dtype=object)
    else:
        desc = descriptions.reindex(items).fillna("").to_numpy(dtype=object)
    return Interactions(users, items, desc, bought, viewed)


def _has_events(con) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events'").fetchall()[
            0
        ][0]
    )


def read_interactions(
    con, *, end: datetime | None = None, start: datetime | None = None, views: bool = True
) -> Interactions:
    """Purchases (and product views) in ``[start, end)`` as :class:`Interactions`.

    Returns and service codes are left out; web events' customer ids (cookies, devices) are
    resolved through ``identities``; views count only for products sold at some time.
    """
    where, params = ["NOT is_return", "quantity > 0", "product_id IS NOT NULL"], []
    if start is not None:
        where.append("ts >= ?")
        params.append(start)
    if end is not None:
        where.append("ts < ?")
        params.append(end)
    where.append(f"NOT regexp_matches(product_id, '{SERVICE_CODE}')")
    # ids merged into one person (identities) count as that person, as the runs count them
    bought = con.execute(
        f"""WITH person AS (SELECT identifier, any_value(customer_id) AS customer_id
                            FROM identities GROUP BY 1)
            SELECT coalesce(p.customer_id, t.customer_id) AS customer_id, t.product_id,
                   count(DISTINCT t.order_id)::DOUBLE AS orders
            FROM (SELECT * FROM transactions WHERE {" AND ".join(where)}) t
            LEFT JOIN person p ON p.identifier = t.customer_id
            GROUP BY ALL""",
        params,
    ).df()
    bought["views"] = 0.0
    frame = bought
    if views and _has_events(con):
        ev_where, ev_params = ["e.type IN ('product_view', 'add_to_cart')"], []
        if start is not None:
            ev_where.append("e.ts >= ?")
            ev_params.append(start)
        if end is not None:
            ev_where.append("e.ts < ?")
            ev_params.append(end)
        viewed = con.execute(
            f"""WITH person AS (SELECT identifier, any_value(customer_id) AS customer_id
                                FROM identities GROUP BY 1),
                     sold AS (SELECT DISTINCT product_id FROM transactions)
                SELECT coalesce(p.customer_id, e.customer_id) AS customer_id,
                       json_extract_string(e.properties, '$.product_id') AS product_id,
                       0.0 AS orders, count(*)::DOUBLE AS views
                FROM events e LEFT JOIN person p ON p.identifier = e.customer_id
                WHERE {" AND ".join(ev_where)}
                  AND json_extract_string(e.properties, '$.product_id') IN (SELECT * FROM sold)
                GROUP BY ALL""",
            ev_params,
        ).df()
        if len(viewed):
            frame = (
                pd.concat([bought, viewed], ignore_index=True)
                .groupby(["customer_id", "product_id"], as_index=False)[["orders", "views"]]
                .sum()
            )
    descriptions = con.execute(
        """SELECT product_id, arg_max(description, n) AS description
           FROM (SELECT product_id, description, count(*) AS n FROM transactions
                 WHERE description IS NOT NULL GROUP BY ALL)
           GROUP BY 1"""
    ).df()
    return interactions_from_frame(frame, descriptions.set_index("product_id")["description"])


# ---------------------------------------------------------------------------- recommenders


def _check_matrix(matrix) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        matrix = sp.csr_matrix(np.asarray(matrix, dtype=np.float32))
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    if matrix.shape[0] == 0 or matrix.shape[1] == 0 or matrix.nnz == 0:
        raise SegmintError(
            f"no purchases to recommend from (a {matrix.shape[0]} x {matrix.shape[1]} "
            "customer x item matrix with no entries); ingest transactions first"
        )
    return matrix


def _top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the ``n`` highest finite scores per row, best first; -1 where fewer."""
    n = min(n, scores.shape[1])
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    top = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1)
    best = np.take_along_axis(top, order, axis=1)
    missing = ~np.isfinite(best)
    items[missing] = -1
    best[missing] = np.nan
    return items, best


class Recommender:
    """The shared part: ``fit`` keeps the history, ``recommend`` ranks ``_scores``."""

    name = "model"

    def fit(self, matrix, bought=None) -> Recommender:
        """Fit on a customer x item matrix; ``bought`` (default: the matrix) is what
        ``exclude_bought`` leaves out (purchases, not views)."""
        self.matrix_ = _check_matrix(matrix)
        self.bought_ = self.matrix_ if bought is None else sp.csr_matrix(bought)
        self.n_items_ = self.matrix_.shape[1]
        self.popularity_ = np.asarray((self.bought_ > 0).sum(axis=0), dtype=np.float64).ravel()
        self._fit(self.matrix_)
        return self

    def _fit(self, matrix: sp.csr_matrix) -> None:
        pass

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def recommend(
        self, user_rows, n: int = 10, exclude_bought: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items for each user row, in batches of :data:`BATCH` users.

        Returns
        -------
        items : ndarray of int, shape (len(user_rows), n)
            Column indices, best first; -1 where fewer than ``n`` items qualify.
        scores : ndarray of float, shape (len(user_rows), n)
        """
        if not hasattr(self, "matrix_"):
            raise SegmintError(f"{type(self).__name__} is not fitted; call fit(matrix) first")
        rows = np.asarray(user_rows, dtype=np.int64)
        n = max(1, min(int(n), self.n_items_))
        items = np.full((len(rows), n), -1, dtype=np.int64)
        scores = np.full((len(rows), n), np.nan)
        # a tiny popularity term breaks ties (and ranks items a model cannot score)
        tie = (self.popularity_ / (self.popularity_.max() + 1.0)) * 1e-6
        for lo in range(0, len(rows), BATCH):
            batch = rows[lo : lo + BATCH]
            s = np.asarray(self._scores(batch), dtype=np.float64) + tie
            if exclude_bought:
                known = batch >= 0
                hist = self.bought_[batch[known]].tocoo()
                s[np.flatnonzero(known)[hist.row], hist.col] = -np.inf
            i, v = _top_n(s, n)
            items[lo : lo + len(batch)], scores[lo : lo + len(batch)] = i, v
        return items, scores

    def _user_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """History of the batch; an empty row for -1 (a customer without history)."""
        safe = np.where(rows >= 0, rows, 0)
        x = self.matrix_[safe]
        if (rows < 0).any():
            x = sp.diags((rows >= 0).astype(np.float32)) @ x
        return sp.csr_matrix(x)


class Popularity(Recommender):
    """The items the most customers bought."""

    name = "popularity"

    def _scores(self, rows):
        return np.broadcast_to(self.popularity_, (len(rows), self.n_items_)).copy()


class RepeatPurchases(Recommender):
    """The customer's own most often bought items (a rebuy baseline: with
    ``exclude_bought`` it is global popularity)."""

    name = "repeat purchases"

    def _scores(self, rows):
        safe = np.where(rows >= 0, rows, 0)
        own = self.bought_[safe].toarray().astype(np.float64)
        own[rows < 0] = 0.0
        return own


class SegmentPopularity(Recommender):
    """The items the most customers of the customer's segment bought.

    Parameters
    ----------
    segments : array-like of int
        Segment of each matrix row (-1: none; such customers get global popularity).
    """

    name = "segment popularity"

    def __init__(self, segments) -> None:
        self.segments = np.asarray(segments)

    def _fit(self, matrix):
        if len(self.segments) != matrix.shape[0]:
            raise SegmintError(
                f"{len(self.segments)} segment labels for {matrix.shape[0]} customers"
            )
        labels, codes = np.unique(self.segments, return_inverse=True)
        member = sp.csr_matrix(
            (np.ones(len(codes), np.float32), (codes, np.arange(len(codes)))),
            shape=(len(labels), len(codes)),
        )
        self.labels_ = labels
        self.codes_ = codes
        self.segment_counts_ = np.asarray((member @ (self.bought_ > 0)).todense(), np.float64)

    def _scores(self, rows):
        out = np.broadcast_to(self.popularity_, (len(rows), self.n_items_)).copy() * 1e-3
        known = rows >= 0
        codes = self.codes_[rows[known]]
        has_segment = self.labels_[codes] != -1
        idx = np.flatnonzero(known)[has_segment]
        out[idx] += self.segment_counts_[codes[has_segment]]
        return out


class CoOccurrence(Recommender):
    """Item-to-item: cosine similarity of the items' buyer sets, summed over the customer's
    items."""

    name = "co-occurrence"

    def _fit(self, matrix):
        x = (matrix > 0).astype(np.float32)
        co = (x.T @ x).tocsr()
        norms = np.sqrt(np.asarray(co.diagonal(), dtype=np.float64))
        norms[norms == 0] = 1.0
        inv = sp.diags((1.0 / norms).astype(np.float32))
        sim = (inv @ co @ inv).tolil()
        sim.setdiag(0)
        self.similarity_ = sim.tocsr()

    def _scores(self, rows):
        return (self._user_rows(rows) @ self.similarity_).toarray()


class EASE(Recommender):
    """Embarrassingly shallow autoencoder (Steck 2019): ``B = I - P / diag(P)``,
    ``P = (X'X + l2 I)^-1``, on the ``max_items`` most bought items (others are never
    recommended by it: they rank below every scored item, by popularity)."""

    name = "EASE"

    def __init__(self, l2: float = 200.0, max_items: int = 10_000) -> None:
        self.l2 = l2
        self.max_items = max_items

    def _fit(self, matrix):
        keep = np.argsort(-self.popularity_, kind="stable")[: self.max_items]
        self.items_ = np.sort(keep)
        x = matrix[:, self.items_]
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)
        b[np.diag_indices_from(b)] = 0.0
        self.weights_ = b.astype(np.float32)

    def _scores(self, rows):
        out = np.full((len(rows), self.n_items_), -1e9, dtype=np.float64)
        x = self._user_rows(rows)[:, self.items_]
        out[:, self.items_] = x @ self.weights_
        return out


class ALS(Recommender):
    """Implicit-feedback ALS (``implicit`` package): confidence ``1 + alpha * r``."""

    name = "ALS"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        random_state: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def _fit(self, matrix):
        try:
            from implicit.cpu.als import AlternatingLeastSquares
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise SegmintError(
                "model 'als' needs the implicit package (pip install implicit); "
                "use model 'ease' instead"
            ) from exc
        # implicit parallelises itself; a BLAS thread pool under it only contends
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
            )
            model.fit(matrix, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors)
        self.item_factors_ = np.asarray(model.item_factors)

    def _scores(self, rows):
        users = self.user_factors_[np.where(rows >= 0, rows, 0)]
        users[rows < 0] = 0.0
        return users @ self.item_factors_.T


#: recommenders by name (SegmentPopularity needs segments: built by the caller)
MODELS = {"ease": EASE, "als": ALS, "cooccurrence": CoOccurrence, "popularity": Popularity}


def make_model(name: str, **params: Any) -> Recommender:
    """A recommender by name (``ease``, ``als``, ``cooccurrence``, ``popularity``)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in MODELS:
        raise SegmintError(f"unknown recommender {name!r}; expected one of {', '.join(MODELS)}")
    return MODELS[key](**params)


# ---------------------------------------------------------------------------- metrics


def _hits(items: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """1.0 where a recommended item (column index, -1 none) is in the user's truth row."""
    truth = sp.csr_matrix(truth)
    rows = np.repeat(np.arange(items.shape[0]), items.shape[1])
    cols = items.ravel()
    valid = cols >= 0
    out = np.zeros(len(cols))
    if valid.any():
        out[valid] = np.asarray(truth[rows[valid], cols[valid]]).ravel() > 0
    return out.reshape(items.shape)


def _truth_sizes(truth) -> np.ndarray:
    return np.asarray((sp.csr_matrix(truth) > 0).sum(axis=1), dtype=np.float64).ravel()


def precision_at_k(items: np.ndarray, truth, k: int = 10) -> float:
    """Mean share of the top ``k`` recommendations the user then bought.

    ``items`` holds each user's recommended columns best first (-1: none); ``truth`` the
    items each user bought afterwards (a users x items sparse matrix, same row order).
    """
    return float(_hits(items[:, :k], truth).sum(axis=1).mean() / k)


def recall_at_k(items: np.ndarray, truth, k: int = 10) -> float:
    """Mean share of each user's later items found in their top ``k`` (users with none
    count 0)."""
    sizes = _truth_sizes(truth)
    hits = _hits(items[:, :k], truth).sum(axis=1)
    return float(np.mean(np.divide(hits, sizes, out=np.zeros_like(hits), where=sizes > 0)))


def ndcg_at_k(items: np.ndarray, truth, k: int = 10) -> float:
    """Mean normalised discounted cumulative gain of the top ``k`` (binary relevance)."""
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (_hits(items[:, :k], truth) * discount[: min(k, items.shape[1])]).sum(axis=1)
    ideal_n = np.minimum(_truth_sizes(truth), k).astype(int)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[ideal_n]
    return float(np.mean(np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)))


def catalogue_coverage(items: np.ndarray, n_items: int) -> float:
    """Share of the catalogue's ``n_items`` items recommended to at least one user."""
    if n_items <= 0:
        return 0.0
    return float(len(np.unique(items[items >= 0])) / n_items)


# ---------------------------------------------------------------------------- the book


class RecommendationBook:
    """A run's stored recommendations in memory, for O(1) reads by customer or segment.

    Built from the ``recommendations`` and ``segment_recommendations`` tables with one
    query each (:meth:`load`); a customer without rows of their own gets their segment's
    featured items.
    """

    def __init__(self, run_id: int | None, customers: pd.DataFrame, segments: pd.DataFrame):
        self.run_id = run_id
        self._customer = self._index(customers, "customer_id")
        self._segment = self._index(segments, "segment_id")

    @staticmethod
    def _index(frame: pd.DataFrame, key: str) -> dict:
        """key -> list of dicts in rank order, built once (a read slices a list)."""
        if frame.empty:
            return {}
        frame = frame.sort_values([key, "rank"], kind="stable")
        keys = frame[key].tolist()
        records = [
            {"product_id": p, "description": d, "score": float(s)}
            for p, d, s in zip(
                frame["product_id"].tolist(),
                frame["description"].fillna("").tolist(),
                frame["score"].tolist(),
                strict=True,
            )
        ]
        out: dict = {}
        for k, rec in zip(keys, records, strict=True):
            out.setdefault(k, []).append(rec)
        return out

    @classmethod
    def load(cls, con, run_id: int | None) -> RecommendationBook:
        """The run's rows (an empty book when the run has none, or for ``run_id`` None)."""
        if run_id is None:
            return cls(None, pd.DataFrame(), pd.DataFrame())
        customers = con.execute(
            """SELECT customer_id, rank, product_id, description, score
               FROM recommendations WHERE run_id = ?""",
            [run_id],
        ).df()
        segments = con.execute(
            """SELECT segment_id, rank, product_id, description, score
               FROM segment_recommendations WHERE run_id = ?""",
            [run_id],
        ).df()
        return cls(run_id, customers, segments)

    def __len__(self) -> int:
        return len(self._customer)

    def for_segment(self, segment_id: int | None, n: int = 10) -> list[dict]:
        """The segment's featured items, best first (empty for an unknown segment)."""
        return self._segment.get(segment_id, [])[:n]

    def for_customer(
        self, customer_id: str, n: int = 10, segment_id: int | None = None
    ) -> list[dict]:
        """The customer's top ``n``; their segment's featured items when they have none."""
        own = self._customer.get(customer_id)
        if own is not None:
            return own[:n]
        return self.for_segment(segment_id, n)

    def has_customer(self, customer_id: str) -> bool:
        return customer_id in self._customer
