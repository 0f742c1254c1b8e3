import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from segmint.errors import DataValidationError
from segmint.segment import FeatureScaler, choose_transform


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    n = 2000
    return pd.DataFrame(
        {
            "monetary": rng.lognormal(5, 1.2, n),
            "recency_days": rng.exponential(80, n),
            "cat_share_christmas": rng.beta(0.5, 3, n),
            "spend_trend": rng.normal(0, 0.5, n),
            "attr_age": rng.normal(40, 10, n),
            "profit": rng.standard_t(2, n) * 100,
            "interpurchase_cv": np.where(rng.random(n) < 0.3, np.nan, rng.gamma(2, 0.4, n)),
            "const": np.ones(n),
        }
    )


def test_transforms_chosen_per_feature(features):
    sc = FeatureScaler().fit(features)
    assert sc.transforms_ == {
        "monetary": "log1p",
        "recency_days": "log1p",
        "cat_share_christmas": "share",
        "spend_trend": "linear",
        "attr_age": "linear",
        "profit": "signed_log",
        "interpurchase_cv": sc.transforms_["interpurchase_cv"],
        "const": "constant",
    }


def test_output_scaled_finite_and_clipped(features):
    Z = FeatureScaler(scaling="robust", clip=4.0).fit_transform(features)
    assert Z.shape == features.shape
    assert np.isfinite(Z).all()
    assert np.abs(Z).max() <= 4.0
    med = np.median(Z[:, :2], axis=0)
    np.testing.assert_allclose(med, 0.0, atol=1e-9)


def test_nan_imputed_with_median(features):
    sc = FeatureScaler().fit(features)
    expected = float(np.nanmedian(features["interpurchase_cv"]))
    assert sc.impute_values_["interpurchase_cv"] == pytest.approx(expected)
    row = features.iloc[[0]].copy()
    row["interpurchase_cv"] = np.nan
    filled = row.copy()
    filled["interpurchase_cv"] = expected
    np.testing.assert_allclose(sc.transform(row), sc.transform(filled))


def test_forced_transform_and_standard_scaling(features):
    sc = FeatureScaler(transforms={"monetary": "linear"}, scaling="standard", clip=None)
    Z = sc.fit_transform(features[["monetary", "attr_age"]])
    assert sc.transforms_["monetary"] == "linear"
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(Z.std(axis=0), 1.0)


def test_choose_transform_toy():
    assert choose_transform("x", np.array([1.0, 1.0])) == "constant"
    assert choose_transform("return_rate", np.array([0.0, 0.2, 1.0])) == "share"
    assert choose_transform("x", np.r_[np.ones(50), 1000.0]) == "log1p"
    assert choose_transform("x", np.r_[-np.ones(50), -1000.0]) == "signed_log"
    assert choose_transform("x", np.linspace(-3, 3, 50)) == "linear"


def test_numpy_input_and_names():
    sc = FeatureScaler().fit(np.random.default_rng(0).normal(size=(30, 2)))
    assert list(sc.transforms_) == ["x0", "x1"]
    assert not hasattr(sc, "feature_names_in_")
    assert clone(sc).get_params() == sc.get_params()


def test_errors():
    with pytest.raises(DataValidationError, match="non-numeric"):
        FeatureScaler().fit(pd.DataFrame({"a": ["x", "y"]}))
    with pytest.raises(DataValidationError, match="has 3 features"):
        FeatureScaler().fit(np.ones((4, 2))).transform(np.ones((4, 3)))
    with pytest.raises(ValueError, match="unknown transform"):
        FeatureScaler(transforms={"a": "sqrt"}).fit(pd.DataFrame({"a": [1.0, 2.0]}))
