"""Topics of messages: k-means on sentence embeddings, each topic named by its distinctive terms.

Terms are ranked by class-based TF-IDF (Grootendorst 2022, "BERTopic", eq. 1): a term's share
of the topic's words times ``log(1 + A / f_t)``, with ``A`` the average number of words per topic
and ``f_t`` the term's count over all topics. Terms common everywhere ("card" in a bank's
messages) score low unless a topic uses them much more than the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import silhouette_score
from sklearn.utils.validation import check_is_fitted

from segmint.errors import DataValidationError, ModelError
from segmint.text._input import as_texts
from segmint.text.embed import embed, resolve_model

_FORMAT = "segmint.text.TopicModel"
_VERSION = 1
# candidate k values tried when n_topics is None: a bounded grid, not every k in the range
_MAX_CANDIDATES = 12


class TopicModel(ClusterMixin, BaseEstimator):
    """Cluster messages into topics and name each topic by its most distinctive terms.

    Parameters
    ----------
    n_topics : int or None, default None
        Number of topics. ``None`` chooses it within ``k_range`` by the silhouette of k-means on
        a sample of ``selection_sample`` messages (at most 12 values of k are tried, evenly
        spread over the range), so the cost of choosing does not grow with the data.
    k_range : tuple of int, default (4, 30)
        Smallest and largest number of topics considered when ``n_topics`` is None.
    model : str, default "default"
        Embedding model, see :func:`segmint.text.embed`.
    n_terms : int, default 3
        Terms kept per topic in ``topic_terms_`` and ``topic_names_``.
    selection_sample : int, default 2000
        Messages sampled to choose the number of topics.
    n_init : int, default 3
        k-means restarts of the final fit.
    random_state : int or None, default 0
        Seed of the sample and of k-means.

    Attributes
    ----------
    n_topics_ : int
        Number of topics fitted.
    labels_ : ndarray of int
        Topic of each training message.
    centers_ : ndarray of float32, shape (n_topics_, dim)
        Topic centres in embedding space.
    topic_terms_ : list of list of str
        The most distinctive terms of each topic, best first (may be shorter than ``n_terms``
        when a topic's messages hold few words that are not stop words).
    topic_names_ : list of str
        Display names: the terms joined by " · ", or "topic <i>" when a topic has none.
    sizes_ : ndarray of int
        Training messages per topic.
    selection_scores_ : dict of int to float
        Silhouette of each candidate k (empty when ``n_topics`` was given).
    embedding_model_ : str
        Canonical name of the embedding model used (what ``"default"`` meant at fit time).

    Examples
    --------
    >>> texts = ["card not arrived", "where is my card", "card delivery late",
    ...          "refund not received", "waiting for my refund", "refund still missing"]
    >>> tm = TopicModel(n_topics=2, model="hashing").fit(texts)
    >>> sorted(tm.topic_names_)[0].split(" · ")[0] in {"card", "refund"}
    True
    >>> tm.predict(["my refund is missing"]).tolist() == tm.predict(["refund"]).tolist()
    True
    """

    def __init__(
        self,
        n_topics: int | None = None,
        *,
        k_range: tuple[int, int] = (4, 30),
        model: str = "default",
        n_terms: int = 3,
        selection_sample: int = 2000,
        n_init: int = 3,
        random_state: int | None = 0,
    ) -> None:
        self.n_topics = n_topics
        self.k_range = k_range
        self.model = model
        self.n_terms = n_terms
        self.selection_sample = selection_sample
        self.n_init = n_init
        self.random_state = random_state

    def _check_params(self) -> None:
        def int_at_least(name: str, value: Any, low: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                msg = f"{name} must be an integer >= {low}, got {value!r}"
                raise ValueError(msg)

        if self.n_topics is not None:
            int_at_least("n_topics", self.n_topics, 1)
        k = self.k_range
        if (
            not isinstance(k, tuple | list)
            or len(k) != 2
            or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in k)
            or k[0] < 2
            or k[1] < k[0]
        ):
            msg = f"k_range must be a pair (low, high) of integers with 2 <= low <= high, got {k!r}"
            raise ValueError(msg)
        int_at_least("n_terms", self.n_terms, 1)
        int_at_least("selection_sample", self.selection_sample, 10)
        int_at_least("n_init", self.n_init, 1)
        resolve_model(self.model)

    def fit(self, texts: Sequence[str], y: Any = None) -> TopicModel:
        """Fit topics to messages.

        Parameters
        ----------
        texts : sequence of str
            The messages.
        y : ignored

        Returns
        -------
        TopicModel
            The fitted model.
        """
        self._check_params()
        texts = as_texts(texts)
        model = resolve_model(self.model)
        E = embed(texts, model=model)
        n_distinct = len(set(texts))
        if self.n_topics is not None:
            k, scores = int(self.n_topics), {}
            if k > n_distinct:
                msg = f"cannot fit {k} topics to {n_distinct} distinct messages"
                raise ModelError(msg)
        else:
            k, scores = self._choose_k(E, n_distinct)
        km = KMeans(k, n_init=self.n_init, random_state=self.random_state).fit(E)
        self.centers_ = km.cluster_centers_.astype(np.float32)
        self.labels_ = _nearest(E, self.centers_)
        self.n_topics_ = k
        self.sizes_ = np.bincount(self.labels_, minlength=k)
        self.topic_terms_ = _distinctive_terms(texts, self.labels_, k, self.n_terms)
        self.topic_names_ = _names(self.topic_terms_)
        self.selection_scores_ = scores
        self.embedding_model_ = model
        return self

    def _choose_k(self, E: np.ndarray, n_distinct: int) -> tuple[int, dict[int, float]]:
        rng = np.random.default_rng(self.random_state)
        sample = E[rng.choice(len(E), size=min(len(E), self.selection_sample), replace=False)]
        # silhouette needs 2 <= k <= n_samples - 1
        high = min(self.k_range[1], n_distinct - 1, len(sample) - 1)
        low = min(self.k_range[0], high)
        if high < 2:
            msg = f"at least 3 distinct messages are needed to choose topics, got {n_distinct}"
            raise ModelError(msg)
        ks = np.unique(np.linspace(low, high, _MAX_CANDIDATES).round().astype(int))
        scores = {}
        for k in ks.tolist():
            km = KMeans(k, n_init=1, random_state=self.random_state).fit(sample)
            if not 2 <= len(np.unique(km.labels_)) <= len(sample) - 1:
                continue
            scores[k] = float(silhouette_score(sample, km.labels_))
        if not scores:
            msg = "the messages are too alike to form two topics"
            raise ModelError(msg)
        return max(scores, key=scores.get), scores

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Topic of each message (index into ``topic_names_``).

        Parameters
        ----------
        texts : sequence of str
            The messages.

        Returns
        -------
        numpy.ndarray
            ``int64`` topic ids.
        """
        return _nearest(self._embed(texts), self.centers_)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Euclidean distance of each message's embedding to each topic centre.

        Parameters
        ----------
        texts : sequence of str
            The messages.

        Returns
        -------
        numpy.ndarray
            ``float32`` of shape ``(len(texts), n_topics_)``.
        """
        E = self._embed(texts)
        return np.sqrt(np.maximum(_sq_distances(E, self.centers_), 0.0))

    def fit_predict(self, texts: Sequence[str], y: Any = None) -> np.ndarray:
        """Fit, then return ``labels_``."""
        return self.fit(texts).labels_

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        check_is_fitted(self, "centers_")
        return embed(as_texts(texts), model=self.embedding_model_)

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as plain JSON-serialisable values (no pickle).

        Returns
        -------
        dict
            Format tag and version, the parameters and the fitted attributes needed to predict
            and to name topics. ``labels_`` (per training message) is not kept.

        Examples
        --------
        >>> import json
        >>> tm = TopicModel(n_topics=2, model="hashing").fit(["a card", "my card", "refund me"])
        >>> again = TopicModel.from_dict(json.loads(json.dumps(tm.to_dict())))
        >>> again.predict(["card"]).tolist() == tm.predict(["card"]).tolist()
        True
        """
        check_is_fitted(self, "centers_")
        params = self.get_params()
        if params["random_state"] is not None and not isinstance(
            params["random_state"], int | np.integer
        ):
            msg = "to_dict needs random_state to be an int or None"
            raise ValueError(msg)
        params["k_range"] = [int(v) for v in params["k_range"]]
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "params": params,
            "embedding_model": self.embedding_model_,
            "n_topics": int(self.n_topics_),
            # float32 -> Python float is exact, and JSON keeps every digit of a float
            "centers": self.centers_.tolist(),
            "topic_terms": [list(t) for t in self.topic_terms_],
            "sizes": self.sizes_.tolist(),
            "selection_scores": {str(k): v for k, v in self.selection_scores_.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TopicModel:
        """Rebuild a fitted model written by :meth:`to_dict`.

        Parameters
        ----------
        data : dict
            What :meth:`to_dict` returned (possibly through JSON).

        Returns
        -------
        TopicModel
            A fitted model that predicts exactly as the original.

        Raises
        ------
        DataValidationError
            If ``data`` is not a topic model of a version this code reads.
        """
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            msg = f"not a stored topic model (expected format {_FORMAT!r})"
            raise DataValidationError(msg)
        if data.get("version") != _VERSION:
            version = data.get("version")
            msg = f"topic model version {version!r} is not readable (expects {_VERSION})"
            raise DataValidationError(msg)
        params = dict(data["params"])
        params["k_range"] = tuple(params["k_range"])
        tm = cls(**params)
        tm.embedding_model_ = resolve_model(data["embedding_model"])
        tm.n_topics_ = int(data["n_topics"])
        tm.centers_ = np.asarray(data["centers"], dtype=np.float32)
        if tm.centers_.shape[0] != tm.n_topics_:
            msg = f"{tm.centers_.shape[0]} centres stored for {tm.n_topics_} topics"
            raise DataValidationError(msg)
        tm.topic_terms_ = [list(t) for t in data["topic_terms"]]
        tm.topic_names_ = _names(tm.topic_terms_)
        tm.sizes_ = np.asarray(data["sizes"], dtype=np.int64)
        tm.selection_scores_ = {int(k): float(v) for k, v in data["selection_scores"].items()}
        return tm


def _sq_distances(E: np.ndarray, centers: np.ndarray) -> np.ndarray:
    # |x|^2 - 2 x.c + |c|^2, one matrix product instead of a (n, k, dim) difference array
    return np.einsum("ij,ij->i", E, E)[:, None] - 2.0 * (E @ centers.T) + (centers**2).sum(axis=1)


def _nearest(E: np.ndarray, centers: np.ndarray) -> np.ndarray:
    # the one assignment rule, used by fit (labels_) and predict; |x|^2 does not change the argmin
    scores = 2.0 * (E @ centers.T) - (centers**2).sum(axis=1)
    return np.argmax(scores, axis=1).astype(np.int64)


def _distinctive_terms(texts: list[str], labels: np.ndarray, k: int, n_terms: int) -> list:
    # words of two letters or more, no digits: amounts and ids make poor topic names
    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{2,}\b")
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # nothing but stop words and numbers
        return [[] for _ in range(k)]
    terms = vectorizer.get_feature_names_out()
    n = len(labels)
    member = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
    tf = (member @ counts).toarray().astype(float)  # word counts per topic, (k, vocabulary)
    words = tf.sum(axis=1, keepdims=True)
    share = np.divide(tf, words, out=np.zeros_like(tf), where=words > 0)
    idf = np.log1p(words.mean() / tf.sum(axis=0))
    score = share * idf
    order = np.argsort(-score, axis=1, kind="stable")[:, :n_terms]
    return [[str(terms[j]) for j in row if score[i, j] > 0] for i, row in enumerate(order.tolist())]


def _names(topic_terms: list) -> list[str]:
    return [" · ".join(t) if t else f"topic {i}" for i, t in enumerate(topic_terms)]
