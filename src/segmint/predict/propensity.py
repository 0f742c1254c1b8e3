"""Category purchase propensity and next-purchase timing.

:class:`PropensityModel` fits **one calibrated boosted-tree classifier per category** (the
estimator of :class:`~segmint.predict.churn.ChurnModel`, with its time-respecting calibration
and median-replacement reasons). One model per category rather than one model with the
category as a feature: categories differ in base rate and drivers (seasonal gifts vs
everyday items), the number of modelled categories is small (the top few), each model trains
on one row per customer instead of one per customer and category, and each gets its own
calibration.

:class:`NextPurchaseModel` predicts the days to the next purchase *restricted to the
horizon*: the target ``min(days to next purchase, horizon)`` (``days_to_next`` of
:func:`segmint.features.training_frames` with ``label="purchase"``) is observed for every
customer, censored or not, so an ordinary regression on it is unbiased; no survival model is
needed. Gradient-boosted trees with absolute-error loss predict its median, which is what the
mean absolute error rewards. A prediction equal to the horizon means "not expected within
the horizon".

Pure: arrays / DataFrames in, arrays / DataFrames out.
"""

from __future__ import annotations

from datetime import datetime
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from segmint.errors import DataValidationError, ModelError
from segmint.predict.churn import (
    TREE_CONSTRAINTS,
    CalibratedTreesParams,
    ChurnModel,
    _as_frame,
    constant_if_missing,
)

__all__ = ["PropensityModel", "NextPurchaseModel"]


class PropensityModel(ClassifierMixin, CalibratedTreesParams):
    """Per-category probability of buying in the next horizon.

    Parameters
    ----------
    calibration, learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, \
l2_regularization, random_state
        As for :class:`~segmint.predict.churn.ChurnModel`, used for every category.

    Attributes
    ----------
    estimators_ : dict of str to ChurnModel
        One fitted calibrated classifier per label column (``buy_<slug>``).
    labels_ : list of str
        The label columns, in order.
    feature_names_in_, n_features_in_

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"cat_share_toys": rng.random(3000), "frequency": rng.poisson(3, 3000)})
    >>> Y = pd.DataFrame({"buy_toys": (rng.random(3000) < X.cat_share_toys).astype(int)})
    >>> m = PropensityModel(random_state=0).fit(X, Y, groups=np.repeat([1, 2], 1500))
    >>> m.predict_proba(X.head(3)).columns.tolist()
    ['buy_toys']
    """

    def fit(self, X, Y, groups=None):
        """Fit one calibrated classifier per label column.

        Parameters
        ----------
        X : DataFrame or pyarrow.Table
            Numeric features.
        Y : DataFrame
            One 0/1 column per category (e.g. the ``buy_*`` columns of
            :func:`segmint.features.training_frames` with ``label="category"``).
        groups : array-like, optional
            Cut-off of each row (time-respecting calibration, see ``ChurnModel``).

        Returns
        -------
        self
        """
        self._validate_params()
        X = _as_frame(X)
        validate_data(self, X, reset=True, ensure_all_finite="allow-nan", dtype=np.float64)
        if not isinstance(Y, pd.DataFrame):
            raise DataValidationError("Y must be a DataFrame with one 0/1 column per category")
        if len(Y) != len(X):
            raise DataValidationError(f"Y has {len(Y)} rows, X has {len(X)}")
        if Y.shape[1] == 0:
            raise DataValidationError("Y has no label column")
        self.labels_ = [str(c) for c in Y.columns]
        self.estimators_ = {}
        for name in self.labels_:  # a handful of categories
            est = ChurnModel(**self.get_params())
            try:
                self.estimators_[name] = est.fit(X, Y[name].to_numpy(), groups=groups)
            except ModelError as exc:
                raise ModelError(f"category label {name!r}: {exc}") from None
        return self

    def predict_proba(self, X) -> pd.DataFrame:
        """Calibrated probability of a purchase in each category.

        Returns
        -------
        DataFrame of shape (n_samples, n_labels)
            One column per label, indexed like ``X`` when it is a DataFrame.
        """
        check_is_fitted(self)
        X = _as_frame(X)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(
            {name: est.predict_proba(X)[:, 1] for name, est in self.estimators_.items()},
            index=index,
        )

    def predict(self, X) -> pd.DataFrame:
        """0/1 per category: calibrated probability at least 0.5."""
        return (self.predict_proba(X) >= 0.5).astype(np.int64)

    def reasons(self, X, label: str, top: int = 3) -> pd.DataFrame:
        """Why one category's propensity is high, in words (see ``ChurnModel.reasons``)."""
        check_is_fitted(self)
        if label not in self.estimators_:
            raise DataValidationError(
                f"unknown label {label!r}; expected one of {', '.join(self.labels_)}"
            )
        return self.estimators_[label].reasons(X, top=top)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class NextPurchaseModel(RegressorMixin, BaseEstimator):
    """Days to each customer's next purchase, restricted to a horizon.

    Parameters
    ----------
    horizon_days : float
        The horizon the target was censored at; predictions are clipped to ``[0, horizon]``.
    loss : {"absolute_error", "squared_error"}, default="absolute_error"
        Absolute error predicts the median (best for MAE), squared error the mean
        (the restricted mean time to next purchase).
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization, \
random_state
        As for :class:`~sklearn.ensemble.HistGradientBoostingRegressor`.

    Attributes
    ----------
    trees_ : HistGradientBoostingRegressor
    feature_names_in_, n_features_in_

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"interpurchase_mean_days": rng.uniform(10, 120, 2000)})
    >>> y = np.minimum(rng.exponential(X.interpurchase_mean_days), 90.0)
    >>> m = NextPurchaseModel(horizon_days=90, random_state=0).fit(X, y)
    >>> bool((m.predict(X) <= 90).all())
    True
    """

    _parameter_constraints: dict = {
        "horizon_days": [Interval(Real, 0, None, closed="neither")],
        "loss": [StrOptions({"absolute_error", "squared_error"})],
        **TREE_CONSTRAINTS,
    }

    def __init__(
        self,
        horizon_days=90,
        *,
        loss="absolute_error",
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        random_state=None,
    ):
        self.horizon_days = horizon_days
        self.loss = loss
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def fit(self, X, y):
        """Fit on features and ``min(days to next purchase, horizon)``.

        Parameters
        ----------
        X : DataFrame or pyarrow.Table
        y : array-like of float
            Days to the next purchase, censored at ``horizon_days``.

        Returns
        -------
        self
        """
        self._validate_params()
        Xa = validate_data(
            self, _as_frame(X), reset=True, ensure_all_finite="allow-nan", dtype=np.float64
        )
        y = np.asarray(y, dtype=float)
        if y.shape != (Xa.shape[0],):
            raise DataValidationError(
                f"y must have one value per row ({Xa.shape[0]}), got shape {y.shape}",
                column="y",
            )
        if not np.isfinite(y).all() or (y < 0).any() or (y > self.horizon_days + 1e-9).any():
            raise DataValidationError(
                f"y must be days in [0, horizon_days={self.horizon_days}] (censored at the "
                "horizon)",
                column="y",
            )
        self.trees_ = HistGradientBoostingRegressor(
            loss=self.loss,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(constant_if_missing(Xa, slice(None)), y)
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted days to the next purchase, in ``[0, horizon_days]``."""
        check_is_fitted(self)
        Xa = validate_data(
            self, _as_frame(X), reset=False, ensure_all_finite="allow-nan", dtype=np.float64
        )
        return np.clip(self.trees_.predict(Xa), 0.0, float(self.horizon_days))

    def predict_date(self, X, as_of: datetime) -> np.ndarray:
        """Expected next purchase date (``as_of`` + predicted days); NaT beyond the horizon.

        Parameters
        ----------
        X : DataFrame or pyarrow.Table
            Features as of ``as_of``.
        as_of : datetime
            The features' cut-off.

        Returns
        -------
        ndarray of datetime64[s]
            NaT where the prediction reaches the horizon (not expected within it).
        """
        days = self.predict(X)
        base = np.datetime64(as_of, "s")
        out = base + (days * 86400.0).astype("timedelta64[s]")
        return np.where(days >= float(self.horizon_days) - 1e-9, np.datetime64("NaT"), out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
