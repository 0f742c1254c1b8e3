"""Usefulness per k: the issue's bar measured on a period after a cut-off, on toy data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.segment import Segmenter
from segmint.segment.space import UsefulSpace, interest_coefficients, value_coefficients
from segmint.segment.usefulness import usefulness_by_k


def _customers(n: int = 1200, seed: int = 0):
    """Three value tiers (set by frequency) crossed with two tastes (toys or books)."""
    rng = np.random.default_rng(seed)
    tier = rng.integers(0, 3, n)
    taste = rng.integers(0, 2, n)
    frequency = rng.poisson([1, 4, 12], (n, 3))[np.arange(n), tier] + 1.0
    toys = np.where(taste == 1, 0.9, 0.1) + rng.normal(0, 0.05, n)
    features = pd.DataFrame(
        {
            "recency_days": rng.exponential(np.array([200, 60, 15])[tier]),
            "frequency": frequency,
            "monetary": frequency * rng.gamma(5, 10, n),
            "return_rate": rng.uniform(0, 0.1, n),
            "cat_share_toys": toys.clip(0, 1),
            "cat_share_books": (1 - toys).clip(0, 1),
        }
    )
    buys = rng.uniform(size=n) < np.array([0.2, 0.6, 0.95])[tier]
    spend = np.where(buys, frequency * rng.gamma(5, 8, n), 0.0)
    bought = pd.DataFrame({"toys": spend * toys.clip(0, 1), "books": spend * (1 - toys).clip(0, 1)})
    return features, spend, bought


def test_value_axis_learns_what_predicts_spend():
    now, _, _ = _customers(seed=1)
    past, spend, _ = _customers(seed=2)
    coef, r2 = value_coefficients(now, past, spend)
    assert set(coef) == {"recency_days", "frequency", "monetary", "return_rate"}
    assert abs(coef["frequency"]) + abs(coef["monetary"]) > 5 * abs(coef["return_rate"])
    assert r2 > 0.3


def test_a_feature_that_barely_varied_before_takes_no_part_in_the_value_axis():
    """A trend two months into the data is nearly constant; its coefficient would be noise."""
    now, _, _ = _customers(seed=1)
    past, spend, _ = _customers(seed=2)
    rng = np.random.default_rng(3)
    now["spend_trend"] = rng.normal(0, 1, len(now))
    past["spend_trend"] = rng.normal(0, 0.05, len(past)) + 0.01 * np.log1p(spend)
    coef, r2 = value_coefficients(now, past, spend)
    assert coef["spend_trend"] == 0.0
    assert abs(coef["frequency"]) + abs(coef["monetary"]) > 0 and r2 > 0.3


def test_the_space_weights_its_blocks():
    now, _, _ = _customers(seed=1)
    past, spend, _ = _customers(seed=2)
    coef, _ = value_coefficients(now, past, spend)
    space = UsefulSpace(value_coef=coef, behaviour_weight=0.5, interest_weight=0.8).fit(now)
    S = space.transform(now)
    assert list(space.space_names_) == ["value", *now.columns]
    assert abs(S[:, 0].std() - 1) < 1e-9

    def rms(block):
        return np.sqrt(np.mean(np.sum(block**2, axis=1)))

    assert abs(rms(S[:, 1:5]) - 0.5) < 1e-6
    assert abs(rms(S[:, space.interest_dims_]) - 0.8) < 1e-6
    # a share point weighs the same in both categories: the block is shares in their own units
    shares = now[["cat_share_toys", "cat_share_books"]].to_numpy()
    ratio = S[:, space.interest_dims_].std(axis=0) / shares.std(axis=0)
    assert abs(ratio[0] - ratio[1]) < 1e-9


def test_micro_segments_are_found_on_past_shares_and_the_expected_mix():
    now, _, _ = _customers(seed=1)
    past, _, bought = _customers(seed=2)
    bought["games"] = 0.0  # a category nobody bought before: predicted, never an input
    mix, r2 = interest_coefficients(past, bought)
    assert mix.inputs == ("cat_share_toys", "cat_share_books")
    assert mix.outputs == ("toys", "books", "games") and r2 > 0.5
    expected = mix.predict(now[list(mix.inputs)].to_numpy(), now["frequency"].to_numpy())
    toys_fans = now["cat_share_toys"].to_numpy() > 0.5
    assert expected[toys_fans, 0].mean() > 0.8 > 0.2 > expected[~toys_fans, 0].mean()
    space = UsefulSpace(interest_map=mix).fit(now)
    S = space.transform(now)
    assert [space.space_names_[i] for i in space.interest_dims_] == [
        "cat_share_toys",
        "cat_share_books",
        "next_share:toys",
        "next_share:books",
        "next_share:games",
    ]

    # past and expected shares split the interest block: each weighs 0.8 / sqrt(2), both 0.8
    def rms(block):
        return np.sqrt(np.mean(np.sum(S[:, block] ** 2, axis=1)))

    for block in (space.interest_dims_[:2], space.interest_dims_[2:]):
        assert abs(rms(block) - 0.8 / np.sqrt(2)) < 1e-6
    assert abs(rms(space.interest_dims_) - 0.8) < 1e-6
    model = Segmenter(scaler=space, n_segments=3, micro_segments=True, n_stability_resamples=0).fit(
        now
    )
    # segments are found on the expected mix too
    assert model.cluster_centers_.shape[1] == S.shape[1]
    micro = pd.Series(model.micro_labels_)
    assert micro.value_counts().min() >= model.micro_min_size
    # micro-segments part the tastes
    purity = pd.crosstab(micro, toys_fans).max(axis=1).sum() / len(now)
    assert purity > 0.9
    # too few buyers, or no shares: nothing to learn
    assert interest_coefficients(past.iloc[:30], bought.iloc[:30]) is None
    no_shares = past.drop(columns=["cat_share_toys", "cat_share_books"])
    assert interest_coefficients(no_shares, bought) is None


def _scored_customers():
    """The planted customers in a space learned on them, their RFM and next period."""
    past, spend, bought = _customers(seed=3)
    rfm = (past["recency_days"], past["frequency"], past["monetary"])
    coef, _ = value_coefficients(past, past, spend)
    space = UsefulSpace(value_coef=coef).fit(past).transform(past)
    return space, rfm, spend, bought


def test_usefulness_rewards_value_and_interest_and_refuses_tiny_segments():
    space, rfm, spend, bought = _scored_customers()
    scores = usefulness_by_k(space, rfm, spend, bought, (2, 8), random_state=0)
    # interest is asked of them: fewer than five segments are not scored while five are allowed
    assert set(scores) == set(range(5, 9))
    # six planted groups (three tiers x two tastes): from k = 6 both bars are met
    assert scores[6] >= 1.0
    few = usefulness_by_k(space, rfm, spend, bought, (2, 4), random_state=0)
    assert set(few) == {2, 3, 4} and few[2] < scores[6]
    # value only, a space of one axis: interest cannot be asked of it
    value_only = usefulness_by_k(space[:, :1], rfm, spend, bought.iloc[:, :1], (3, 3))
    assert value_only[3] > 0.5
    # a lone outlier far away makes a one-customer segment: not a segment
    far = space.copy()
    far[0] = 1e3
    assert usefulness_by_k(far, rfm, spend, bought, (2, 2))[2] == 0.0


def test_usefulness_memo_fits_the_baselines_once_for_several_spaces():
    space, rfm, spend, bought = _scored_customers()
    alone = usefulness_by_k(space, rfm, spend, bought, (2, 4), random_state=0)
    memo: dict = {}
    first = usefulness_by_k(space, rfm, spend, bought, (2, 4), random_state=0, memo=memo)
    assert first == alone and set(memo) == {2, 3, 4}  # one baseline per k
    # the second space is scored against the stored measures, not new fits: doubling them
    # halves every score
    doubled = {key: (value * 2, interest * 2) for key, (value, interest) in memo.items()}
    again = usefulness_by_k(space, rfm, spend, bought, (2, 4), random_state=0, memo=doubled)
    assert again == pytest.approx({k: s / 2 for k, s in first.items()})
