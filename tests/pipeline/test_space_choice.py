"""Which value axis a run segments on: learned on the earlier quarter, or the RFM direction."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from segmint.errors import DataValidationError
from segmint.pipeline._outcomes import EarlierPeriod
from segmint.pipeline._segment import SegmentOptions, fit_segmenter
from segmint.segment.space import RFM_DIRECTION, UsefulSpace


def _customers(n: int, seed: int, driver: str):
    """R/F/M that mean little, and a habit (``driver``) that says who buys next quarter."""
    rng = np.random.default_rng(seed)
    habit = rng.integers(0, 3, n)
    frequency = rng.poisson(3, n) + 1.0
    features = pd.DataFrame(
        {
            "recency_days": rng.exponential(60, n),
            "frequency": frequency,
            "monetary": frequency * rng.gamma(5, 10, n),
            "tenure_days": rng.uniform(100, 400, n),
            "return_rate": rng.uniform(0, 0.05, n),
        },
        index=pd.Index([f"c{seed}-{i}" for i in range(n)], name="customer_id"),
    )
    features[driver] = np.array([0.05, 0.4, 0.8])[habit] + rng.normal(0, 0.02, n)
    buys = rng.uniform(size=n) < np.array([0.05, 0.5, 0.95])[habit]
    spend = pd.Series(np.where(buys, rng.gamma(5, 40, n), 0.0), index=features.index)
    return features, spend


def test_without_an_earlier_quarter_value_runs_along_the_rfm_direction():
    features, _ = _customers(600, 0, "return_rate")
    model, learned = fit_segmenter(features, None, SegmentOptions(micro_segments=False))
    assert learned["value_axis"] == "RFM direction"
    assert isinstance(model.scaler_, UsefulSpace)
    assert model.scaler_.value_coef == RFM_DIRECTION
    # customers only: no R/F/M, so every feature equally
    attrs = features[["tenure_days", "return_rate"]]
    model, learned = fit_segmenter(attrs, None, SegmentOptions(micro_segments=False))
    assert "value_axis" not in learned and not isinstance(model.scaler_, UsefulSpace)


def test_without_an_earlier_quarter_but_with_categories_five_segments_hold_value_and_taste():
    features, _ = _customers(900, 6, "return_rate")
    toys = np.random.default_rng(6).uniform(0, 1, len(features))
    features = features.assign(cat_share_toys=toys, cat_share_books=1 - toys)
    model, _ = fit_segmenter(features, None, SegmentOptions(micro_segments=False))
    assert model.n_segments_ == 5
    assert model.selection_reason_.startswith("k=5 is the fewest segments that hold value")
    assert len(model.selection_) == 1 and model.selection_["chosen"].all()
    # a number the user asks for, or a range without five in it, still rules
    asked, _ = fit_segmenter(features, None, SegmentOptions(n_segments=8, micro_segments=False))
    assert asked.n_segments_ == 8 and asked.selection_reason_ == "k=8 fixed by n_segments"
    few, _ = fit_segmenter(features, None, SegmentOptions(k_range=(2, 4), micro_segments=False))
    assert few.n_segments_ == 4


def test_the_learned_axis_wins_when_something_else_than_rfm_says_who_buys():
    features, _ = _customers(1500, 1, "return_rate")
    past, spend = _customers(1500, 2, "return_rate")
    before, spend_before = _customers(1500, 3, "return_rate")
    history = EarlierPeriod(
        datetime(2024, 1, 1),
        90,
        past,
        spend,
        pd.DataFrame({"all": spend}),
        previous=EarlierPeriod(
            datetime(2023, 10, 3), 90, before, spend_before, pd.DataFrame({"all": spend_before})
        ),
    )
    model, learned = fit_segmenter(features, history, SegmentOptions(micro_segments=False))
    assert learned["value_axis"] == "learned"
    assert learned["mix_learned_on"] == ["2024-01-01 +90d", "2023-10-03 +90d"]
    coef = model.scaler_.value_coef
    assert abs(coef["return_rate"]) > max(abs(coef[c]) for c in RFM_DIRECTION)
    assert model.selection_["usefulness"].notna().all()


def test_a_sample_gets_as_many_micro_segments_as_its_population():
    # about 2 x sqrt(n) micro-segments for n customers, whether all or a sample are fitted
    features, _ = _customers(4000, 0, "return_rate")
    options = SegmentOptions(n_segments=3)
    alone, _ = fit_segmenter(features, None, options)
    assert alone.micro_size is None
    standing_in, _ = fit_segmenter(features, None, options, population=250_000)
    assert standing_in.micro_size == 10  # 4000 / (2 * 500) = 4 rows, under the minimum
    more, _ = fit_segmenter(features, None, options, population=10_000)
    assert more.micro_size == 20  # 4000 / (2 * 100)
    # 200 aimed at, against 2 * sqrt(4000) = 126 for the 4,000 alone
    assert len(set(more.micro_labels_)) > 1.3 * len(set(alone.micro_labels_))


def test_a_feature_no_customer_has_takes_no_part(caplog):
    # customer, date and amount only (CDNOW): the favourite category's share is empty for all
    features, spend = _customers(800, 4, "return_rate")
    past, _ = _customers(800, 5, "return_rate")
    for frame in (features, past):
        frame["top_category_share"] = np.nan
    history = EarlierPeriod(datetime(2024, 1, 1), 90, past, spend, pd.DataFrame({"all": spend}))
    with caplog.at_level("WARNING"):
        model, learned = fit_segmenter(features, history, SegmentOptions(micro_segments=False))
    assert "top_category_share" not in list(model.feature_names_in_)
    assert "return_rate" in list(model.feature_names_in_)
    assert "entirely missing" not in caplog.text
    assert learned["micro_space"] == "value and behaviour (no categories)"
    empty = features[[]].assign(tenure_days=np.nan)
    with pytest.raises(DataValidationError, match="no feature to segment on has a value"):
        fit_segmenter(empty, None, SegmentOptions(micro_segments=False))
