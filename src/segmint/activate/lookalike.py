"""Lookalike prospects: who, among people who are not customers yet, resembles chosen customers.

:class:`Lookalike` is a classifier of "chosen customer" against "other customer" on the
features a prospect file can also give: the customers' attributes (typed as
:mod:`segmint.features.attributes` types them for segmenting), their country, and browsing
features where the file has columns named like the run's web features. Histogram gradient
boosting (fast, handles missing values and mixed scales without imputing); the chosen
customers are usually a small share, so classes are weighted to balance while fitting and the
probability is then moved back to the real prior (odds times prior odds), so the score is the
calibrated probability that a person like this one is a chosen customer.

Prospects are not customers: the consent ledger has nothing for them. A prospect whose id is
a known customer is scored only when that customer is permitted for ``ads`` (erased and
withdrawn customers are skipped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from segmint.errors import DataValidationError, SegmintError
from segmint.features.attributes import _FALSE, _TRUE, AttributeKind, attribute_column, is_outcome
from segmint.features.labels import INDICATOR_SEPARATOR, slugify

__all__ = [
    "COUNTRY_PREFIX",
    "Lookalike",
    "ProspectFeatures",
    "LookalikeResult",
    "customer_frame",
    "encode_prospects",
    "score_prospects",
    "browsing_columns",
    "top_share",
]

#: one-hot columns of the customers' country
COUNTRY_PREFIX = "country" + INDICATOR_SEPARATOR


class Lookalike(ClassifierMixin, BaseEstimator):
    """Scores how closely people resemble a chosen set of customers.

    Parameters
    ----------
    max_iter : int, default=200
        Boosting rounds (early stopping on a held-out 10% from 1,000 rows).
    learning_rate : float, default=0.1
    min_samples_leaf : int, default=20
    random_state : int, default=0

    Attributes
    ----------
    feature_names_in_ : ndarray of str
    prior_ : float
        Share of chosen customers in the training data.
    model_ : HistGradientBoostingClassifier
    classes_ : ndarray
    """

    def __init__(
        self,
        max_iter: int = 200,
        learning_rate: float = 0.1,
        min_samples_leaf: int = 20,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # chosen or not
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y) -> Lookalike:
        """Learn the chosen customers (``y`` true, or the larger of two labels) against the
        others; ``X`` a frame (columns kept by name) or an array, missing values allowed."""
        names = np.asarray(X.columns, dtype=object) if isinstance(X, pd.DataFrame) else None
        X, y = check_X_y(X, y, dtype=float, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) != 2:
            raise DataValidationError(
                "Only binary classification is supported. A lookalike needs chosen and other "
                f"customers; the labels hold {len(classes)} class(es) over {len(y)} customers"
            )
        target = y == classes[1]
        self.prior_ = float(target.mean())
        weights = np.where(target, 0.5 / self.prior_, 0.5 / (1 - self.prior_))
        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            min_samples_leaf=self.min_samples_leaf,
            early_stopping=len(y) >= 1000,
            random_state=self.random_state,
        ).fit(X, target, sample_weight=weights)
        if names is not None:
            self.feature_names_in_ = names
        self.n_features_in_ = X.shape[1]
        self.n_iter_ = self.model_.n_iter_
        self.classes_ = classes
        return self

    def _matrix(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            X = X.reindex(columns=self.feature_names_in_)
        X = check_array(X, dtype=float, ensure_all_finite="allow-nan")
        if X.shape[1] != self.n_features_in_:
            raise DataValidationError(
                f"X has {X.shape[1]} features, but Lookalike is expecting "
                f"{self.n_features_in_} features as input"
            )
        return X

    def predict_proba(self, X) -> np.ndarray:
        """Probability of being like the chosen customers, at the real prior."""
        matrix = self._matrix(X)
        balanced = self.model_.predict_proba(matrix)[:, 1]
        # weighted fitting sees a prior of 1/2: move the odds back to the real prior
        odds = balanced / np.maximum(1 - balanced, 1e-12) * self.prior_ / (1 - self.prior_)
        p = odds / (1 + odds)
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        chosen = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[chosen.astype(int)]

    def score_samples(self, X) -> np.ndarray:
        """The similarity score, 0..1, of each row (``predict_proba``'s second column).

        Named as scikit-learn names per-sample scores; ``score(X, y)`` stays the accuracy."""
        return self.predict_proba(X)[:, 1]


@dataclass(frozen=True)
class ProspectFeatures:
    """Prospects encoded like the customers: ``frame`` (``customer_features``' columns that
    the file gives), and which file column gave which attribute."""

    frame: pd.DataFrame
    used: dict[str, str]  # file column -> attribute key, "country" or web feature
    ignored: list[str]


def _binary(values: pd.Series) -> pd.Series:
    lowered = values.str.lower()
    return pd.Series(
        np.where(lowered.isin(_TRUE), 1.0, np.where(lowered.isin(_FALSE), 0.0, np.nan)),
        index=values.index,
    )


def encode_prospects(
    prospects: pd.DataFrame,
    *,
    id_column: str,
    kinds: dict[str, AttributeKind],
    countries: list[str],
    web_columns: list[str] = (),
    drop: tuple[str, ...] = (),
    source: str = "prospects",
) -> ProspectFeatures:
    """Encode a prospect file's columns the way the customers' attributes are encoded.

    A file column is an attribute when its slug is the attribute key's slug ("Total Charges",
    "total_charges" and "TotalCharges" are one), the country when named country, and a
    browsing feature when named exactly like one of ``web_columns``.

    Parameters
    ----------
    prospects : DataFrame
        The file, as text or numbers.
    id_column : str
        The prospect id column (never a feature).
    kinds : dict of str to AttributeKind
        How each customer attribute key is typed
        (:func:`segmint.features.attributes.attribute_kinds`).
    countries : list of str
        The customers' countries that have a one-hot column.
    web_columns : list of str
        The run's browsing features.
    drop : tuple of str
        Attribute keys or file columns to leave out (an attribute that defines the chosen
        customers, such as a total spend, would leak them).
    source : str
        The file, for error messages.

    Raises
    ------
    DataValidationError
        When no column of the file matches a customer attribute, naming the file and the
        columns that would.
    """
    by_slug = {
        attribute_column(k): k
        for k, kind in kinds.items()
        if kind.kind != "dropped" and not is_outcome(attribute_column(k))
    }
    dropped = {attribute_column(d) for d in drop}
    columns: dict[str, pd.Series] = {}
    used: dict[str, str] = {}
    ignored: list[str] = []
    for col in prospects.columns:
        if col == id_column:
            continue
        slug = attribute_column(str(col))
        if slug in dropped:
            ignored.append(col)
            continue
        values = prospects[col]
        text = values.astype("string").str.strip().replace("", pd.NA)
        if slug in by_slug:
            key = by_slug[slug]
            kind = kinds[key]
            if kind.kind == "numeric":
                columns[slug] = pd.to_numeric(text, errors="coerce").astype(float)
            elif kind.kind == "binary":
                columns[slug] = _binary(text)
            else:
                for value in kind.values:
                    name = f"{slug}{INDICATOR_SEPARATOR}{slugify(value)}"
                    columns[name] = (text == value).fillna(False).astype(float)
            used[col] = key
        elif slug == "attr_country" and countries:
            for value in countries:
                columns[COUNTRY_PREFIX + slugify(value)] = (
                    (text == value).fillna(False).astype(float)
                )
            used[col] = "country"
        elif col in web_columns:
            columns[col] = pd.to_numeric(values, errors="coerce").astype(float)
            used[col] = col
        else:
            ignored.append(col)
    if not used:
        expected = sorted(k for k in by_slug.values()) + (["country"] if countries else [])
        raise DataValidationError(
            f"no column matches a customer attribute (columns {list(prospects.columns)}); "
            f"expected some of {expected[:20]}"
            + (f" or a browsing feature such as {list(web_columns)[:5]}" if web_columns else ""),
            source=source,
        )
    frame = pd.DataFrame(columns, index=prospects.index)
    return ProspectFeatures(frame, used, ignored)


def top_share(scores: np.ndarray, top: str | int | float) -> int:
    """How many of ``len(scores)`` rows ``--top`` keeps: ``"10%"`` or a count.

    >>> top_share(np.zeros(200), "10%"), top_share(np.zeros(200), 50), top_share(np.zeros(5), 50)
    (20, 50, 5)
    """
    n = len(scores)
    text = str(top).strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0 < share <= 100:
                raise ValueError
            return max(1, int(round(n * share / 100))) if n else 0
        count = int(text)
        if count < 1:
            raise ValueError
    except ValueError:
        raise SegmintError(
            f"--top must be a percentage (10%) or a number of prospects (500), got {top!r}"
        ) from None
    return min(count, n)


#: customers' countries with a one-hot column (the most frequent; the rest are "other")
MAX_COUNTRIES = 20
#: attribute typing as for customers segmented on attributes alone
MAX_LEVELS = 10


@dataclass(frozen=True)
class LookalikeResult:
    """Scored prospects (``scores``: ``prospect_id``, ``score``, ``rank``, best first), what
    the model used and how many were skipped."""

    scores: pd.DataFrame
    used: dict[str, str]
    ignored: list[str]
    positives: int
    customers: int
    skipped: int


def customer_frame(con, run_id: int | None = None) -> tuple[pd.DataFrame, dict, list[str]]:
    """Every customer's attribute, country and (with a run) browsing features.

    Returns
    -------
    frame : DataFrame
        Indexed by ``customer_id``.
    kinds : dict of str to AttributeKind
        How each attribute key is typed.
    countries : list of str
        The countries with a one-hot column.
    """
    from segmint.features.attributes import attribute_features, attribute_kinds

    kinds = attribute_kinds(con, max_levels=MAX_LEVELS)
    ids = con.execute("SELECT customer_id, country FROM customers ORDER BY customer_id").df()
    frame = pd.DataFrame(index=pd.Index(ids["customer_id"], name="customer_id"))
    table = attribute_features(con, max_levels=MAX_LEVELS)
    if table is not None:
        attrs = table.to_pyarrow().to_pandas().set_index("customer_id")
        frame = frame.join(attrs)
    counts = ids["country"].dropna().value_counts()
    countries = [str(c) for c in counts.index[:MAX_COUNTRIES]] if len(counts) > 1 else []
    country = ids.set_index("customer_id")["country"]
    for value in countries:
        frame[COUNTRY_PREFIX + slugify(value)] = (country == value).astype(float)
    if run_id is not None:
        from segmint.store.runs import features_table

        table_name = features_table(run_id)
        names = [d[0] for d in con.execute(f"SELECT * FROM {table_name} LIMIT 0").description]
        web = [c for c in names if c.startswith("web_")]
        if web:
            cols = ", ".join(f'"{c}"' for c in web)
            got = con.execute(f"SELECT customer_id, {cols} FROM {table_name}").df()
            frame = frame.join(got.set_index("customer_id"))
    return frame, kinds, countries


def browsing_columns(frame: pd.DataFrame) -> list[str]:
    """The browsing features among a customer frame's columns."""
    return [c for c in frame.columns if c.startswith("web_")]


def score_prospects(
    customers: pd.DataFrame,
    chosen: np.ndarray,
    prospects: ProspectFeatures,
    prospect_ids: pd.Series,
    *,
    random_state: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Fit a :class:`Lookalike` on the customers' columns the prospects also have, score the
    prospects; return ``prospect_id``, ``score``, ``rank`` (1 = most alike), best first, and
    the feature columns used."""
    columns = [c for c in prospects.frame.columns if c in customers.columns]
    if not columns:
        raise SegmintError("the prospect file's columns match no customer feature")
    model = Lookalike(random_state=random_state).fit(customers[columns], chosen)
    score = model.score_samples(prospects.frame[columns])
    out = pd.DataFrame({"prospect_id": prospect_ids.astype(str).to_numpy(), "score": score})
    out = out.sort_values(["score", "prospect_id"], ascending=[False, True], kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True), columns
