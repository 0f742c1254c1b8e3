"""The space useful segments are found in: expected value, behaviour and interest, weighted.

Equal weights on every scaled feature let a dozen behaviour columns outvote the two things a
marketer acts on: what a customer will be worth and what they buy. Measured on UCI Online
Retail and the synthetic data, segments on all features equally explained 79-91% of the
next quarter's log spend that k-means on log R/F/M explains (``segmint evaluate``). So the
space has three blocks, each given a stated share of the distance:

- **value**: one axis, a ridge regression of the next period's log(1 + net spend) on the
  scaled features, learned on an earlier cut-off (:func:`value_coefficients`), with unit
  variance;
- **behaviour**: every feature that is not a category share, standardised, the block scaled
  to mean squared norm ``behaviour_weight²`` (it keeps lifecycle and habits, such as returns
  or lapsed regulars, in the picture);
- **interest**: the category shares in their own units (a share point counts the same in every
  category, as in the interest measure), the block scaled to mean squared norm
  ``interest_weight²``;
- **expected next mix**, when one was learned: each customer's expected share of next-period
  spend per category, a ridge regression of the shares bought in the period after the earlier
  cut-off on the past shares and the past shares times log(1 + frequency) (a share seen over
  many orders is a firmer guide), learned on that period's buyers
  (:func:`interest_coefficients`), in share units. The past shares and the expected mix then
  share the interest block, each scaled to mean squared norm ``interest_weight² / 2``.
  Segments and micro-segments are both found on the two (micro-segments on them alone,
  ``interest_dims_``). The past shares of a customer with one order are mostly chance; the
  expected mix shrinks them towards what such customers buy next, so a taste segment gathers
  the customers who keep buying it. Measured at twenty Online Retail cut-offs (2011-03-15 to
  2011-11-01) under two seeds, with each k from 4 to 10 fixed (a script over the space and
  ``segmint evaluate``'s baselines): segments on both met both bars (95% of the better RFM
  baseline's value signal, twice its interest) at 26-38 of the 40 cut-off x seed pairs per k,
  median interest 6.9-8.7x; on the past shares alone at 3-38 of 40, median 1.2-6.6x (k = 4:
  3 of 40, 1.2x). Micro-segments on the mix alone carried
  81-108% of k-means on log R/F/M plus past shares with as many groups (81% at 2011-04-01),
  on the past shares alone 100-113%, on both 101-114% (ten cut-offs, 2011-03-15 to
  2011-09-01).

The defaults (0.5 and 0.8) were chosen on Online Retail cut-offs 2011-05-01 -> 2011-08-12 and
2011-06-12 -> 2011-09-10 and the synthetic data, as the weights where segments keep at least
95% of the best RFM baseline's value signal and carry at least twice its interest signal at
k = 6..10. A weight of 0 drops a block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.utils.validation import check_is_fitted

from segmint.segment.scaling import FeatureScaler

__all__ = [
    "INTEREST_PREFIX",
    "InterestMap",
    "UsefulSpace",
    "interest_coefficients",
    "rfm_value_coefficients",
    "value_coefficients",
]

#: features whose prefix marks them as shares of spend per category: the interest block
INTEREST_PREFIX = "cat_share_"

_RIDGE_ALPHAS = np.logspace(-2, 3, 12)
#: past customers the value axis is learned on (a random subset above it): ten coefficients
#: are settled long before, and the regression's cost grows with the rows
_RIDGE_ROWS = 200_000


#: a feature whose spread at the earlier cut-off is under this share of its spread now takes
#: no part in the value axis (measured on Online Retail: spend_trend spreads 0.22 as much at
#: 2011-01-31, two months into the data, as at 2011-05-01; every feature spreads >= 0.41 at
#: every other pair of cut-offs)
MIN_PAST_SPREAD = 1 / 3
#: the feature whose log weighs how firm a customer's past shares are
_ORDERS = "frequency"
#: buyers in the earlier period needed to learn the next mix
MIN_INTEREST_BUYERS = 50


@dataclass(frozen=True)
class InterestMap:
    """Past shares -> expected share of next-period spend per category (a linear map).

    ``inputs`` are the ``cat_share_*`` features, in order; the predictors are those shares and
    the shares times ``log(1 + frequency)``, stacked; ``weights`` has one row per predictor and
    one column per category in ``outputs``.
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    weights: np.ndarray
    intercept: np.ndarray

    def predict(self, shares: np.ndarray, orders: np.ndarray) -> np.ndarray:
        """Expected next shares, one row per customer (NaN shares and orders count 0)."""
        shares = np.nan_to_num(np.asarray(shares, dtype=np.float64))
        firm = np.log1p(np.clip(np.nan_to_num(np.asarray(orders, dtype=np.float64)), 0, None))
        return np.hstack([shares, shares * firm[:, None]]) @ self.weights + self.intercept


def interest_coefficients(
    X_past: Any, next_categories: Any, *, random_state: int = 0
) -> tuple[InterestMap, float] | None:
    """The map from past shares to next-period shares, learned at an earlier cut-off.

    A ridge regression (penalty by leave-one-out cross-validation) of each buyer's share of
    spend per category in the period after the cut-off on their ``cat_share_*`` features and
    those times ``log(1 + frequency)`` at the cut-off. None without ``cat_share_*`` and
    ``frequency`` columns, with fewer than two categories or fewer than 50 buyers.

    Parameters
    ----------
    X_past : DataFrame
        Features at the earlier cut-off (named columns).
    next_categories : DataFrame
        Purchase spend per category (columns) of each ``X_past`` row in the period after it.

    Returns
    -------
    (InterestMap, float) or None
        The map, and its R² on the buyers (at most 200,000, drawn with ``random_state``).
    """
    inputs = [c for c in X_past.columns if c.startswith(INTEREST_PREFIX)]
    spend = np.clip(np.asarray(next_categories, dtype=np.float64), 0, None)
    if not inputs or _ORDERS not in X_past.columns or spend.ndim != 2 or spend.shape[1] < 2:
        return None
    total = spend.sum(axis=1)
    buyers = np.flatnonzero(total > 0)
    if buyers.size < MIN_INTEREST_BUYERS:
        return None
    if buyers.size > _RIDGE_ROWS:
        buyers = np.sort(np.random.default_rng(random_state).choice(buyers, _RIDGE_ROWS, False))
    Y = spend[buyers] / total[buyers, None]
    unfitted = InterestMap(tuple(inputs), (), np.eye(2 * len(inputs)), np.zeros(2 * len(inputs)))
    X = unfitted.predict(X_past[inputs].to_numpy()[buyers], X_past[_ORDERS].to_numpy()[buyers])
    ridge = RidgeCV(alphas=_RIDGE_ALPHAS).fit(X, Y)
    fitted = InterestMap(
        tuple(inputs),
        tuple(str(c) for c in getattr(next_categories, "columns", range(spend.shape[1]))),
        np.ascontiguousarray(ridge.coef_.T),
        np.asarray(ridge.intercept_, dtype=np.float64),
    )
    return fitted, float(ridge.score(X, Y))


def _split(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    interest = np.array([n.startswith(INTEREST_PREFIX) for n in names], dtype=bool)
    return ~interest, interest


def value_coefficients(
    X_now: Any, X_past: Any, next_spend: Any, *, random_state: int = 0
) -> tuple[dict[str, float], float]:
    """Coefficients of the value axis, learned on an earlier cut-off.

    A ridge regression (penalty by leave-one-out cross-validation) of ``log(1 + next spend)``
    on the features at the earlier cut-off, both scaled as :class:`FeatureScaler` scales
    ``X_now`` (the data being segmented), so the coefficients apply to it directly.

    Parameters
    ----------
    X_now : DataFrame
        Features being segmented (named columns).
    X_past : DataFrame
        The same columns at an earlier cut-off.
    next_spend : array-like
        Net spend of each ``X_past`` row in the period after that cut-off (negatives count 0).

    Returns
    -------
    (dict of str to float, float)
        The coefficient of every non-share feature, and the regression's R² on the past rows
        (on at most 200,000 of them, drawn with ``random_state``).
    """
    behaviour, _ = _split(list(X_now.columns))
    columns = [c for c, b in zip(X_now.columns, behaviour, strict=True) if b]
    scaler = FeatureScaler().fit(X_now[columns])
    y = np.log1p(np.clip(np.asarray(next_spend, dtype=float), 0.0, None))
    rows = np.arange(len(y))
    if len(y) > _RIDGE_ROWS:
        rows = np.sort(np.random.default_rng(random_state).choice(len(y), _RIDGE_ROWS, False))
    Z = scaler.transform(X_past[columns].iloc[rows])
    y = y[rows]
    # a feature that barely varied at the earlier cut-off (a trend before there was history
    # for both of its windows) would get a coefficient sized to its tiny spread there, and
    # swamp the axis where it varies fully
    varied = Z.std(axis=0) >= MIN_PAST_SPREAD
    ridge = RidgeCV(alphas=_RIDGE_ALPHAS).fit(Z[:, varied], y)
    weights = np.zeros(len(columns))
    weights[varied] = ridge.coef_
    coef = {c: float(v) for c, v in zip(columns, weights, strict=True)}
    return coef, float(ridge.score(Z[:, varied], y))


#: the RFM ladder's direction on the scaled features: recent, frequent, big-spending customers
#: are worth more (scaled features are log-transformed where skewed, so this is log R/F/M)
RFM_DIRECTION = {"recency_days": -1.0, "frequency": 1.0, "monetary": 1.0}


def rfm_value_coefficients(columns: list[str]) -> dict[str, float] | None:
    """A value axis that needs no learning: :data:`RFM_DIRECTION`, or None without R, F and M.

    Measured on Online Retail (``segmint evaluate``), segments on it kept 101-112% of the
    better RFM baseline's value signal at cut-offs from 2011-03-01 to 2011-09-10, where an
    axis learned on a quarter only one or two months into the data kept 59-78%.
    """
    return dict(RFM_DIRECTION) if set(RFM_DIRECTION) <= set(columns) else None


class UsefulSpace(FeatureScaler):
    """:class:`FeatureScaler`, then a projection onto the value, behaviour and interest blocks.

    Parameters
    ----------
    value_coef : dict of str to float or None, default=None
        Coefficients of the value axis on the scaled features (:func:`value_coefficients`);
        None or empty: no value axis.
    behaviour_weight : float, default=0.5
        Root mean squared norm of the behaviour block (features not starting with
        ``cat_share_``).
    interest_weight : float, default=0.8
        Root mean squared norm of the interest block (in share units): the past shares, and
        with ``interest_map`` the expected next shares, each at ``interest_weight / sqrt(2)``.
    interest_map : InterestMap or None, default=None
        Expected next shares from past ones (:func:`interest_coefficients`): the interest
        block; None: the ``cat_share_*`` features themselves.
    scaling, transforms, skew_threshold, clip, groups, group_weights
        As :class:`FeatureScaler`.

    Attributes
    ----------
    projection_ : ndarray of shape (n_features, n_dims)
        Scaled features -> space (without the expected next mix, which follows it).
    space_names_ : list of str
        Name of each dimension: ``"value"``, then the behaviour and interest feature names
        (``next_share:<category>`` for the expected next mix).
    interest_center_, interest_scale_ : ndarray, float
        Mean expected next shares on the training rows, and the block's scale (with
        ``interest_map`` only).
    interest_dims_ : ndarray of int
        Columns of the space that hold interest (micro-segments are found on them): the past
        shares and, when there is one, the learned block (what customers bought and what they
        are expected to buy next, each block weighing the same).
    """

    def __init__(
        self,
        *,
        value_coef: Mapping[str, float] | None = None,
        behaviour_weight: float = 0.5,
        interest_weight: float = 0.8,
        interest_map: InterestMap | None = None,
        scaling: str = "standard",
        transforms: dict[str, str] | None = None,
        skew_threshold: float = 1.0,
        clip: float | None = 10.0,
        groups: dict[str, str] | None = None,
        group_weights: dict[str, float] | None = None,
    ) -> None:
        super().__init__(
            scaling=scaling,
            transforms=transforms,
            skew_threshold=skew_threshold,
            clip=clip,
            groups=groups,
            group_weights=group_weights,
        )
        self.value_coef = value_coef
        self.behaviour_weight = behaviour_weight
        self.interest_weight = interest_weight
        self.interest_map = interest_map

    def _check_params(self) -> None:
        super()._check_params()
        for name in ("behaviour_weight", "interest_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                msg = f"{name} must be a number >= 0, got {value!r}"
                raise ValueError(msg)

    def _fit_frame(self, frame: Any, had_names: bool) -> None:
        super()._fit_frame(frame, had_names)
        Z = super()._transform_values(frame.to_numpy(dtype=np.float64))
        names = list(frame.columns)
        behaviour, interest = _split(names)
        columns, space_names = [], []
        coef = np.array([float((self.value_coef or {}).get(n, 0.0)) for n in names])
        axis = Z @ coef
        if np.any(coef) and axis.std() > 0:
            columns.append(coef / axis.std())
            space_names.append("value")
        learned = self._learned_interest(names)
        # past and expected shares split the interest block: together they weigh interest_weight
        interest_weight = self.interest_weight / np.sqrt(2) if learned else self.interest_weight
        for mask, weight in ((behaviour, self.behaviour_weight), (interest, interest_weight)):
            if weight == 0 or not mask.any():
                continue
            # interest in share units: undo the standardisation, so a share point weighs the same
            unit = self.scale_ if mask is interest else np.ones(len(names))
            norm = np.sqrt(np.mean(np.sum((Z[:, mask] * unit[mask]) ** 2, axis=1))) or 1.0
            block = np.zeros((len(names), int(mask.sum())))
            block[np.flatnonzero(mask), np.arange(mask.sum())] = unit[mask] * weight / norm
            columns.extend(block.T)
            space_names.extend(n for n, m in zip(names, mask, strict=True) if m)
        self.projection_ = np.column_stack(columns) if columns else np.eye(len(names))
        self.space_names_ = space_names if columns else names
        n_interest = int(interest.sum()) if self.interest_weight > 0 else 0
        if learned:
            imap = self.interest_map
            expected = self._expected_shares(frame.to_numpy(dtype=np.float64))
            self.interest_center_ = expected.mean(axis=0)
            spread = np.sqrt(np.mean(np.sum((expected - self.interest_center_) ** 2, axis=1)))
            self.interest_scale_ = interest_weight / (spread or 1.0)
            self.space_names_ = [*self.space_names_, *(f"next_share:{c}" for c in imap.outputs)]
            n_interest += len(imap.outputs)
        else:
            for stale in ("interest_center_", "interest_scale_"):
                self.__dict__.pop(stale, None)
        first_interest = len(self.space_names_) - n_interest
        self.interest_dims_ = np.arange(first_interest, len(self.space_names_))

    def _learned_interest(self, names: list[str]) -> bool:
        imap = self.interest_map
        usable = imap is not None and _ORDERS in names and set(imap.inputs) <= set(names)
        self._interest_columns = (
            ([names.index(c) for c in imap.inputs], names.index(_ORDERS)) if usable else None
        )
        return usable and self.interest_weight > 0

    def _expected_shares(self, values: np.ndarray) -> np.ndarray:
        shares, orders = self._interest_columns
        return self.interest_map.predict(values[:, shares], values[:, orders])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the dimensions of the space (``space_names_``)."""
        check_is_fitted(self, "projection_")
        return np.asarray(self.space_names_, dtype=object)

    def _transform_values(self, values: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "projection_")
        scaled = super()._transform_values(values)
        if not hasattr(self, "interest_center_"):
            return scaled @ self.projection_
        n_mix = self.interest_center_.size
        out = np.empty((values.shape[0], self.projection_.shape[1] + n_mix))
        np.matmul(scaled, self.projection_, out=out[:, :-n_mix])
        del scaled
        out[:, -n_mix:] = self._expected_shares(values)
        out[:, -n_mix:] -= self.interest_center_
        out[:, -n_mix:] *= self.interest_scale_
        return out
