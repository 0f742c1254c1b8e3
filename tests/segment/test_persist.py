"""Saved segmenters: JSON round trip gives exactly the fitted model's assignments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmint.errors import ModelError
from segmint.segment import Segmenter, segmenter_from_dict, segmenter_to_dict
from segmint.segment.space import UsefulSpace, interest_coefficients


def _data(seed: int = 0, n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0, 0, 0.1], [4, 1, 2, 0.5], [0, 5, -2, 0.9]])
    lab = rng.integers(0, 3, n)
    X = centers[lab] + rng.normal(0, 1.2, (n, 4))
    frame = pd.DataFrame(X, columns=["monetary", "frequency", "spend_trend", "cat_share_toys"])
    frame["monetary"] = np.exp(frame["monetary"])  # skewed -> log1p transform
    frame["cat_share_toys"] = frame["cat_share_toys"].clip(0, 1)
    frame.loc[rng.choice(n, 40, replace=False), "spend_trend"] = np.nan  # imputed
    return frame


def _expected_mix_space(X: pd.DataFrame) -> UsefulSpace:
    """A space whose micro-segments are found on expected next shares (a learned map)."""
    rng = np.random.default_rng(5)
    toys = np.clip(X["cat_share_toys"].to_numpy() + rng.normal(0, 0.2, len(X)), 0, 1)
    bought = pd.DataFrame({"toys": toys, "books": 1 - toys, "games": rng.uniform(0, 0.1, len(X))})
    mix, _ = interest_coefficients(X, bought)
    return UsefulSpace(value_coef={"monetary": 1.0, "frequency": 0.5}, interest_map=mix)


@pytest.mark.parametrize("method", ["kmeans", "minibatch", "gmm", "expected-mix"])
def test_round_trip_is_identical(method):
    """Segmenter (fit and predict) and the reloaded LiveSegmenter share one assignment kernel."""
    X = _data()
    model = Segmenter(
        method="kmeans" if method == "expected-mix" else method,
        scaler=_expected_mix_space(X) if method == "expected-mix" else None,
        k_range=(2, 4),
        n_stability_resamples=0,
        micro_segments=True,
        micro_min_size=100,
        n_init=2,
        random_state=0,
    ).fit(X)
    saved = json.loads(json.dumps(segmenter_to_dict(model, metadata={"run_id": 3})))
    live = segmenter_from_dict(saved)
    assert live.metadata == {"run_id": 3}
    fresh = _data(seed=1, n=800)  # rows the model never saw, incl. missing values
    for rows in (X, fresh, fresh.iloc[:1], fresh[list(reversed(fresh.columns))]):
        np.testing.assert_array_equal(live.predict(rows), model.predict(rows))
        np.testing.assert_array_equal(live.confidence(rows), model.confidence(rows))
        np.testing.assert_array_equal(live.predict_proba(rows), model.predict_proba(rows))
        np.testing.assert_array_equal(live.predict_micro(rows), model.predict_micro(rows))
        both = live.assign(rows)
        np.testing.assert_array_equal(both["segment_id"], model.predict(rows))
        np.testing.assert_array_equal(both["confidence"], model.confidence(rows))
        np.testing.assert_array_equal(both["micro_segment_id"], model.predict_micro(rows))
        # the service's unchecked fast path: values already in feature_names order
        fast = live.assign_values(rows[live.feature_names].to_numpy())
        for key in ("segment_id", "confidence", "micro_segment_id"):
            np.testing.assert_array_equal(fast[key], both[key])
    np.testing.assert_array_equal(live.predict(X), model.labels_)
    np.testing.assert_array_equal(live.confidence(X), model.confidence_)
    np.testing.assert_array_equal(live.predict_micro(X), model.micro_labels_)
    # arrays in feature order work too
    np.testing.assert_array_equal(live.predict(fresh.to_numpy()), model.predict(fresh))


def test_no_micro_and_errors():
    X = _data()
    model = Segmenter(n_segments=3, n_stability_resamples=0, n_init=1).fit(X)
    d = segmenter_to_dict(model)
    assert d["micro_centers"] is None and d["gmm"] is None and d["within_variance"] > 0
    live = segmenter_from_dict(d)
    with pytest.raises(ModelError):
        live.predict_micro(X)
    assert live.assign(X)["micro_segment_id"] is None
    with pytest.raises(ModelError):
        segmenter_to_dict(Segmenter())
    with pytest.raises(ModelError):
        segmenter_from_dict({"format": "pickle"})


def test_a_model_saved_with_micro_segments_nested_in_segments_assigns_segments_only():
    # version 1 kept micro-centres per segment, a hierarchy this version does not assign
    X = _data()
    model = Segmenter(n_segments=3, n_stability_resamples=0, n_init=1, micro_segments=True)
    d = segmenter_to_dict(model.fit(X))
    d["version"] = 1
    d.pop("micro_groups")
    live = segmenter_from_dict(d)
    np.testing.assert_array_equal(live.predict(X), model.labels_)
    assert live.assign(X)["micro_segment_id"] is None


def test_custom_scaler_refused():
    from sklearn.preprocessing import StandardScaler

    X = _data().fillna(0.0)
    model = Segmenter(n_segments=2, n_stability_resamples=0, n_init=1, scaler=StandardScaler())
    with pytest.raises(ModelError, match="FeatureScaler"):
        segmenter_to_dict(model.fit(X))
