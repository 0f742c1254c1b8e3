"""scikit-learn's estimator checks on every estimator in ``segment/`` and ``predict/``.

Two levels, both listed here so that nothing is skipped silently:

- **Full** ``parametrize_with_checks`` for the array-in estimators of ``segment/``
  (:class:`Segmenter`, :class:`FeatureScaler`). One expected failure: ``check_dtype_object``
  wants a ``TypeError`` for a dict inside an object array; we raise ``DataValidationError``
  (a ``ValueError``) naming the column instead, on purpose.
- **The applicable subset** for the models whose ``fit`` does not take a generic ``(X, y)``:
  the buy-till-you-die models (``fit(frequency, recency, T)``, BG/BB over ``n_periods``,
  Gamma-Gamma over ``(frequency, monetary_value)``), the churn, propensity and next-purchase
  models (a 0/1 churn label, a frame of 0/1 ``buy_*`` columns, days censored at the horizon:
  the generic checks' labels ``1/2``, strings and continuous targets are refused by design)
  and ``ScoreCalibrator`` (a 1-D score). For these:

  * every sklearn check that needs no data runs as is (:data:`API_CHECKS`);
  * the data-dependent API checks (``check_estimators_fit_returns_self``,
    ``check_dont_overwrite_parameters``, ``check_estimators_overwrite_params``,
    ``check_estimators_unfitted``, ``check_fit_check_is_fitted``, ``check_fit_idempotent``,
    ``check_estimators_pickle``, ``check_readonly_memmap_input``, and for the BTYD models
    ``check_sample_weight_equivalence``) are written once below for each model's own fit
    arguments, on valid data;
  * skipped, as they do not apply: the checks that feed generic ``X``/``y`` arrays
    (dtypes, sparse input, sample order/subset invariance with a 2-D ``X``, classifier and
    regressor training on blobs, ``n_features_in_``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as sk
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmint.predict import (
    BetaGeoBetaBinom,
    BetaGeoNBD,
    GammaGamma,
    ModifiedBetaGeoNBD,
    ParetoNBD,
)
from segmint.predict.churn import ChurnModel, ScoreCalibrator
from segmint.predict.propensity import NextPurchaseModel, PropensityModel
from segmint.predict.simulate import simulate_bg_nbd, simulate_bgbb, simulate_gamma_gamma
from segmint.predict.spend import SpendModel
from segmint.segment import FeatureScaler, Segmenter

# ---------------------------------------------------------------- full checks (array in)


def _expected_failures(estimator) -> dict[str, str]:
    return {"check_dtype_object": "DataValidationError (a ValueError) names the column"}


@pytest.mark.filterwarnings("ignore")
@parametrize_with_checks(
    [Segmenter(k_range=(2, 3), n_stability_resamples=1, n_init=1), FeatureScaler()],
    expected_failed_checks=_expected_failures,
)
def test_array_in_estimators(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- the applicable subset

#: sklearn's API checks that need no data: they run unchanged on every model.
API_CHECKS = [
    sk.check_estimator_cloneable,
    sk.check_estimator_tags_renamed,
    sk.check_valid_tag_types,
    sk.check_estimator_repr,
    sk.check_no_attributes_set_in_init,
    sk.check_do_not_raise_errors_in_init_or_set_params,
    sk.check_mixin_order,
    sk.check_parameters_default_constructible,
    sk.check_get_params_invariance,
    sk.check_set_params,
]


@dataclass
class Case:
    """A model, valid arguments for its ``fit``, and one prediction to compare."""

    make: Callable[[], Any]
    fit_args: Callable[[], tuple]
    predict: Callable[[Any], Any]

    def fit(self, model):
        return model.fit(*self.fit_args())


def _rfm():
    d = simulate_bg_nbd(400, 30.0, r=0.5, alpha=4.0, a=0.8, b=2.5, random_state=1)
    return d["frequency"], d["recency"], d["T"]


def _bgbb():
    d = simulate_bgbb(400, 6, alpha=1.2, beta=0.75, gamma=0.66, delta=2.8, random_state=1)
    return d["frequency"], d["recency"], d["n_periods"]


def _spend():
    frequency = np.arange(400) % 5 + 1.0
    d = simulate_gamma_gamma(frequency, p=6.0, q=3.7, gamma=15.0, random_state=1)
    return frequency, d["monetary_value"]


def _features(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"recency_days": rng.exponential(60, n), "frequency": rng.poisson(3, n)})


def _churn():
    X = _features()
    y = (X["recency_days"].to_numpy() > 50).astype(int)
    y[::7] = 1 - y[::7]  # noise, so the calibrator sees both classes everywhere
    return X, y, np.repeat([1, 2], len(X) // 2)


def _propensity():
    X, y, groups = _churn()
    return X, pd.DataFrame({"buy_toys": y, "buy_books": 1 - y}), groups


def _next_purchase():
    X = _features()
    return X, np.minimum(X["recency_days"].to_numpy(), 90.0)


def _score():
    X, y, _ = _churn()
    return X["recency_days"].to_numpy(), y


_trees = {"max_iter": 10, "min_samples_leaf": 20, "random_state": 0}
CASES = {
    "BetaGeoNBD": Case(BetaGeoNBD, _rfm, lambda m: m.p_alive(*_rfm())),
    "ModifiedBetaGeoNBD": Case(ModifiedBetaGeoNBD, _rfm, lambda m: m.p_alive(*_rfm())),
    "ParetoNBD": Case(ParetoNBD, _rfm, lambda m: m.expected_purchases(10.0, *_rfm())),
    "BetaGeoBetaBinom": Case(BetaGeoBetaBinom, _bgbb, lambda m: m.p_alive(*_bgbb())),
    "GammaGamma": Case(GammaGamma, _spend, lambda m: m.conditional_expected_spend(*_spend())),
    "ChurnModel": Case(
        lambda: ChurnModel(**_trees), _churn, lambda m: m.predict_proba(_features())
    ),
    "PropensityModel": Case(
        lambda: PropensityModel(**_trees), _propensity, lambda m: m.predict_proba(_features())
    ),
    "NextPurchaseModel": Case(
        lambda: NextPurchaseModel(**_trees), _next_purchase, lambda m: m.predict(_features())
    ),
    "SpendModel": Case(
        lambda: SpendModel(**_trees), _next_purchase, lambda m: m.predict(_features())
    ),
    "ScoreCalibrator": Case(ScoreCalibrator, _score, lambda m: m.predict_proba(_score()[0])),
}


@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(CASES))
def test_api_checks(name, check):
    check(name, CASES[name].make())


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    return CASES[request.param]


def _public_state(model) -> dict:
    return {k: v for k, v in vars(model).items() if not k.startswith("_")}


def _same(a, b) -> None:
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.filterwarnings("ignore")
def test_fit_contract(case):
    """fit returns self, sets only ``_``-suffixed public attributes, leaves params alone."""
    model = case.make()
    params = clone(model).get_params()
    before = set(_public_state(model))
    assert case.fit(model) is model
    added = set(_public_state(model)) - before
    assert added and all(k.endswith("_") for k in added), sorted(added)
    assert sorted(model.get_params()) == sorted(params)
    for key, value in params.items():
        assert repr(model.get_params()[key]) == repr(value), key


def test_unfitted_raises_not_fitted_error(case):
    with pytest.raises(NotFittedError):
        case.predict(case.make())


@pytest.mark.filterwarnings("ignore")
def test_clone_refit_and_pickle(case):
    """A clone is unfitted; refitting gives the same answers; pickling keeps them."""
    model = case.fit(case.make())
    first = case.predict(model)
    twin = clone(model)
    with pytest.raises(NotFittedError):
        case.predict(twin)
    _same(case.predict(case.fit(twin)), first)
    _same(case.predict(case.fit(model)), first)
    _same(case.predict(pickle.loads(pickle.dumps(model))), first)


@pytest.mark.filterwarnings("ignore")
def test_read_only_inputs(case):
    """As ``check_readonly_memmap_input``: fit must not write into the caller's arrays."""
    args = []
    for a in case.fit_args():
        if isinstance(a, np.ndarray):
            a = a.copy()
            a.setflags(write=False)
        args.append(a)
    reference = case.predict(case.fit(case.make()))
    _same(case.predict(case.make().fit(*args)), reference)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    "name", ["BetaGeoNBD", "ModifiedBetaGeoNBD", "ParetoNBD", "BetaGeoBetaBinom", "GammaGamma"]
)
def test_weights_equal_repeated_rows(name):
    """As ``check_sample_weight_equivalence``, through the shared fit preamble (compress)."""
    case = CASES[name]
    args = case.fit_args()
    repeated = case.make().fit(*(np.concatenate([a, a]) for a in args))
    weighted = case.make().fit(*args, weights=np.full(args[0].size, 2.0))
    assert weighted.n_customers_ == repeated.n_customers_
    for key, value in repeated.params_.items():
        assert weighted.params_[key] == pytest.approx(value, rel=1e-6), key
