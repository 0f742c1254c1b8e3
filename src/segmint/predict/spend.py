"""Next-horizon net spend: the supervised half of the product's lifetime value.

:class:`SpendModel` learns ``log(1 + net spend in the next horizon)`` from the stacked training
frames of past cut-offs (as the churn model does), with the buy-till-you-die expectations
among its features (the expectations, and the history net of returns). It averages two
learners, because each alone ranks customers barely better than their past spend does
(Spearman with the next 90 days' net spend on UCI Online Retail at the test cut-offs
2011-06-12, 08-12 and 09-10; past spend 0.517, 0.521, 0.514):

- a ridge regression on signed ``log(1 + |x|)`` features (0.519, 0.532, 0.525): spend is
  roughly log-linear in past spend, orders and the BTYD expectations, and a linear model
  extrapolates to the longer histories of later cut-offs, where trees cannot;
- gradient-boosted trees on each feature's percentile among the customers of the same cut-off
  (0.518, 0.524, 0.526): percentiles mean the same at every cut-off, so the trees learn from
  short early histories what holds for later, longer ones (trees on the raw features: 0.511,
  0.518, 0.516);

and their average ranks best (0.526, 0.535, 0.530). Trained on a few cut-offs with short
histories, though, the average ranks worse than past spend: at the six test cut-offs from
2011-04-01 to 2011-05-20 (one to four training cut-offs with one to four months of history)
0.465 to 0.511 against 0.506 to 0.531. So the product's model (``past_spend``) keeps the
average's forecasts but deals them out by the mean of each customer's rank by the average and
by past spend: an equal-weight blend with the naive forecast, no weight tuned. Over 19 test
cut-offs of Online Retail from 2011-04-01 to 11-01 it beats past spend at all 19 (mean 0.528
against 0.511; the average alone at 13, mean 0.514), and over six of CDNOW from 1997-06-01 to
1998-04-01 at all six (mean 0.362 against 0.329), where the average alone ranks better
(0.374) and BTYD's CLV as well (0.362). Pure: frames in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import PoissonRegressor, Ridge
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from segmint.predict.btyd import CLV_MONTHS, MONTHLY_DISCOUNT
from segmint.predict.churn import TREE_CONSTRAINTS, _as_frame, constant_if_missing

__all__ = [
    "BTYD_CLV",
    "BTYD_FEATURES",
    "PAST_SPEND",
    "SpendCohort",
    "SpendModel",
    "btyd_features",
    "combine_clv",
]

#: the BTYD expectations among the spend model's features, by their lifetime-value column
BTYD_FEATURES = {
    "clv": "btyd_clv",
    "p_alive": "btyd_p_alive",
    "expected_purchases": "btyd_purchases",
}
BTYD_CLV = BTYD_FEATURES["clv"]
#: the feature of past net spend, the ranking the product's spend model must beat and leans on
PAST_SPEND = "monetary"


def btyd_features(summary: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The BTYD view of each customer as spend-model features, from an RFM summary and its
    lifetime-value scores (:func:`segmint.predict.btyd.lifetime_value`): the expectations,
    and the history net of returns (repeat purchases, mean order value, weeks since the last
    purchase) that the order-level features do not net (an order wholly returned still counts
    there as the latest order)."""
    frame = scores[list(BTYD_FEATURES)].rename(columns=BTYD_FEATURES)
    net = summary.set_index("customer_id")
    frame["btyd_repeat_purchases"] = net["frequency"].reindex(frame.index)
    frame["btyd_order_value"] = net["monetary_value"].reindex(frame.index)
    frame["btyd_weeks_silent"] = (net["T"] - net["recency"]).reindex(frame.index)
    return frame.rename_axis("customer_id").reset_index()


def _signed_log(X: np.ndarray) -> np.ndarray:
    return np.sign(X) * np.log1p(np.abs(X))


def _percentiles(X: np.ndarray, groups) -> np.ndarray:
    """Each column's percentile rank (0, 1] within each group of rows; NaN stays NaN."""
    frame = pd.DataFrame(X)
    keys = np.zeros(len(frame)) if groups is None else np.asarray(groups)
    return frame.groupby(keys).rank(pct=True).to_numpy()


def _sorted(reference: np.ndarray) -> list[np.ndarray]:
    """Each column of a cohort sorted, without its NaN: what :func:`_percentiles_in` ranks
    against (sorted once, however many batches are ranked against the cohort)."""
    return [np.sort(column[~np.isnan(column)]) for column in reference.T]


def _percentiles_in(X: np.ndarray, columns: list[np.ndarray]) -> np.ndarray:
    """Each value's percentile rank among a reference cohort's values of its column (``columns``:
    :func:`_sorted` of the cohort), ties at their mean rank: :func:`_percentiles` of a row
    within its own cohort, when the cohort is the reference. Values equal up to rounding (a
    relative 1e-9) tie, so that one engine's sums rank as another's. NaN stays NaN; a column
    the cohort never fills is 0, as :func:`~segmint.predict.churn.constant_if_missing` makes
    it."""
    ranks = np.zeros(X.shape)
    for j, column in enumerate(columns):
        if column.size:
            x = X[:, j]
            rounding = 1e-9 * np.abs(x)
            below = np.searchsorted(column, x - rounding, side="left")
            ties = np.searchsorted(column, x + rounding, side="right") - below
            ranks[:, j] = np.where(np.isnan(x), np.nan, (below + (ties + 1) / 2) / column.size)
    return ranks


@dataclass(frozen=True, eq=False)
class SpendCohort:
    """The customers a batch is ranked among (:meth:`SpendModel.cohort`), prepared once.

    Attributes
    ----------
    features : list of ndarray
        Each feature's values in the cohort, sorted (:func:`_sorted`).
    log, past, mean_rank : ndarray or None
        With ``past_spend``: the cohort's forecasts (log), past spend and mean ranks by the
        two, each sorted.
    """

    features: list[np.ndarray]
    log: np.ndarray | None = None
    past: np.ndarray | None = None
    mean_rank: np.ndarray | None = None


def _mean_rank(log: np.ndarray, past: np.ndarray, cohort_log, cohort_past) -> np.ndarray:
    """The mean of each row's percentile by forecast and by past spend among a cohort's sorted
    values; by forecast alone where past spend is missing."""
    ranks = _percentiles_in(np.column_stack([log, past]), [cohort_log, cohort_past])
    return np.where(np.isnan(ranks[:, 1]), ranks[:, 0], ranks.mean(axis=1))


def _blend_cohort(features: list[np.ndarray], log: np.ndarray, past: np.ndarray) -> SpendCohort:
    log_sorted, past_sorted = np.sort(log), np.sort(past[~np.isnan(past)])
    rank = _mean_rank(log, past, log_sorted, past_sorted)
    return SpendCohort(features, log_sorted, past_sorted, np.sort(rank))


class SpendModel(RegressorMixin, BaseEstimator):
    """Expected net spend in the next horizon, from features as of a cut-off.

    The mean of a ridge regression on signed log features and gradient-boosted trees on
    within-cut-off feature percentiles, both fitted to ``log1p(max(spend, 0))``.

    Parameters
    ----------
    alpha : float, default=10.0
        Ridge penalty (on Online Retail any of 1 to 100 ranks alike).
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization
        The trees' parameters, as for :class:`~segmint.predict.ChurnModel`.
    past_spend : str or None, default=None
        The feature of past net spend (the product's model: :data:`PAST_SPEND`). When given,
        a cohort's forecasts are dealt out by the mean of each customer's percentile by
        forecast and by past spend among the cohort (see the module docstring).
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    ridge_ : Ridge
    trees_ : HistGradientBoostingRegressor
    medians_ : ndarray
        Training medians of the signed log features (the ridge's value for a missing one).
    past_spend_index_ : int or None
        The column of ``past_spend``.
    calibration_ : PoissonRegressor
        Expected spend as ``exp(a + b * predicted log)``, fitted on the training rows: the
        log model predicts a typical spend, below the mean of a skewed one, and one constant
        factor would inflate the top customers (on Online Retail, 2.8 times for everybody).
    feature_names_in_, n_features_in_

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"monetary": rng.lognormal(5, 1, 2000), "frequency": rng.poisson(3, 2000)})
    >>> y = X["monetary"] * rng.random(2000)
    >>> m = SpendModel(random_state=0).fit(X, y)
    >>> m.predict(X.head(3)).shape
    (3,)
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "past_spend": [str, None],
        **TREE_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        alpha=10.0,
        learning_rate=0.05,
        max_iter=150,
        max_leaf_nodes=8,
        min_samples_leaf=80,
        l2_regularization=1.0,
        past_spend=None,
        random_state=None,
    ):
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.past_spend = past_spend
        self.random_state = random_state

    def _X(self, X, reset: bool) -> np.ndarray:
        return validate_data(
            self, _as_frame(X), reset=reset, ensure_all_finite="allow-nan", dtype=np.float64
        )

    def _linear(self, X: np.ndarray) -> np.ndarray:
        logged = _signed_log(X)
        return np.where(np.isnan(logged), self.medians_, logged)

    def fit(self, X, y, groups=None):
        """Fit on features ``X`` and next-horizon net spend ``y``.

        ``groups`` (the cut-off of each row) sets the cohorts within which the trees'
        percentiles are taken; without it all rows are one cohort.
        """
        self._validate_params()
        X = self._X(X, reset=True)
        target = np.log1p(np.clip(np.asarray(y, dtype=float), 0.0, None))
        # an all-missing column (categories where there are none) has no median: 0
        self.medians_ = pd.DataFrame(_signed_log(X)).median().fillna(0.0).to_numpy()
        self.ridge_ = Ridge(alpha=self.alpha).fit(self._linear(X), target)
        ranks = constant_if_missing(_percentiles(X, groups), slice(None))
        self.trees_ = HistGradientBoostingRegressor(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(ranks, target)
        self.past_spend_index_ = self._past_spend_index()
        log = self._log(X, groups)[:, None]
        self.calibration_ = PoissonRegressor(alpha=0.0, max_iter=1000).fit(log, np.expm1(target))
        return self

    def _model_log(self, X: np.ndarray, groups, columns=None) -> np.ndarray:
        if columns is None:
            ranks = constant_if_missing(_percentiles(X, groups), slice(None))
        else:
            ranks = _percentiles_in(X, columns)
        return 0.5 * (self.ridge_.predict(self._linear(X)) + self.trees_.predict(ranks))

    def _log(self, X: np.ndarray, groups, cohort: SpendCohort | None = None) -> np.ndarray:
        j = self.past_spend_index_
        if cohort is not None:
            log = self._model_log(X, None, cohort.features)
            return log if j is None else _reordered(log, X[:, j], cohort)
        log = self._model_log(X, groups)
        if j is None:
            return log
        keys = np.zeros(len(log)) if groups is None else np.asarray(groups)
        out = np.empty_like(log)
        for rows in pd.Series(np.arange(len(log))).groupby(keys).indices.values():
            own = _blend_cohort([], log[rows], X[rows, j])
            out[rows] = _reordered(log[rows], X[rows, j], own)
        return out

    def cohort(self, reference) -> SpendCohort:
        """A reference cohort (an array of the model's columns: e.g. a sample of the customers
        now) prepared for :meth:`predict`'s ``reference``: rank many batches against one
        cohort, and it is sorted and scored once."""
        check_is_fitted(self)
        reference = np.asarray(reference, dtype=np.float64)
        features = _sorted(reference)
        if self.past_spend_index_ is None:
            return SpendCohort(features)
        log = self._model_log(reference, None, features)
        return _blend_cohort(features, log, reference[:, self.past_spend_index_])

    def _past_spend_index(self) -> int | None:
        if self.past_spend is None:
            return None
        names = list(getattr(self, "feature_names_in_", []))
        if self.past_spend not in names:
            raise ValueError(
                f"past_spend={self.past_spend!r} is not among the features "
                f"({', '.join(names) or 'an array without column names'})"
            )
        return names.index(self.past_spend)

    def predict_log(self, X, groups=None, reference=None) -> np.ndarray:
        """The predicted ``log(1 + spend)``; percentiles are taken among the rows of ``X``
        (within each of ``groups``), so score a whole cohort at once, or among the rows of
        ``reference`` (an array of the same columns, e.g. a sample of the cohort, or the
        :meth:`cohort` prepared from one)."""
        check_is_fitted(self)
        if reference is not None and not isinstance(reference, SpendCohort):
            reference = self.cohort(reference)
        return self._log(self._X(X, reset=False), groups, reference)

    def predict(self, X, groups=None, reference=None) -> np.ndarray:
        """Expected net spend in the horizon (``calibration_`` of :meth:`predict_log`)."""
        log = self.predict_log(X, groups, reference)  # checks the fitted state first
        return self.calibration_.predict(log[:, None])


def _reordered(log: np.ndarray, past: np.ndarray, cohort: SpendCohort) -> np.ndarray:
    """The cohort's forecasts, dealt out by the mean of each row's percentile by forecast and
    by past spend among the cohort's: the same forecasts, in another order.

    A row's mean percentile is ranked among the cohort rows' own, and the row gets the cohort's
    forecast at that rank (interpolated between two cohort rows when the rows are not the
    cohort; rows tied on the mean share the one at their middle rank). A row without past
    spend keeps its rank by forecast.
    """
    mean = _mean_rank(log, past, cohort.log, cohort.past)
    rank = _percentiles_in(mean[:, None], [cohort.mean_rank])[:, 0]
    n = cohort.log.size
    return np.interp(rank * n - 1, np.arange(n), cohort.log)


def combine_clv(
    forecast: pd.Series, clv_btyd: pd.Series, spearman: dict, horizon_days: int
) -> tuple[pd.Series, str]:
    """The product's CLV: the spend model's forecast over the CLV months, where it ranks better.

    ``forecast`` (the spend model's expected net spend in the next ``horizon_days``) is taken
    as a monthly rate kept for ``CLV_MONTHS`` months, discounted ``MONTHLY_DISCOUNT`` a month
    as the BTYD CLV is. That is the CLV when its held-out rank correlation with the next
    horizon's spend (``spearman``, from :func:`segmint.predict.holdout.evaluate_spend`) beats
    BTYD's; otherwise the BTYD CLV is. (Scaled to the BTYD total instead, Online Retail's top
    customer got 2.7 times a year of their past spend: BTYD finds no dropout there, so its
    total counts silent customers as alive.)

    Returns
    -------
    clv, source
        The CLV per customer (the index of ``clv_btyd``) and which one it is.
    """
    source = clv_source(spearman)
    if source == "BTYD":
        return clv_btyd, source
    months = np.arange(1, CLV_MONTHS + 1)
    per_month = forecast.reindex(clv_btyd.index).fillna(0.0) * (30.4375 / horizon_days)
    return per_month * float(np.sum((1 + MONTHLY_DISCOUNT) ** -months)), source


def clv_source(spearman: dict) -> str:
    """Which CLV :func:`combine_clv` keeps, by the held-out rank correlations ``spearman``."""
    if spearman["CLV (BTYD + spend model)"] > spearman["BTYD CLV"]:
        return "BTYD + spend model"
    return "BTYD"  # also when either is NaN
