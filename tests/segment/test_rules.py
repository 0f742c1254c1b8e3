import numpy as np
import pandas as pd
import pytest

from segmint.segment import segment_rules
from segmint.segment.rules import format_number, nice_round


@pytest.fixture(scope="module")
def separable():
    rng = np.random.default_rng(1)
    n = 3000
    X = pd.DataFrame(
        {
            "recency_days": rng.integers(0, 400, n),
            "monetary": rng.lognormal(6, 1, n),
            "frequency": rng.integers(1, 20, n),
        }
    )
    labels = np.where(
        X["recency_days"] > 180,
        np.where(X["monetary"] > 1500, 2, 1),
        np.where(X["frequency"] >= 8, 3, 0),
    )
    return X, labels


def test_rules_recover_separable_segments(separable):
    X, labels = separable
    rules = segment_rules(X, labels)
    assert set(rules) == {0, 1, 2, 3}
    for rule in rules.values():
        assert rule.fidelity >= 0.8
        assert rule.precision >= 0.8
    lapsed_big = rules[2]
    assert "recency_days >" in lapsed_big.text
    assert "monetary >" in lapsed_big.text
    assert "frequency >= 8" in rules[3].text  # integer feature gets an integer bound
    conds = {(c.feature, c.op) for c in lapsed_big.conditions}
    assert conds == {("recency_days", ">"), ("monetary", ">")}


def test_labels_map_and_thousands_separator(separable):
    X, labels = separable
    rules = segment_rules(X, labels, labels_map={"recency_days": "days since last order"})
    text = rules[2].text
    assert "days since last order >" in text
    assert "1,500" in text or "1,4" in text or "1,5" in text


def test_disjunction_picks_leaf_covering_most():
    # segment 1 = {a < 10} or {a > 90 and b > 0.5}; the bigger branch (a < 10) must win
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, 4000)
    b = rng.uniform(0, 1, 4000)
    lab = ((a < 30) | ((a > 90) & (b > 0.5))).astype(int)
    rule = segment_rules(pd.DataFrame({"a": a, "b": b}), lab)[1]
    assert rule.text == "a <= 30"
    assert rule.precision == 1.0
    assert rule.fidelity == pytest.approx(((a <= 30) & (lab == 1)).sum() / lab.sum())


def test_rule_to_dict_is_json_serialisable(separable):
    import json

    X, labels = separable
    rule = segment_rules(X, labels)[0]
    json.dumps(rule.to_dict())


def test_number_helpers():
    assert nice_round(1523.0) == 1500
    assert nice_round(0.347) == 0.35
    assert format_number(1500.0) == "1,500"
    assert format_number(0.35) == "0.35"


def _significant_digits(x: float) -> int:
    digits = f"{abs(x):.10e}".split("e")[0].replace(".", "").rstrip("0")
    return max(len(digits), 1)


@pytest.mark.parametrize("seed", range(3))
def test_thresholds_are_numbers_a_person_writes(seed):
    # customers packed around a split point like 61.7391: even where every rounding costs
    # fidelity, the printed threshold has at most 3 significant digits (never the raw split)
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"spend": rng.uniform(60, 64, 2000), "share": rng.beta(2, 5, 2000)})
    labels = (X["spend"] > 61.7391).astype(int).to_numpy()
    rules = segment_rules(X, labels, min_leaf_share=0.0)
    for rule in rules.values():
        for cond in rule.conditions:
            assert _significant_digits(cond.threshold) <= 3, cond
    assert rules[1].text == "spend > 61.7"
    assert rules[1].fidelity == 1.0 and rules[1].precision >= 0.98


def test_threshold_rounded_as_far_as_fidelity_allows():
    # a gap between the groups: one significant digit keeps every member, so it is used
    X = pd.DataFrame({"spend": np.r_[np.linspace(10, 37, 50), np.linspace(43, 90, 50)]})
    rules = segment_rules(X, [0] * 50 + [1] * 50, min_leaf_share=0.0)
    assert rules[1].text == "spend > 40" and rules[1].fidelity == 1.0


def test_attribute_conditions_read_as_categories():
    """0/1 attribute columns read as what they mean, never as "> 0.5" or "<= 0"."""
    rng = np.random.default_rng(2)
    n = 600
    contract = rng.choice(["month_to_month", "one_year", "two_year"], n)
    X = pd.DataFrame(
        {f"attr_contract__{v}": (contract == v).astype(float) for v in np.unique(contract)}
    )
    X["attr_paperless_billing"] = rng.integers(0, 2, n).astype(float)
    labels = np.where(
        contract == "month_to_month", 0, np.where(X["attr_paperless_billing"] == 1, 1, 2)
    )
    names = {c: c.removeprefix("attr_").replace("__", " is ").replace("_", " ") for c in X}
    rules = segment_rules(X, labels, labels_map=names, min_leaf_share=0.0)
    conditions = {seg: set(rule.text.split(" and ")) for seg, rule in rules.items()}
    assert conditions[0] == {"contract is month to month"}
    assert conditions[1] == {"contract is one year or two year", "paperless billing"}
    assert conditions[2] == {"contract is one year or two year", "no paperless billing"}
    assert all(r.fidelity == 1.0 for r in rules.values())
