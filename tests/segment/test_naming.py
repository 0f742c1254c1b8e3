import json

import numpy as np
import pandas as pd
import pytest

from segmint.segment import (
    describe_segment,
    describe_segments,
    name_segments,
    profile_segments,
    trait_words,
)


@pytest.fixture(scope="module")
def customers():
    """Four hand-built groups of 50 customers each."""
    rng = np.random.default_rng(0)

    def group(n, recency, freq, monetary, tenure, christmas):
        return pd.DataFrame(
            {
                "recency_days": rng.normal(recency, 5, n).clip(0),
                "frequency": rng.normal(freq, 0.5, n).clip(1).round(),
                "monetary": rng.normal(monetary, 50, n).clip(0),
                "tenure_days": rng.normal(tenure, 10, n).clip(0),
                "cat_share_christmas": rng.normal(christmas, 0.02, n).clip(0, 1),
            }
        )

    parts = [
        group(50, 300, 4, 3000, 700, 0.05),  # lapsed big spenders
        group(50, 10, 2, 150, 20, 0.05),  # new
        group(50, 15, 12, 2500, 900, 0.05),  # loyal frequent high value
        group(50, 60, 3, 400, 400, 0.8),  # Christmas
    ]
    X = pd.concat(parts, ignore_index=True)
    X.insert(0, "customer_id", [f"c{i}" for i in range(len(X))])
    labels = np.repeat([0, 1, 2, 3], 50)
    return X, labels


def test_profile_sizes_and_value_share(customers):
    X, labels = customers
    p = profile_segments(X, labels)
    assert p.summary["size"].tolist() == [50, 50, 50, 50]
    assert p.summary["share"].tolist() == [0.25] * 4
    assert p.summary["value_share"].sum() == pytest.approx(1.0)
    assert p.summary["value_share"].idxmax() == 0
    top = p.top_features(3, 1)[0]
    assert top["feature"] == "cat_share_christmas" and top["lift"] > 1


def test_lift_defined_for_negative_features():
    X = pd.DataFrame({"spend_trend": [-2.0, -1.0, 1.0, 2.0]})
    p = profile_segments(X, [0, 0, 1, 1], value=None)
    lift = p.table("lift")["spend_trend"]
    assert lift[0] < 0 < lift[1]
    assert np.isnan(p.table("ratio")["spend_trend"]).all()
    assert p.summary["value_share"].isna().all()


def test_names_are_sensible_and_unique(customers):
    X, labels = customers
    names = name_segments(profile_segments(X, labels))
    assert len(set(names.values())) == 4
    assert "Lapsed" in names[0] and "spend" in names[0]
    assert names[1].startswith("New")
    assert "Christmas" in names[3]


def test_names_disambiguated_by_next_trait():
    # two segments share the top traits (lapsed, big spenders) but differ on tenure
    X = pd.DataFrame(
        {
            "recency_days": [300, 310, 300, 310, 10, 12, 11, 9],
            "monetary": [900, 950, 900, 950, 50, 60, 55, 45],
            "tenure_days": [900, 880, 30, 40, 400, 410, 420, 390],
        },
        dtype=float,
    )
    names = name_segments(profile_segments(X, [0, 0, 1, 1, 2, 2, 2, 2]))
    assert len(set(names.values())) == 3
    assert "#" not in "".join(names.values())
    assert "loyal" in names[0].lower() and "new" in names[1].lower()


def test_identical_segments_fall_back_to_number():
    X = pd.DataFrame({"a": [1.0, 1.0, 1.0, 1.0]})
    names = name_segments(profile_segments(X, [0, 0, 1, 1]))
    assert names == {0: "Typical customers", 1: "Typical customers #2"}


def test_trait_words_vocabulary():
    assert trait_words("recency_days", True)[0] == "lapsed"
    assert trait_words("tenure_days", False)[0] == "new"
    assert trait_words("return_rate", True)[1] == "returners"
    assert trait_words("spend_trend", False)[0] == "declining"
    assert trait_words("weird_metric", True) == ("high weird metric", None)
    assert trait_words("cat_share_home_garden", True)[1] == "Home Garden fans"


def test_description_sentence(customers):
    X, labels = customers
    p = profile_segments(X, labels)
    text = describe_segment(p, 0)
    assert text.startswith("50 customers (25%) bringing ")
    assert "of revenue" in text


def test_describe_segments_end_to_end(customers):
    X, labels = customers
    out = describe_segments(X, labels, labels_map={"recency_days": "days since last order"})
    assert [d.segment_id for d in out] == [0, 1, 2, 3]
    assert len({d.name for d in out}) == 4
    lapsed = out[0]
    assert lapsed.size == 50 and lapsed.share == 0.25
    assert lapsed.rule_fidelity >= 0.8 and lapsed.rule_precision >= 0.8
    assert set(lapsed.profile) == {
        "recency_days",
        "frequency",
        "monetary",
        "tenure_days",
        "cat_share_christmas",
    }
    assert {"feature", "lift", "segment_mean", "population_mean"} <= set(lapsed.top_features[0])
    payload = json.dumps([d.to_dict() for d in out])
    assert "Lapsed" in payload


def test_describe_segments_string_labels_and_polars(customers):
    pl = pytest.importorskip("polars")
    X, labels = customers
    micro = np.array([f"{s}.0" for s in labels], dtype=object)
    out = describe_segments(pl.from_pandas(X), micro)
    assert [d.segment_id for d in out] == ["0.0", "1.0", "2.0", "3.0"]
