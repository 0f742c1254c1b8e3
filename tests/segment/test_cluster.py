import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

from segmint.errors import DataValidationError
from segmint.segment import Segmenter, kmeans_soft_assignments

FAST = {"k_range": (2, 6), "n_stability_resamples": 2, "n_init": 2}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(1200, n_features=6, centers=4, cluster_std=1.0, random_state=7)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]), y


@pytest.fixture(scope="module")
def fitted(blobs):
    X, _ = blobs
    return Segmenter(**FAST, micro_segments=True, micro_min_size=100, random_state=0).fit(X)


def test_recovers_blobs_and_chooses_k(blobs, fitted):
    _, y = blobs
    assert fitted.n_segments_ == 4
    assert adjusted_rand_score(y, fitted.labels_) >= 0.95
    assert fitted.stability_ >= 0.9
    sel = fitted.selection_
    assert sel["k"].tolist() == [2, 3, 4, 5, 6]
    assert sel.loc[sel["chosen"], "k"].item() == 4
    assert "silhouette" in fitted.selection_reason_


def test_fitted_attributes(blobs, fitted):
    X, _ = blobs
    assert fitted.cluster_centers_.shape == (4, 6)
    assert fitted.n_features_in_ == 6
    assert fitted.feature_names_in_.tolist() == list(X.columns)
    assert fitted.transform(X).shape == X.shape
    sizes = np.bincount(fitted.labels_)
    assert (np.diff(sizes) <= 0).all(), "segments are numbered by descending size"
    assert fitted.confidence_.shape == (len(X),)
    assert set(fitted.scaler_.transforms_) == set(X.columns)


def test_predict_on_training_data_equals_labels(blobs, fitted):
    X, _ = blobs
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), fitted.labels_)
    assert ((fitted.confidence(X) > 0) & (fitted.confidence(X) <= 1)).all()
    # columns given in another order are matched by name
    np.testing.assert_array_equal(fitted.predict(X[X.columns[::-1]]), fitted.labels_)


def test_soft_assignment_toy():
    centers = np.array([[0.0], [2.0]])
    p = kmeans_soft_assignments(np.array([[1.0], [0.0]]), centers, within_variance=1.0)
    np.testing.assert_allclose(p[0], [0.5, 0.5])
    # at a centre: exp(0) vs exp(-4 / 2)
    np.testing.assert_allclose(p[1, 0], 1 / (1 + np.exp(-2.0)))


def test_micro_segments_across_the_base(blobs, fitted):
    X, _ = blobs
    micro = pd.Series(fitted.micro_labels_)
    assert micro.str.fullmatch(r"m\d+").all()
    assert micro.nunique() > fitted.n_segments_
    assert micro.value_counts().min() >= fitted.micro_min_size
    # a dozen micro-segments: one k-means, so one taste group holding them all
    assert fitted.micro_groups_.shape[0] == len(fitted.micro_centers_) == 1
    assert set(micro) == {f"m{i}" for i in range(fitted.micro_centers_[0].shape[0])}
    np.testing.assert_array_equal(fitted.predict_micro(X), micro)


def test_many_micro_segments_are_a_tree(blobs, fitted):
    X, _ = blobs
    tree = clone(fitted).set_params(micro_flat_max=4).fit(X)
    micro = pd.Series(tree.micro_labels_)
    assert micro.value_counts().min() >= tree.micro_min_size
    # numbered from 0 without gaps: group by group over the tree's leaves
    leaves = sum(c.shape[0] for c in tree.micro_centers_.values())
    assert set(micro) == {f"m{i}" for i in range(leaves)}
    assert tree.micro_groups_.shape[0] == len(tree.micro_centers_) > 1
    np.testing.assert_array_equal(tree.predict_micro(X), micro)
    # the segments do not depend on how micro-segments are found
    np.testing.assert_array_equal(tree.labels_, fitted.labels_)


def test_reproducible(blobs):
    X, _ = blobs
    a = Segmenter(**FAST, random_state=3).fit(X)
    b = Segmenter(**FAST, random_state=3).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_)
    pd.testing.assert_frame_equal(a.selection_, b.selection_)


def test_gmm_path(blobs):
    X, y = blobs
    seg = Segmenter(method="gmm", covariance_type="diag", **FAST).fit(X)
    assert seg.n_segments_ == 4
    assert adjusted_rand_score(y, seg.labels_) >= 0.95
    assert seg.selection_["bic"].notna().all()
    assert "BIC" in seg.selection_reason_
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)
    np.testing.assert_allclose(seg.predict_proba(X).sum(axis=1), 1.0)


def test_minibatch_and_fixed_k_on_numpy(blobs):
    X, y = blobs
    seg = Segmenter(method="minibatch", n_segments=4, n_stability_resamples=2).fit(X.to_numpy())
    assert seg.n_segments_ == 4
    assert len(seg.selection_) == 1
    assert adjusted_rand_score(y, seg.labels_) >= 0.95
    assert not hasattr(seg, "feature_names_in_")
    np.testing.assert_array_equal(seg.predict(X.to_numpy()), seg.labels_)


def test_selection_sample_smaller_than_data(blobs):
    X, y = blobs
    seg = Segmenter(**FAST, selection_sample=300, silhouette_sample=200).fit(X)
    assert seg.n_segments_ == 4
    assert adjusted_rand_score(y, seg.labels_) >= 0.95


def test_polars_and_pyarrow_input(blobs, fitted):
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    X, _ = blobs
    np.testing.assert_array_equal(fitted.predict(pl.from_pandas(X)), fitted.labels_)
    np.testing.assert_array_equal(fitted.predict(pa.Table.from_pandas(X)), fitted.labels_)


def test_nan_handled(blobs):
    X, y = blobs
    X = X.copy()
    rng = np.random.default_rng(0)
    X.iloc[rng.choice(len(X), 50, replace=False), 2] = np.nan
    seg = Segmenter(**FAST).fit(X)
    assert seg.scaler_.impute_values_["f2"] == pytest.approx(np.nanmedian(X["f2"]))
    assert adjusted_rand_score(y, seg.labels_) >= 0.9
    assert np.isfinite(seg.predict_proba(X)).all()


def test_progress_callback(blobs):
    X, _ = blobs
    calls = []
    Segmenter(**FAST, callback=lambda s, d, t: calls.append((s, d, t))).fit(X)
    steps = {c[0] for c in calls}
    assert {"scale", "select", "fit", "stability"} <= steps
    assert ("select", 5, 5) in calls


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (pd.DataFrame({"a": []}, dtype=float), "empty"),
        (pd.DataFrame({"a": [1.0]}), "1 row"),
        (pd.DataFrame({"a": [1.0, 2, 3], "country": ["x", "y", "z"]}), "non-numeric.*country"),
        (pd.DataFrame({"a": [1.0, np.inf, 3]}), "infinite.*a"),
        (np.empty((0, 3)), "empty"),
    ],
)
def test_bad_input_raises(X, match):
    with pytest.raises(DataValidationError, match=match):
        Segmenter(**FAST).fit(X)


def test_more_segments_than_rows():
    with pytest.raises(DataValidationError, match="n_segments=5 is more than the 3 rows"):
        Segmenter(n_segments=5).fit(np.arange(6.0).reshape(3, 2))


def test_bad_params():
    with pytest.raises(ValueError, match="method"):
        Segmenter(method="dbscan").fit(np.random.default_rng(0).random((20, 2)))
    with pytest.raises(ValueError, match="k_range"):
        Segmenter(k_range=(1, 4)).fit(np.random.default_rng(0).random((20, 2)))


def test_predict_checks(fitted, blobs):
    X, _ = blobs
    with pytest.raises(NotFittedError):
        Segmenter().predict(X)
    with pytest.raises(DataValidationError, match="missing feature"):
        fitted.predict(X.drop(columns="f0"))


def test_get_params_and_clone():
    seg = Segmenter(method="gmm", n_segments=3, k_range=(2, 5), random_state=4)
    params = seg.get_params()
    assert params["method"] == "gmm" and params["k_range"] == (2, 5)
    twin = clone(seg)
    assert twin.get_params() == params and twin is not seg
    seg.set_params(n_segments=None)
    assert seg.n_segments is None
    assert not hasattr(Segmenter(), "labels_")
