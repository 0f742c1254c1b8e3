"""Recommendations for a run's customers, and their evaluation at a split date."""

from __future__ import annotations

import time
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from segmint.activate.recommend import (
    CoOccurrence,
    Popularity,
    RecommendationBook,
    RepeatPurchases,
    SegmentPopularity,
    catalogue_coverage,
    make_model,
    ndcg_at_k,
    precision_at_k,
    read_interactions,
    recall_at_k,
)
from segmint.errors import SegmintError
from segmint.pipeline._progress import no_progress
from segmint.pipeline._segment import SegmentOptions, fit_segments, read_features
from segmint.store.runs import get_run
from segmint.store.workspace import Workspace

#: the default recommender, chosen by ``segmint recommend evaluate`` on Online Retail
#: (benchmarks/bench_recommend.py, splits 2011-07-01 and 2011-09-01): EASE has the best
#: NDCG@10 of every model there, ahead of co-occurrence and ALS, in both modes. Items already
#: bought are left out by default: for rebuys the customer's own history ("repeat
#: purchases") beats every model, so a recommendation's job is what they have not bought yet
DEFAULT_MODEL = "ease"


def _as_datetime(value) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


def recommend(
    workspace: Workspace,
    run_id: int | None = None,
    top: int = 10,
    model: str = DEFAULT_MODEL,
    exclude_bought: bool = True,
    view_weight: float = 0.25,
) -> dict:
    """Fit ``model`` on the run's data up to its as-of date and store its recommendations.

    Every customer assigned in the run with purchase history gets their top ``top`` items
    (without the items they already bought when ``exclude_bought``); every segment gets its
    featured items, the most bought by its customers. Earlier rows of the run are replaced,
    in one transaction.

    Returns
    -------
    dict
        ``run_id``, ``model``, ``customers`` (with rows), ``items`` (catalogue size),
        ``fit_seconds``, ``segments``.
    """
    if top < 1:
        raise SegmintError(f"--top must be at least 1, got {top}")
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        as_of = _as_datetime(run["as_of"])
        data = read_interactions(con, end=as_of)
        assigned = con.execute(
            "SELECT customer_id, segment_id FROM assignments WHERE run_id = ?", [run["run_id"]]
        ).df()
    estimator = make_model(model)
    started = time.perf_counter()
    estimator.fit(data.matrix(view_weight), bought=data.bought)
    fit_seconds = time.perf_counter() - started
    rows = data.rows(assigned["customer_id"])
    known = assigned[rows >= 0]
    items, scores = estimator.recommend(rows[rows >= 0], top, exclude_bought=exclude_bought)
    valid = items >= 0
    per_customer = pa.table(
        {
            "customer_id": np.repeat(known["customer_id"].to_numpy(dtype=object), top)[
                valid.ravel()
            ],
            "rank": np.tile(np.arange(1, top + 1, dtype=np.int32), len(known))[valid.ravel()],
            "product_id": data.product_ids[items[valid]],
            "description": data.descriptions[items[valid]],
            "score": scores[valid],
        }
    )
    with workspace.transaction() as con:
        con.execute("DELETE FROM recommendations WHERE run_id = ?", [run["run_id"]])
        con.execute("DELETE FROM segment_recommendations WHERE run_id = ?", [run["run_id"]])
        con.register("per_customer", per_customer)
        con.execute(
            """INSERT INTO recommendations
               SELECT ?, customer_id, rank, product_id, description, score FROM per_customer""",
            [run["run_id"]],
        )
        con.unregister("per_customer")
        _store_featured(con, run["run_id"], as_of, top)
        segments = con.execute(
            "SELECT count(DISTINCT segment_id) FROM segment_recommendations WHERE run_id = ?",
            [run["run_id"]],
        ).fetchall()[0][0]
    return {
        "run_id": int(run["run_id"]),
        "model": estimator.name,
        "customers": int(len(known)),
        "items": int(data.shape[1]),
        "fit_seconds": round(fit_seconds, 3),
        "segments": int(segments),
    }


def _store_featured(con, run_id: int, as_of: datetime, top: int) -> None:
    """Per segment, the ``top`` items most of its customers bought before ``as_of``; score
    is the share of the segment's customers who bought the item."""
    con.execute(
        """INSERT INTO segment_recommendations
           WITH members AS (SELECT customer_id, segment_id FROM assignments WHERE run_id = ?),
                size AS (SELECT segment_id, count(*) AS n FROM members GROUP BY 1),
                descr AS (SELECT product_id, arg_max(description, n) AS description
                          FROM (SELECT product_id, description, count(*) AS n
                                FROM transactions WHERE description IS NOT NULL GROUP BY ALL)
                          GROUP BY 1),
                buyers AS (
                    SELECT m.segment_id, t.product_id, count(DISTINCT t.customer_id) AS buyers
                    FROM transactions t JOIN members m USING (customer_id)
                    WHERE NOT t.is_return AND t.quantity > 0 AND t.ts < ?
                      AND NOT regexp_matches(t.product_id, '^[A-Za-z _-]+$')
                    GROUP BY ALL),
                ranked AS (
                    SELECT *, row_number() OVER (
                        PARTITION BY segment_id ORDER BY buyers DESC, product_id) AS rank
                    FROM buyers)
           SELECT ?, r.segment_id, r.rank, r.product_id, d.description,
                  r.buyers / s.n AS score, r.buyers
           FROM ranked r JOIN size s USING (segment_id) LEFT JOIN descr d USING (product_id)
           WHERE r.rank <= ?""",
        [run_id, as_of, run_id, top],
    )


def recommendation_book(workspace: Workspace, run_id: int | None = None) -> RecommendationBook:
    """The run's stored recommendations (the latest run's by default) in memory."""
    with workspace.connect(read_only=True) as con:
        return RecommendationBook.load(con, get_run(con, run_id)["run_id"])


def _segments_at(workspace: Workspace, split: datetime) -> pd.DataFrame:
    """customer_id, segment_id of a segmentation fitted as of ``split`` (not stored)."""
    with workspace.connect(read_only=True) as con:
        features, as_of, fingerprint, _, history = read_features(con, split, no_progress, None)
    fitted = fit_segments(
        features,
        as_of,
        fingerprint,
        SegmentOptions().check(),
        no_progress,
        history,
    )
    frame = fitted.assignments
    if "customer_id" not in frame.columns:
        frame = frame.reset_index()
    return frame[["customer_id", "segment_id"]]


def evaluate_recommendations(
    workspace: Workspace,
    split,
    *,
    k: int = 10,
    end=None,
    models: tuple[str, ...] = ("ease", "als"),
    view_weight: float = 0.25,
    modes: tuple[bool, ...] = (True, False),
) -> pd.DataFrame:
    """Fit on purchases before ``split``, score the top ``k`` against purchases from
    ``split`` to ``end`` (the end of the data by default).

    Customers evaluated: those with purchases before and after the split. With
    ``exclude_bought`` (mode "new items") recommendations leave out items the customer
    already bought and the truth is the items they bought for the first time after the
    split; without it (mode "all items") the truth is every item bought after the split.
    The baselines (global popularity, popularity within the customer's segment as of the
    split, item-to-item co-occurrence, and in mode "all items" the customer's own most
    bought items) are scored the same way. Models whose package is
    missing (``als`` without ``implicit``) are left out.

    Returns
    -------
    DataFrame
        One row per mode and model: ``mode``, ``model``, ``precision@k``, ``recall@k``,
        ``ndcg@k``, ``coverage``, ``fit_s``, ``users``.
    """
    split = _as_datetime(split)
    with workspace.connect(read_only=True) as con:
        train = read_interactions(con, end=split)
        later = read_interactions(
            con, start=split, end=None if end is None else _as_datetime(end), views=False
        )
    if later.bought.nnz == 0:
        raise SegmintError(f"no purchases on or after the split date {split:%Y-%m-%d}")
    # the later purchases on the training matrix's rows and columns (new items dropped: no
    # model can recommend an item it never saw)
    rows = train.rows(later.customer_ids)
    cols = pd.Index(train.product_ids).get_indexer(pd.Index(later.product_ids))
    coo = later.bought.tocoo()
    keep = (rows[coo.row] >= 0) & (cols[coo.col] >= 0)
    truth_all = sp.csr_matrix(
        (np.ones(keep.sum(), np.float32), (rows[coo.row[keep]], cols[coo.col[keep]])),
        shape=train.shape,
    )
    truth_new = truth_all - truth_all.multiply(train.bought > 0)
    truth_new.eliminate_zeros()

    segments = _segments_at(workspace, split)
    seg_of = pd.Series(segments["segment_id"].to_numpy(), index=segments["customer_id"])
    labels = seg_of.reindex(train.customer_ids).fillna(-1).astype(int).to_numpy()

    candidates = [
        ("popularity", lambda: Popularity()),
        ("segment popularity", lambda: SegmentPopularity(labels)),
        ("co-occurrence", lambda: CoOccurrence()),
        ("repeat purchases", lambda: RepeatPurchases()),
        *[(name, lambda name=name: make_model(name)) for name in models],
    ]
    matrix = train.matrix(view_weight)
    results = []
    for _name, build in candidates:
        try:
            estimator = build()
            started = time.perf_counter()
            estimator.fit(matrix, bought=train.bought)
            fit_s = time.perf_counter() - started
        except SegmintError as exc:
            if "needs the implicit package" in str(exc):
                continue
            raise
        for exclude in modes:
            if exclude and isinstance(estimator, RepeatPurchases):
                continue  # nothing to repeat: it would be global popularity
            truth = truth_new if exclude else truth_all
            users = np.flatnonzero(np.diff(truth.indptr) > 0)
            started = time.perf_counter()
            items, _ = estimator.recommend(users, k, exclude_bought=exclude)
            per_user = (time.perf_counter() - started) / max(len(users), 1)
            t = truth[users]
            results.append(
                {
                    "mode": "new items" if exclude else "all items",
                    "model": estimator.name,
                    f"precision@{k}": precision_at_k(items, t, k),
                    f"recall@{k}": recall_at_k(items, t, k),
                    f"ndcg@{k}": ndcg_at_k(items, t, k),
                    "coverage": catalogue_coverage(items, train.shape[1]),
                    "fit_s": fit_s,
                    "score_ms_per_user": per_user * 1000,
                    "users": len(users),
                }
            )
    return pd.DataFrame(results)
