import numpy as np
import pandas as pd
import pytest

from segmint.errors import DataValidationError
from segmint.segment import RFM_GROUPS, quantile_scores, rfm_group, rfm_groups_n, rfm_scores


def test_quantile_scores_ten_values_two_per_bin():
    assert quantile_scores(np.arange(1, 11)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_quantile_scores_ties_are_equal_count():
    # 10 customers with one order and nothing else: still equal-count bins by position
    assert np.bincount(quantile_scores(np.ones(10)))[1:].tolist() == [2, 2, 2, 2, 2]


def test_rfm_scores_on_hand_checked_table():
    df = rfm_scores(
        pd.Series([5, 1, 40, 300, 12, 90, 200, 2, 60, 150], index=list("abcdefghij")),
        [1, 9, 3, 1, 6, 2, 1, 12, 4, 2],
        [10, 900, 150, 5, 400, 50, 20, 1500, 200, 60],
    )
    # recency sorted ascending: b(1) h(2) a(5) e(12) c(40) i(60) f(90) j(150) g(200) d(300)
    assert df["r_score"].to_dict() == {
        "b": 5,
        "h": 5,
        "a": 4,
        "e": 4,
        "c": 3,
        "i": 3,
        "f": 2,
        "j": 2,
        "g": 1,
        "d": 1,
    }
    assert df.loc["h", "rfm_score"] == "555"
    assert df.loc["d", "rfm_score"] == "111"
    assert df.loc["h", "rfm_group"] == "Champions"
    assert df.loc["d", "rfm_group"] == "Lost"
    assert set(df.columns) >= {"r_score", "f_score", "m_score", "rfm_score", "rfm_group"}


@pytest.mark.parametrize(
    ("r", "f", "group"),
    [
        (5, 5, "Champions"),
        (5, 4, "Champions"),
        (4, 5, "Loyal Customers"),
        (3, 4, "Loyal Customers"),
        (5, 1, "New Customers"),
        (4, 1, "Promising"),
        (5, 2, "Potential Loyalists"),
        (3, 3, "Need Attention"),
        (3, 1, "About To Sleep"),
        (2, 3, "At Risk"),
        (1, 4, "At Risk"),
        (1, 5, "Cannot Lose Them"),
        (2, 2, "Hibernating"),
        (1, 1, "Lost"),
    ],
)
def test_named_groups(r, f, group):
    assert rfm_group([r], [f])[0] == group


def test_grid_uses_every_named_group():
    r, f = np.meshgrid(np.arange(1, 6), np.arange(1, 6))
    assert set(rfm_group(r.ravel(), f.ravel())) == set(RFM_GROUPS)


def test_rfm_groups_n_gives_n_groups():
    rng = np.random.default_rng(0)
    n = 5000
    r, f, m = rng.exponential(100, n), rng.poisson(3, n) + 1, rng.lognormal(5, 1, n)
    for k in (2, 4, 6):
        assert rfm_groups_n(r, f, m, k).nunique() == k
        assert rfm_groups_n(r, f, m, k, method="tiers").nunique() == k
    tiers = rfm_groups_n(r, f, m, 4, method="tiers")
    total = rfm_scores(r, f, m)["rfm_total"]
    assert total[tiers == "RFM tier 1"].mean() > total[tiers == "RFM tier 4"].mean()


def test_rfm_errors():
    with pytest.raises(DataValidationError, match="empty"):
        rfm_scores([], [], [])
    with pytest.raises(DataValidationError, match="frequency has 2 values"):
        rfm_scores([1, 2, 3], [1, 2], [1, 2, 3])
    with pytest.raises(DataValidationError, match="monetary has 1 missing"):
        rfm_scores([1, 2], [1, 2], [1, np.nan])
