"""The baselines segments are compared with: RFM ladder and the two naive k-means."""

import numpy as np
from sklearn.metrics import adjusted_rand_score

from segmint.segment.baselines import kmeans_rfm, kmeans_rfm_categories, rfm_ladder


def test_rfm_ladder_cuts_the_rfm_total_into_k_equal_bins_in_order():
    # ten customers, best to worst on every axis: R+F+M totals 15, 15, 12, 12, ..., 3, 3
    recency = np.arange(1, 11) * 10
    frequency = np.arange(10, 0, -1)
    monetary = np.arange(10, 0, -1) * 100.0
    ladder = rfm_ladder(recency, frequency, monetary, 5)
    assert ladder.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert np.bincount(rfm_ladder(recency, frequency, monetary, 2))[1:].tolist() == [5, 5]


def _planted(seed: int = 1):
    rng = np.random.default_rng(seed)
    truth = np.repeat([0, 1, 2], 60)
    recency = np.concatenate([np.exp(rng.normal(m, 0.1, 60)) for m in (1.0, 3.0, 5.0)])
    frequency = np.concatenate([np.exp(rng.normal(m, 0.1, 60)) for m in (3.0, 2.0, 0.5)])
    monetary = np.concatenate([np.exp(rng.normal(m, 0.1, 60)) for m in (7.0, 5.0, 3.0)])
    return truth, recency, frequency, monetary


def test_kmeans_on_log_rfm_recovers_planted_groups_and_honours_the_seed():
    truth, r, f, m = _planted()
    labels = kmeans_rfm(r, f, m, 3, random_state=0)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert np.array_equal(labels, kmeans_rfm(r, f, m, 3, random_state=0))


def test_kmeans_with_category_shares_separates_what_rfm_cannot():
    rng = np.random.default_rng(2)
    n = 80
    r, f, m = rng.normal(30, 1, n), rng.normal(5, 0.2, n), rng.normal(500, 10, n)
    truth = np.arange(n) % 2  # same RFM, opposite product mix
    shares = np.column_stack([np.where(truth == 1, 0.9, 0.1), np.where(truth == 1, 0.1, 0.9)])
    labels = kmeans_rfm_categories(r, f, m, shares, 2, random_state=0)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert adjusted_rand_score(truth, kmeans_rfm(r, f, m, 2, random_state=0)) < 0.2
