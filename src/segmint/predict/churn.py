"""Churn risk: calibrated gradient-boosted trees with readable per-customer reasons.

:class:`ChurnModel` is fitted on the stacked training frames of
:func:`segmint.features.training_frames` (one row per customer and cut-off). Its training is
split by time: the trees learn from the earlier cut-offs and the probabilities are calibrated
on the latest one, so the calibration sees customers as the trees will see new ones: in a
state (features as of a later cut-off) never seen in training. Their outcomes are unseen too
only if the earlier cut-offs' label windows end by the latest cut-off; with cut-offs closer
together than the horizon the windows overlap, and the pipeline's schedule says by how much
(:attr:`segmint.predict.schedule.CutoffSchedule.calibration_overlap_days`).

Reasons are *median-replacement contributions*: for feature ``j`` the contribution is the
change of the trees' log-odds when the customer's value of ``j`` is replaced by the training
median, all other features kept. It is honest and cheap (one batch prediction per feature,
vectorised over customers), ignores interactions between the features replaced, and the
contributions do not add up to the prediction (unlike TreeSHAP, which we do not implement).

Pure: arrays / DataFrames in, arrays / DataFrames out.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from segmint.errors import DataValidationError, ModelError
from segmint.features.labels import feature_label

__all__ = [
    "ChurnModel",
    "ScoreCalibrator",
    "btyd_baseline",
    "recency_baseline",
    "split_frame",
]

#: columns of a training frame that identify a row rather than describe the customer.
ID_COLUMNS = ("customer_id", "cutoff")


def split_frame(frame, label: str | list[str], *, drop: tuple[str, ...] = ()):
    """Split a training frame into features, labels, cut-off groups and customer ids.

    Parameters
    ----------
    frame : pandas.DataFrame or pyarrow.Table
        Output of :func:`segmint.features.training_frames`, or any frame with the feature
        columns, the label column(s) and optionally ``customer_id`` / ``cutoff``.
    label : str or list of str
        Label column(s).
    drop : tuple of str
        Further columns to leave out of the features (e.g. other label columns).

    Returns
    -------
    X : DataFrame
        Numeric feature columns.
    y : ndarray or DataFrame
        The label (1-D for one column).
    groups : ndarray or None
        The ``cutoff`` column, when present.
    ids : ndarray or None
        The ``customer_id`` column, when present.
    """
    df = frame if isinstance(frame, pd.DataFrame) else frame.to_pandas()
    labels = [label] if isinstance(label, str) else list(label)
    missing = [c for c in labels if c not in df.columns]
    if missing:
        raise DataValidationError(f"label column(s) {', '.join(missing)} not in the frame")
    X = df.drop(columns=[c for c in (*ID_COLUMNS, *labels, *drop) if c in df.columns])
    y = df[labels[0]].to_numpy() if isinstance(label, str) else df[labels]
    groups = df["cutoff"].to_numpy() if "cutoff" in df.columns else None
    ids = df["customer_id"].to_numpy() if "customer_id" in df.columns else None
    return X, y, groups, ids


def _as_frame(X) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        df = X
    elif hasattr(X, "to_pandas"):
        df = X.to_pandas()
    else:
        return X
    bad = [
        c
        for c in df.columns
        if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))
    ]
    if bad:
        raise DataValidationError(
            f"feature column(s) {', '.join(map(str, bad))} are not numeric; pass only feature "
            "columns (see segmint.predict.churn.split_frame)"
        )
    return df.astype("float64")


def _time_split(groups, n: int, random_state) -> tuple[np.ndarray, np.ndarray, str]:
    """Rows for the trees and rows for calibration: the latest cut-off calibrates."""
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != (n,):
            raise DataValidationError(
                f"groups must have one cut-off per row ({n}), got shape {g.shape}",
                column="groups",
            )
        uniq = np.unique(g)
        if uniq.size >= 2:
            cal = g == uniq[-1]
            return (
                ~cal,
                cal,
                f"time: trees on {uniq.size - 1} earlier cut-off(s), calibration on the latest",
            )
    # one period only: a reproducible random quarter calibrates (not time-respecting)
    rng = check_random_state(random_state)
    cal = rng.random_sample(n) < 0.25
    return ~cal, cal, "random: 75% trees, 25% calibration (one cut-off only)"


def constant_if_missing(X: np.ndarray, rows) -> np.ndarray:
    """``X`` with each feature that is missing in all ``rows`` set to 0.

    Such a feature (e.g. category shares where the data has no categories) carries nothing,
    and the trees' binning cannot take a column with no value at all.
    """
    return np.where(np.isnan(X[rows]).all(axis=0), 0.0, X)


class _CalibratedTrees:
    """Fit HistGradientBoosting on one part and calibrate on the other (shared with propensity)."""

    @staticmethod
    def fit(params: dict, method: str, X: np.ndarray, y: np.ndarray, groups, random_state):
        train, cal, how = _time_split(groups, X.shape[0], random_state)
        for part, name in ((train, "training"), (cal, "calibration")):
            if np.unique(y[part]).size < 2:
                only = int(y[part][0]) if part.any() else "none"
                raise ModelError(
                    f"the {name} rows hold only one class ({only}); the label must vary within "
                    "every period (use more customers, other cut-offs or another horizon)"
                )
        X = constant_if_missing(X, train)
        trees = HistGradientBoostingClassifier(**params, random_state=random_state)
        trees.fit(X[train], y[train])
        calibrated = CalibratedClassifierCV(FrozenEstimator(trees), method=method)
        calibrated.fit(X[cal], y[cal])
        medians = np.nanmedian(X[train], axis=0)
        return trees, calibrated, medians, how


def _contributions(trees, X: np.ndarray, medians: np.ndarray) -> np.ndarray:
    """Median-replacement contributions to the log-odds, (n_samples, n_features)."""
    base = trees.decision_function(X)
    out = np.empty(X.shape, dtype=float)
    Xj = X.copy()
    for j in range(X.shape[1]):  # loop over features only; each step is one batch prediction
        saved = Xj[:, j].copy()
        Xj[:, j] = medians[j]
        out[:, j] = base - trees.decision_function(Xj)
        Xj[:, j] = saved
    return out


def _fmt(values: np.ndarray, kind: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if kind == "pct":
        s = np.char.mod("%.0f%%", np.where(np.isfinite(v), 100.0 * v, 0.0))
    elif kind == "int":
        s = np.char.mod("%.0f", np.where(np.isfinite(v), v, 0.0))
    else:
        s = np.char.mod("%.3g", np.where(np.isfinite(v), v, 0.0))
    return np.where(np.isfinite(v), s, "unknown").astype(object)


# feature -> (template with {v} and {m}, number format)
_TEMPLATES: dict[str, tuple[str, str]] = {
    "recency_days": ("no order for {v} days (typical {m})", "int"),
    "frequency": ("{v} orders so far (typical {m})", "int"),
    "monetary": ("net spend {v} (typical {m})", "int"),
    "tenure_days": ("customer for {v} days (typical {m})", "int"),
    "avg_order_value": ("average order value {v} (typical {m})", "int"),
    "interpurchase_mean_days": ("usually orders every {v} days (typical {m})", "int"),
    "interpurchase_cv": ("order rhythm irregularity {v} (typical {m})", "num"),
    "return_rate": ("returned {v} of spend (typical {m})", "pct"),
    "basket_size": ("{v} items per order (typical {m})", "num"),
    "n_products": ("{v} different products bought (typical {m})", "int"),
    "n_categories": ("{v} categories bought (typical {m})", "int"),
    "top_category_share": ("{v} of spend in favourite category (typical {m})", "pct"),
    "spend_trend": ("recent spend trend {v} (typical {m}; below 0 = spending less)", "num"),
    "recent_purchase_days": ("bought on {v} days in the last 90 (typical {m})", "int"),
    "active_months": ("bought in {v} months so far (typical {m})", "int"),
}


#: what a missing value means, per feature (otherwise "<label> unknown").
_MISSING_TEXT = {
    "interpurchase_mean_days": "no repeat order day yet",
    "interpurchase_cv": "too few order days to judge their rhythm",
    "top_category_share": "no categorised purchase",
}


def _reason_texts(name: str, values: np.ndarray, median: float) -> np.ndarray:
    if name in _TEMPLATES:
        template, kind = _TEMPLATES[name]
    elif name.startswith("cat_share_"):
        template = (
            "{v} of spend on "
            + name.removeprefix("cat_share_").replace("_", " ")
            + " (typical {m})"
        )
        kind = "pct"
    else:
        template, kind = feature_label(name) + " {v} (typical {m})", "num"
    head, _, rest = template.partition("{v}")
    mid, _, tail = rest.partition("{m}")
    m = str(_fmt(np.array([median]), kind)[0])
    texts = head + _fmt(values, kind) + (mid + m + tail)
    missing = _MISSING_TEXT.get(name, feature_label(name) + " unknown")
    return np.where(np.isnan(values), missing, texts).astype(object)


def _top_reasons(
    contrib: np.ndarray, X: np.ndarray, names, medians, top: int, index
) -> pd.DataFrame:
    n, p = contrib.shape
    top = min(top, p)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    texts = np.empty((n, p), dtype=object)
    for j, name in enumerate(names):  # per feature, vectorised over customers
        texts[:, j] = _reason_texts(name, X[:, j], medians[j])
    rows = np.arange(n)[:, None]
    chosen = texts[rows, order]
    positive = contrib[rows, order] > 0
    chosen = np.where(positive, chosen, None)
    return pd.DataFrame(chosen, columns=[f"reason_{k + 1}" for k in range(top)], index=index)


# the gradient-boosted trees' parameters, shared by every tree model in predict/
TREE_CONSTRAINTS: dict = {
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "max_leaf_nodes": [Interval(Integral, 2, None, closed="left")],
    "min_samples_leaf": [Interval(Integral, 1, None, closed="left")],
    "l2_regularization": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
}


class CalibratedTreesParams(BaseEstimator):
    """The parameters shared by the calibrated tree classifiers (churn and propensity)."""

    _parameter_constraints: dict = {
        "calibration": [StrOptions({"isotonic", "sigmoid"})],
        **TREE_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        calibration="sigmoid",
        learning_rate=0.05,
        max_iter=150,
        max_leaf_nodes=8,
        min_samples_leaf=80,
        l2_regularization=1.0,
        random_state=None,
    ):
        self.calibration = calibration
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state


class ChurnModel(ClassifierMixin, CalibratedTreesParams):
    """Probability that a customer makes no purchase in the next horizon.

    Gradient-boosted trees (:class:`~sklearn.ensemble.HistGradientBoostingClassifier`,
    missing values handled natively) whose probabilities are calibrated with
    :class:`~sklearn.calibration.CalibratedClassifierCV` on a time-respecting split: with
    ``groups`` (the cut-off of each row) holding two or more cut-offs, the trees are trained
    on all but the latest cut-off and the calibrator on the latest. With one cut-off (or no
    ``groups``) a reproducible random quarter of the rows calibrates instead, which is not
    time-respecting; ``split_`` says which happened.

    Parameters
    ----------
    calibration : {"sigmoid", "isotonic"}, default="sigmoid"
        Calibration method. Sigmoid (Platt) keeps the trees' ranking exactly and suits
        calibration sets of a few thousand customers; isotonic is more flexible but needs more
        rows (on UCI Online Retail both give the same Brier score to 0.001).
    learning_rate : float, default=0.05
    max_iter : int, default=150
        Boosting iterations (no early stopping: the calibration cut-off is held out anyway).
    max_leaf_nodes : int, default=8
    min_samples_leaf : int, default=80
        Small, strongly regularised trees: customer histories are noisy, and on Online Retail
        these beat larger trees (``max_leaf_nodes=15, min_samples_leaf=40``) on held-out time.
    l2_regularization : float, default=1.0
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    trees_ : HistGradientBoostingClassifier
        The boosted trees (uncalibrated).
    calibrated_ : CalibratedClassifierCV
        Trees plus calibrator; gives :meth:`predict_proba`.
    medians_ : ndarray
        Training medians of the features (the "typical" values of the reasons).
    classes_ : ndarray
        ``[0, 1]``.
    feature_names_in_ : ndarray of str
    n_features_in_ : int
    split_ : str
        How the rows were split between trees and calibration.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency_days": rng.exponential(60, 4000),
    ...                   "frequency": rng.poisson(3, 4000) + 1})
    >>> y = (rng.random(4000) < 1 / (1 + np.exp(3 - X.recency_days / 30))).astype(int)
    >>> groups = np.repeat([1, 2], 2000)
    >>> m = ChurnModel(random_state=0).fit(X, y, groups=groups)
    >>> m.predict_proba(X.head(2)).shape
    (2, 2)
    >>> m.reasons(X.head(1), top=1).columns.tolist()
    ['reason_1']
    """

    def _tree_params(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "max_iter": self.max_iter,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
            "early_stopping": False,
        }

    def _X(self, X, reset: bool) -> np.ndarray:
        return validate_data(
            self, _as_frame(X), reset=reset, ensure_all_finite="allow-nan", dtype=np.float64
        )

    def fit(self, X, y, groups=None):
        """Fit the trees on the earlier cut-offs and the calibrator on the latest.

        Parameters
        ----------
        X : DataFrame or pyarrow.Table of shape (n_samples, n_features)
            Numeric features (NaN allowed).
        y : array-like of {0, 1}
            1 = churned (no purchase in the horizon).
        groups : array-like, optional
            Cut-off of each row; see the class description.

        Returns
        -------
        self
        """
        self._validate_params()
        Xa = self._X(X, reset=True)
        y = np.asarray(y)
        if y.shape != (Xa.shape[0],):
            raise DataValidationError(
                f"y must have one label per row ({Xa.shape[0]}), got shape {y.shape}",
                column="y",
            )
        if not np.isin(y, (0, 1)).all():
            raise DataValidationError("y must hold only 0 and 1", column="y")
        y = y.astype(np.int64)
        self.trees_, self.calibrated_, self.medians_, self.split_ = _CalibratedTrees.fit(
            self._tree_params(), self.calibration, Xa, y, groups, self.random_state
        )
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities, columns ``[P(stays), P(churns)]``."""
        check_is_fitted(self)
        return self.calibrated_.predict_proba(self._X(X, reset=False))

    def predict(self, X) -> np.ndarray:
        """1 where the calibrated churn probability is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def decision_function(self, X) -> np.ndarray:
        """Uncalibrated log-odds of churn from the trees."""
        check_is_fitted(self)
        return self.trees_.decision_function(self._X(X, reset=False))

    def contributions(self, X) -> pd.DataFrame:
        """Per-feature change in churn log-odds versus the training median (see module).

        Returns
        -------
        DataFrame of shape (n_samples, n_features)
            Positive values push towards churn. Indexed like ``X`` when it is a DataFrame.
        """
        check_is_fitted(self)
        Xa = self._X(X, reset=False)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(
            _contributions(self.trees_, Xa, self.medians_),
            columns=self.feature_names_in_,
            index=index,
        )

    def reasons(self, X, top: int = 3) -> pd.DataFrame:
        """The ``top`` features that raise each customer's churn risk most, in words.

        Parameters
        ----------
        X : DataFrame or pyarrow.Table
        top : int, default=3

        Returns
        -------
        DataFrame
            Columns ``reason_1`` .. ``reason_<top>``: strings such as
            ``"no order for 210 days (typical 45)"``, strongest first; None where fewer
            features raise the risk.
        """
        check_is_fitted(self)
        if top < 1:
            raise DataValidationError(f"top must be >= 1, got {top}")
        Xa = self._X(X, reset=False)
        contrib = _contributions(self.trees_, Xa, self.medians_)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return _top_reasons(contrib, Xa, list(self.feature_names_in_), self.medians_, top, index)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def recency_baseline(recency_days) -> np.ndarray:
    """Churn score = days since the last purchase (higher = more likely gone).

    A ranking score, not a probability; turn it into one with :class:`ScoreCalibrator`.
    """
    r = np.asarray(recency_days, dtype=float)
    if r.ndim != 1:
        raise DataValidationError("recency_days must be 1-D", column="recency_days")
    return r


def btyd_baseline(frequency, recency, T, model=None) -> np.ndarray:
    """Churn score = 1 - P(alive) from a buy-till-you-die model.

    Parameters
    ----------
    frequency, recency, T : array-like
        The BTYD summary as of the cut-off (:func:`segmint.features.rfm_summary`).
    model : fitted BetaGeoNBD or ParetoNBD, optional
        Default: a :class:`~segmint.predict.BetaGeoNBD` fitted on these customers (no labels
        are involved, so this does not leak). When BG/NBD cannot be fitted because dropout is
        not identifiable (its maximum-likelihood dropout probability goes to 0, as on short
        histories such as one year of UCI Online Retail), a
        :class:`~segmint.predict.ParetoNBD` is fitted instead, with a warning.

    Returns
    -------
    ndarray
        Probability that each customer has already dropped out. This is not the probability
        of no purchase in a horizon (a live customer may also not buy); calibrate it with
        :class:`ScoreCalibrator` before comparing Brier scores.
    """
    from segmint.predict.beta_geo import BetaGeoNBD
    from segmint.predict.pareto_nbd import ParetoNBD

    if model is None:
        try:
            model = BetaGeoNBD().fit(frequency, recency, T)
        except ModelError as exc:
            warnings.warn(
                f"{exc}; using Pareto/NBD for the P(alive) baseline instead",
                UserWarning,
                stacklevel=2,
            )
            model = ParetoNBD().fit(frequency, recency, T)
    return 1.0 - model.p_alive(frequency, recency, T)


class ScoreCalibrator(BaseEstimator):
    """Map a 1-D risk score to a probability with an increasing isotonic fit.

    Used to put baselines (recency, 1 - P(alive)) on the same probability scale as the
    model, fitted on the same calibration cut-off, before comparing Brier scores.

    Attributes
    ----------
    isotonic_ : IsotonicRegression
    """

    def fit(self, score, y):
        """Fit on scores and 0/1 outcomes."""
        self.isotonic_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        self.isotonic_.fit(np.asarray(score, dtype=float), np.asarray(y, dtype=float))
        return self

    def predict_proba(self, score) -> np.ndarray:
        """Probability of 1 for each score (1-D)."""
        check_is_fitted(self)
        return self.isotonic_.predict(np.asarray(score, dtype=float))
