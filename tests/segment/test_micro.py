"""Micro-segments described against all customers: names, rules, sizes, value shares and the
segment most of their customers are in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.segment import describe_micro_segments
from segmint.segment.micro import ALL_CUSTOMERS, _rule_rows


def _toy():
    # two tastes across two segments: m0 spends on garden, m1 on toys; segment 0 is recent,
    # segment 1 lapsed, and each taste has customers in both
    rng = np.random.default_rng(0)
    n = 60
    garden = np.r_[rng.uniform(0.6, 0.9, n), rng.uniform(0.0, 0.1, n)]
    X = pd.DataFrame(
        {
            "recency_days": np.r_[rng.uniform(5, 30, 40), rng.uniform(200, 300, 20)].tolist() * 2,
            "monetary": np.r_[np.full(n, 100.0), np.full(n, 300.0)],
            "cat_share_garden": garden,
            "cat_share_toys": 1 - garden,
        }
    )
    seg = np.r_[np.zeros(40, int), np.ones(20, int)].tolist() * 2
    micro = np.r_[["m0"] * n, ["m1"] * n]
    return X, np.asarray(seg), micro


def test_names_rules_and_shares_against_all_customers():
    X, seg, micro = _toy()
    out = describe_micro_segments(X, seg, micro)
    garden, toys = (next(d for d in out if d.micro_segment_id == m) for m in ("m0", "m1"))
    assert "Garden" in garden.name and "Toys" in toys.name
    # the rule separates it from everyone else
    assert garden.rule in ("monetary <= 200", "cat_share_garden > 35%", "cat_share_toys <= 65%")
    assert garden.rule_fidelity == 1.0 and garden.rule_precision == 1.0
    # its customers sit in both segments: the main one and its share of them
    assert (garden.segment_id, garden.segment_share) == (0, 40 / 60)
    # sizes and value shares by hand: total spend 60*100 + 60*300 = 24,000
    assert (garden.size, garden.share) == (60, 0.5)
    assert garden.value_share == pytest.approx(6000 / 24000)
    assert toys.value_share == pytest.approx(18000 / 24000)
    # what distinguishes it is measured against all customers: spend 100 vs everyone's 200
    top = {f["feature"]: f for f in garden.top_features}
    assert top["monetary"]["population_mean"] == pytest.approx(200.0)
    assert top["monetary"]["segment_mean"] == 100.0
    d = garden.to_dict()
    assert d["micro_segment_id"] == "m0" and isinstance(d["profile"]["monetary"], float)


def test_order_is_by_size_and_names_are_unique():
    X, seg, micro = _toy()
    micro = micro.copy()
    micro[:10] = "m1"  # m1 is now the larger
    out = describe_micro_segments(X, seg, micro)
    assert [d.micro_segment_id for d in out] == ["m1", "m0"]
    assert len({d.name for d in out}) == len(out)


def test_customers_not_split_are_one_micro_segment_of_everyone():
    X, seg, _ = _toy()
    (only,) = describe_micro_segments(X, seg, ["m0"] * len(X))
    assert only.rule == ALL_CUSTOMERS and (only.size, only.share) == (120, 1.0)


def test_rule_rows_are_bounded_and_keep_small_micro_segments():
    rng = np.random.RandomState(0)
    codes = np.r_[np.zeros(100_000, int), np.full(50, 1)]
    rows = _rule_rows(codes, 2_000, rng)
    assert 2_000 <= rows.size <= 2_030 and np.unique(rows).size == rows.size
    assert (codes[rows] == 1).sum() >= 30
    assert _rule_rows(codes[:500], 2_000, rng).size == 500


def test_a_micro_segment_without_a_strong_trait_is_named_so():
    X = pd.DataFrame({"monetary": [10.0, 10, 11, 11, 12, 12]})  # the same in both
    out = describe_micro_segments(X, [0] * 6, ["m0", "m1"] * 3)
    assert {d.name for d in out} == {"Typical customers", "Typical customers #2"}


def test_no_micro_segment_takes_a_segment_s_name():
    X, seg, micro = _toy()
    alone = {d.micro_segment_id: d.name for d in describe_micro_segments(X, seg, micro)}
    # the segments are named as the micro-segments would be: each micro name is told apart
    # by its next trait (every word still from its profile), or numbered when none is left
    out = describe_micro_segments(X, seg, micro, segment_names=[n.upper() for n in alone.values()])
    for d in out:
        assert d.name.lower() != alone[d.micro_segment_id].lower()
        assert d.name.lower() not in {n.lower() for n in alone.values()}
    assert len({d.name for d in out}) == len(out)
    (only,) = describe_micro_segments(
        X, seg, ["m0"] * len(X), segment_names=["Typical customers", "Typical customers #2"]
    )
    assert only.name == "Typical customers #3"
