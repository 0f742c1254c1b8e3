"""Recommenders, ranking metrics, the recommendation book, and storing a run's items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from segmint import pipeline
from segmint.activate.recommend import (
    ALS,
    EASE,
    CoOccurrence,
    Popularity,
    RecommendationBook,
    SegmentPopularity,
    catalogue_coverage,
    interactions_from_frame,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from segmint.errors import SegmintError


def planted(n_users: int = 600, n_groups: int = 6, per_group: int = 8, seed: int = 0):
    """Customers who each buy from one group of items; one of their group's items held out.

    Returns the training matrix, the held-out item of each user, and the group of each user.
    Popular noise items (bought by many across groups) make popularity a poor guess.
    """
    rng = np.random.default_rng(seed)
    n_items = n_groups * per_group + 5
    noise = np.arange(n_groups * per_group, n_items)
    group = rng.integers(0, n_groups, n_users)
    rows, cols, held = [], [], np.empty(n_users, int)
    for u in range(n_users):  # building a fixture, not a batch path
        items = group[u] * per_group + rng.permutation(per_group)[:5]
        held[u] = items[0]
        bought = np.concatenate([items[1:], rng.choice(noise, 3, replace=False)])
        rows += [u] * len(bought)
        cols += list(bought)
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    return X, held, group


def _truth(held: np.ndarray, n_items: int) -> sp.csr_matrix:
    return sp.csr_matrix(
        (np.ones(len(held)), (np.arange(len(held)), held)), shape=(len(held), n_items)
    )


@pytest.mark.parametrize("model", [CoOccurrence(), EASE(l2=10.0), ALS(factors=16, iterations=10)])
def test_models_recover_planted_co_purchase_and_beat_popularity(model):
    if isinstance(model, ALS):
        pytest.importorskip("implicit")
    X, held, group = planted()
    truth = _truth(held, X.shape[1])
    users = np.arange(X.shape[0])
    items, _ = model.fit(X).recommend(users, 10)
    pop, _ = Popularity().fit(X).recommend(users, 10)
    # each customer has 4 unbought items of their group: the first 4 recommended items that
    # are not the popular noise are those
    grouped = (items >= 0) & (items < 6 * 8)
    first4 = grouped & (np.cumsum(grouped, axis=1) <= 4)
    assert (first4.sum(axis=1) == 4).all()
    own = items // 8 == group[:, None]
    assert own[first4].mean() > 0.95
    assert ndcg_at_k(items, truth, 10) > 2 * ndcg_at_k(pop, truth, 10)
    assert recall_at_k(items, truth, 10) > 0.9


def test_segment_popularity_uses_the_customers_segment():
    X, held, group = planted()
    truth = _truth(held, X.shape[1])
    users = np.arange(X.shape[0])
    seg, _ = SegmentPopularity(group).fit(X).recommend(users, 10)
    pop, _ = Popularity().fit(X).recommend(users, 10)
    assert ndcg_at_k(seg, truth, 10) > ndcg_at_k(pop, truth, 10)
    # a customer without a segment (-1) gets global popularity
    labels = group.copy()
    labels[0] = -1
    none, _ = SegmentPopularity(labels).fit(X).recommend([0], 10)
    np.testing.assert_array_equal(none[0], pop[0])


def test_exclude_bought_leaves_out_purchases_and_keeps_viewed_items():
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1]], np.float32))
    model = CoOccurrence().fit(X)
    items, _ = model.recommend([0], 4, exclude_bought=True)
    assert set(items[0][items[0] >= 0]) <= {2, 3}
    assert items[0][0] == 2  # co-bought with both of customer 0's items
    kept, _ = model.recommend([0], 4, exclude_bought=False)
    assert {0, 1} <= set(kept[0])
    # a viewed (weight 0.25) item is history for the model but not "bought"
    viewed = X.copy().tolil()
    viewed[0, 2] = 0.25
    model = CoOccurrence().fit(viewed.tocsr(), bought=X)
    items, _ = model.recommend([0], 2, exclude_bought=True)
    assert 2 in items[0]


def test_a_customer_without_history_gets_popular_items():
    X, _, _ = planted()
    pop, _ = Popularity().fit(X).recommend([-1], 5)
    for model in (CoOccurrence(), EASE()):
        items, _ = model.fit(X).recommend([-1], 5)
        np.testing.assert_array_equal(items[0], pop[0])


def test_empty_or_one_item_catalogue():
    with pytest.raises(SegmintError, match="no purchases to recommend from"):
        EASE().fit(sp.csr_matrix((3, 0), dtype=np.float32))
    with pytest.raises(SegmintError, match="no purchases"):
        Popularity().fit(sp.csr_matrix((3, 4), dtype=np.float32))
    with pytest.raises(SegmintError, match="not fitted"):
        EASE().recommend([0], 3)
    one = sp.csr_matrix(np.ones((3, 1), np.float32))
    for model in (Popularity(), CoOccurrence(), EASE()):
        items, scores = model.fit(one).recommend([0, 1], 10)
        assert items.shape == (2, 1)
        assert (items == -1).all() and np.isnan(scores).all()  # the only item is bought
        items, _ = model.recommend([0], 10, exclude_bought=False)
        assert items.tolist() == [[0]]


def test_ease_caps_its_items_to_the_most_bought():
    X, _, _ = planted()
    model = EASE(max_items=10).fit(X)
    assert model.weights_.shape == (10, 10)
    items, _ = model.recommend(np.arange(50), 5, exclude_bought=False)
    assert set(items.ravel()) <= set(model.items_)


def test_metrics_on_hand_checked_cases():
    truth = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1]]))
    items = np.array([[2, 1, 0], [3, -1, -1]])
    # user 0: hits at ranks 1 and 3 of 3; user 1: none
    assert precision_at_k(items, truth, 3) == pytest.approx((2 / 3 + 0) / 2)
    assert recall_at_k(items, truth, 3) == pytest.approx((2 / 2 + 0) / 2)
    dcg0 = 1 + 1 / np.log2(4)
    idcg0 = 1 + 1 / np.log2(3)
    assert ndcg_at_k(items, truth, 3) == pytest.approx((dcg0 / idcg0 + 0) / 2)
    assert ndcg_at_k(np.array([[0, 2, 1]]), truth[:1], 3) == pytest.approx(1.0)
    assert catalogue_coverage(items, 5) == pytest.approx(4 / 5)  # items 0, 1, 2, 3
    assert catalogue_coverage(np.full((2, 3), -1), 5) == 0.0


def test_interactions_from_frame_and_views():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b"],
            "product_id": ["p1", "p2", "p1", "p3"],
            "orders": [2.0, 1.0, 1.0, 0.0],
            "views": [0.0, 0.0, 0.0, 3.0],
        }
    )
    data = interactions_from_frame(frame, pd.Series({"p1": "Mug", "p3": "Lamp"}))
    assert data.shape == (2, 3)
    assert data.descriptions.tolist() == ["Mug", "", "Lamp"]
    m = data.matrix(0.25).toarray()
    np.testing.assert_allclose(m, [[1, 1, 0], [1, 0, 0.25]])
    assert data.rows(["b", "zz"]).tolist() == [1, -1]
    with pytest.raises(SegmintError, match="orders"):
        interactions_from_frame(frame.drop(columns="orders"))


def test_book_falls_back_to_the_segment():
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "rank": [2, 1, 1],
            "product_id": ["p2", "p1", "p3"],
            "description": ["two", "one", None],
            "score": [0.5, 0.9, 0.1],
        }
    )
    segments = pd.DataFrame(
        {
            "segment_id": [0, 0],
            "rank": [1, 2],
            "product_id": ["s1", "s2"],
            "description": ["x", "y"],
            "score": [0.3, 0.2],
        }
    )
    book = RecommendationBook(1, customers, segments)
    assert [r["product_id"] for r in book.for_customer("a", 10)] == ["p1", "p2"]
    assert book.for_customer("a", 1) == [{"product_id": "p1", "description": "one", "score": 0.9}]
    assert [r["product_id"] for r in book.for_customer("new", 5, segment_id=0)] == ["s1", "s2"]
    assert book.for_customer("new", 5) == []
    assert book.for_segment(7) == []


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from segmint.datasets import generate
    from segmint.datasets import write as write_dataset
    from segmint.store.workspace import Workspace

    path = tmp_path_factory.mktemp("recs") / "ws"
    data = generate(300, seed=0)
    files = write_dataset(data, path.parent / "data", fmt="parquet")
    ws = Workspace(path)
    pipeline.ingest(ws, files["transactions"], customers=files["customers"])
    run = pipeline.segment(ws, as_of=data.as_of, random_state=0, write_html=False)
    return ws, run


def test_recommend_stores_every_customer_and_segment_and_replaces(demo_run):
    ws, run = demo_run
    summary = pipeline.recommend(ws, run_id=run.run_id, top=5)
    assert summary["model"] == "EASE" and summary["fit_seconds"] >= 0
    again = pipeline.recommend(ws, run_id=run.run_id, top=5)
    with ws.connect(read_only=True) as con:
        rows, customers, max_rank = con.execute(
            """SELECT count(*), count(DISTINCT customer_id), max(rank) FROM recommendations
               WHERE run_id = ?""",
            [run.run_id],
        ).fetchall()[0]
        rebought = con.execute(
            """SELECT count(*) FROM recommendations r JOIN transactions t
               USING (customer_id, product_id) WHERE r.run_id = ? AND NOT t.is_return""",
            [run.run_id],
        ).fetchall()[0][0]
        segs = con.execute(
            """SELECT count(DISTINCT segment_id), bool_and(description IS NOT NULL),
                      bool_and(score > 0 AND score <= 1)
               FROM segment_recommendations WHERE run_id = ?""",
            [run.run_id],
        ).fetchall()[0]
        n_segments = con.execute(
            "SELECT count(*) FROM segments WHERE run_id = ?", [run.run_id]
        ).fetchall()[0][0]
    assert customers == again["customers"] == summary["customers"] > 0
    assert rows == customers * 5 and max_rank == 5  # replaced, not appended
    assert rebought == 0  # already bought items excluded by default
    assert segs == (n_segments, True, True)
    book = pipeline.recommendation_book(ws, run.run_id)
    assert len(book) == customers
    with pytest.raises(SegmintError, match="at least 1"):
        pipeline.recommend(ws, run_id=run.run_id, top=0)
    with pytest.raises(SegmintError, match="unknown recommender"):
        pipeline.recommend(ws, run_id=run.run_id, model="magic")


def test_evaluate_recommendations_reports_each_model_and_mode(demo_run):
    ws, _ = demo_run
    with ws.connect(read_only=True) as con:
        lo, hi = con.execute("SELECT min(ts), max(ts) FROM transactions").fetchall()[0]
    split = lo + (hi - lo) * 0.7
    table = pipeline.evaluate_recommendations(ws, split, models=("ease",))
    assert set(table["mode"]) == {"new items", "all items"}
    assert {"popularity", "segment popularity", "co-occurrence", "EASE"} <= set(table["model"])
    assert (
        table[["precision@10", "recall@10", "ndcg@10", "coverage"]]
        .apply(lambda c: c.between(0, 1))
        .all()
        .all()
    )
    with pytest.raises(SegmintError, match="no purchases on or after"):
        pipeline.evaluate_recommendations(ws, hi + pd.Timedelta(days=1), models=())


@pytest.mark.slow
def test_ease_beats_both_popularity_baselines_on_online_retail(tmp_path, online_retail_csv):
    """Fit before 2011-09-01, score the top 10 on the purchases after: the default model's
    NDCG@10 above global and segment popularity in both modes (and co-occurrence's, as
    measured when EASE was chosen)."""
    from segmint.store.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    pipeline.ingest(ws, online_retail_csv, preset="online-retail")
    table = pipeline.evaluate_recommendations(ws, "2011-09-01", models=("ease",))
    for mode, rows in table.groupby("mode"):
        ndcg = rows.set_index("model")["ndcg@10"]
        assert ndcg["EASE"] > 1.5 * ndcg["popularity"], mode
        assert ndcg["EASE"] > 1.5 * ndcg["segment popularity"], mode
        assert ndcg["EASE"] > ndcg["co-occurrence"], mode
