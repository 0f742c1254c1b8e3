"""Bad input gives DataValidationError naming the field and the first offending index."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from segmint.errors import DataValidationError, ModelError
from segmint.predict import BetaGeoBetaBinom, BetaGeoNBD, GammaGamma, ParetoNBD


@pytest.mark.parametrize(
    ("x", "tx", "T", "match"),
    [
        ([1, -1], [1, 0], [5, 5], r"frequency must be >= 0; first offending index 1"),
        ([1, 1.5], [1, 2], [5, 5], r"whole number of repeat purchases; first offending index 1"),
        ([1, 2], [1, -2], [5, 5], r"recency must be >= 0; first offending index 1"),
        ([1, 2, 3], [1, 2, 9], [5, 5, 5], r"recency must be <= T.*index 2 \(recency=9, T=5\)"),
        ([1, 0], [1, 3], [5, 5], r"recency must be 0 when frequency is 0.*index 1"),
        ([1, np.nan], [1, 0], [5, 5], r"frequency has a missing or infinite value at index 1"),
        ([1, 0], [1, 0], [5, np.nan], r"T has a missing or infinite value at index 1"),
        ([1, 0], [1, 0], [5, -1], r"T must be >= 0; first offending index 1"),
        ([], [], [], r"no customers"),
        ([1, 0], [1, 0], [5], r"T has 1 values but frequency has 2"),
    ],
)
@pytest.mark.parametrize("cls", [BetaGeoNBD, ParetoNBD])
def test_bad_rfm(cls, x, tx, T, match):
    with pytest.raises(DataValidationError, match=match):
        cls().fit(x, tx, T)


def test_error_names_the_column():
    with pytest.raises(DataValidationError) as err:
        BetaGeoNBD().fit([1, 2], [1, 9], [5, 5])
    assert err.value.column == "recency"
    assert str(err.value).startswith("column 'recency': ")


def test_all_zero_frequency_is_a_model_error():
    with pytest.raises(
        ModelError,
        match="frequency is 0 for all customers: the repeat-purchase rate cannot be identified",
    ):
        BetaGeoNBD().fit([0, 0, 0], [0, 0, 0], [5, 6, 7])


def test_no_lapsed_customers_diverges_with_a_clear_message():
    # every customer buys steadily right up to T: nobody looks lapsed
    rng = np.random.default_rng(0)
    x = (rng.poisson(rng.gamma(0.5, 1.0, 2000) * 30.0) + 1).astype(float)
    T = np.full(2000, 30.0)
    with pytest.raises(
        ModelError,
        match=r"cannot be fitted.*dropout is not identifiable — too few lapsed",
    ):
        BetaGeoNBD().fit(x, T, T)


def test_bad_weights():
    with pytest.raises(DataValidationError, match=r"weights must be >= 0; first offending index 1"):
        BetaGeoNBD().fit([1, 0], [1, 0], [5, 5], weights=[1, -1])


def test_bgbb_inputs():
    with pytest.raises(DataValidationError, match=r"frequency must be <= recency.*index 0"):
        BetaGeoBetaBinom().fit([3], [2], [6])
    with pytest.raises(DataValidationError, match=r"recency must be <= n_periods.*index 0"):
        BetaGeoBetaBinom().fit([3], [7], [6])


def test_gamma_gamma_inputs():
    with pytest.raises(DataValidationError, match=r"monetary_value must be > 0.*index 1"):
        GammaGamma().fit([1, 2], [10.0, 0.0])


def test_unfitted_model():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        BetaGeoNBD().p_alive([1], [1], [2])
