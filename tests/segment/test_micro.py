"""Micro-segments described within their segment: names, rules, sizes and value shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.errors import DataValidationError
from segmint.segment import describe_micro_segments
from segmint.segment.micro import SEPARATOR, WHOLE_SEGMENT, _rule_rows


def _toy():
    # segment 0 (all recent): micro 0.0 spends on garden, 0.1 on toys; segment 1 is not split
    rng = np.random.default_rng(0)
    n = 60
    garden = np.r_[rng.uniform(0.6, 0.9, n), rng.uniform(0.0, 0.1, n), rng.uniform(0, 1, 40)]
    X = pd.DataFrame(
        {
            "recency_days": np.r_[rng.uniform(5, 30, 2 * n), rng.uniform(200, 300, 40)],
            "monetary": np.r_[np.full(n, 100.0), np.full(n, 300.0), np.full(40, 50.0)],
            "cat_share_garden": garden,
            "cat_share_toys": np.r_[1 - garden[:n], 1 - garden[n : 2 * n], rng.uniform(0, 1, 40)],
        }
    )
    seg = np.r_[np.zeros(2 * n, int), np.ones(40, int)]
    micro = np.r_[["0.0"] * n, ["0.1"] * n, ["1.0"] * 40]
    return X, seg, micro


def test_names_rules_and_shares_within_the_segment():
    X, seg, micro = _toy()
    out = describe_micro_segments(X, seg, micro, {0: "Active customers", 1: "Lapsed customers"})
    by_id = {d.micro_segment_id: d for d in out}
    garden, toys, lapsed = by_id["0.0"], by_id["0.1"], by_id["1.0"]
    # named after the parent, then by what sets it apart from its sibling (not from everyone)
    assert garden.name.startswith("Active customers" + SEPARATOR) and "Garden" in garden.name
    assert toys.name.startswith("Active customers" + SEPARATOR) and "Toys" in toys.name
    # the rule separates it from its sibling (here spend alone does), not from segment 1
    assert garden.rule in ("monetary <= 200", "cat_share_garden > 30%", "cat_share_toys <= 60%")
    assert garden.rule_fidelity == 1.0 and garden.rule_precision == 1.0
    # a segment that is not split: one micro-segment, the segment's own name and all of it
    assert lapsed.name == "Lapsed customers" and lapsed.rule == WHOLE_SEGMENT
    assert (lapsed.size, lapsed.segment_share) == (40, 1.0)
    # sizes and value shares by hand: total spend 60*100 + 60*300 + 40*50 = 26,000
    assert (garden.size, garden.share, garden.segment_share) == (60, 60 / 160, 0.5)
    assert garden.value_share == pytest.approx(6000 / 26000)
    assert toys.value_share == pytest.approx(18000 / 26000)
    # what distinguishes it is measured against the segment (0.0 and 0.1 together), not
    # against all customers: spend 100 vs the segment's 200 (everyone's: 162.5)
    top = {f["feature"]: f for f in garden.top_features}
    assert top["monetary"]["population_mean"] == pytest.approx(200.0)
    assert top["monetary"]["segment_mean"] == 100.0
    assert garden.profile["monetary"] == 100.0
    d = garden.to_dict()
    assert d["micro_segment_id"] == "0.0" and isinstance(d["profile"]["monetary"], float)


def test_order_is_by_segment_then_size_and_names_are_unique():
    X, seg, micro = _toy()
    micro = micro.copy()
    micro[:10] = "0.1"  # 0.1 is now the larger
    out = describe_micro_segments(X, seg, micro, {0: "A", 1: "B"})
    assert [d.micro_segment_id for d in out] == ["0.1", "0.0", "1.0"]
    assert len({d.name for d in out}) == len(out)


def test_every_segment_needs_a_name():
    X, seg, micro = _toy()
    with pytest.raises(DataValidationError, match="segment 1 has no name"):
        describe_micro_segments(X, seg, micro, {0: "A"})


def test_rule_rows_are_bounded_and_keep_small_micro_segments():
    rng = np.random.RandomState(0)
    codes = np.r_[np.zeros(100_000, int), np.full(50, 1)]
    rows = _rule_rows(codes, 2_000, rng)
    assert 2_000 <= rows.size <= 2_030 and np.unique(rows).size == rows.size
    assert (codes[rows] == 1).sum() >= 30
    assert _rule_rows(codes[:500], 2_000, rng).size == 500


def test_a_micro_segment_without_a_strong_trait_reads_typical():
    from segmint.segment.micro import within_name

    assert within_name("Typical customers") == "typical"
    assert within_name("Typical customers #2") == "typical #2"
    assert within_name("Kitchen fans") == "Kitchen fans"
    X = pd.DataFrame({"monetary": [10.0, 10, 11, 11, 12, 12]})  # the same in both
    out = describe_micro_segments(X, [0] * 6, ["0.0", "0.1"] * 3, {0: "Lapsed customers"})
    assert {d.name for d in out} == {"Lapsed customers · typical", "Lapsed customers · typical #2"}
