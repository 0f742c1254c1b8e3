"""Product categories derived from the data when the transactions carry none.

Only the DISTINCT products (a few thousand rows) leave the engine: their descriptions are
clustered with TF-IDF + LSA + KMeans in Python and each cluster is named by its top terms
(``"christmas/tree"``, ``"bag/lunch"``). Products without a description fall back to their
stock-code family (alphabetic prefix such as ``"POST"``, or the first two digits, ``"code 85"``).

The result is a small ``(product_id, category)`` table: a pipeline writes it into the workspace
and passes its name to :func:`segmint.features.build_features` as ``category_map_table``, so the
categories stay the same between training and scoring.
"""

from __future__ import annotations

import re
from datetime import datetime

import ibis
import numpy as np
import pyarrow as pa

from segmint.engine import engine_for
from segmint.errors import DataValidationError

__all__ = ["derive_categories", "stock_code_family", "DEFAULT_STOP_WORDS"]

#: words that describe colour, size or pack rather than what a product is; left out so that
#: clusters form around product types ("mug", "bag") instead of "pink" or "set".
DEFAULT_STOP_WORDS = frozenset(
    {
        "assorted", "black", "blue", "colour", "colours", "cream", "design", "gold", "green",
        "grey", "ivory", "jumbo", "large", "medium", "mini", "orange", "pack", "pink", "purple",
        "red", "set", "silver", "small", "white", "yellow",
    }
)  # fmt: skip

#: fewer described products than this: no clustering, stock-code families only.
_MIN_DESCRIBED = 10
_TOKEN_PATTERN = r"(?u)\b[a-z]{3,}\b"
_LSA_DIMENSIONS = 50


def stock_code_family(product_id: str | None) -> str:
    """Return the family of a stock code: its alphabetic prefix, else its first two digits.

    Parameters
    ----------
    product_id : str or None
        A product / stock code such as ``"85123A"`` or ``"POST"``.

    Returns
    -------
    str
        ``"POST"`` for ``"POST"``, ``"code 85"`` for ``"85123A"``, ``"other"`` when neither
        applies.
    """
    code = (product_id or "").strip()
    letters = re.match(r"[A-Za-z]+", code)
    if letters:
        return letters.group(0).upper()
    digits = re.match(r"\d+", code)
    if digits:
        return "code " + digits.group(0)[:2]
    return "other"


def _product_descriptions(con, before=None) -> tuple[list[str], list[str | None], np.ndarray]:
    """Each product's most frequent description (ties: alphabetically first), and whether it
    was sold before ``before`` (always, when ``before`` is None).

    A product sold before ``before`` is described by its lines before it only, so later lines
    change neither which products shape the categories nor how they read.
    """
    tx = engine_for(con).table("transactions")
    if tx is None:
        raise DataValidationError("no transactions table in the workspace", source="transactions")
    lines = tx.filter(tx["product_id"].notnull())
    if before is None:
        n_before = lines.count()
    else:
        n_before = ibis.ifelse(lines["ts"] < ibis.literal(before, type="timestamp"), 1, 0).sum()
    pairs = (
        lines.group_by(["product_id", "description"])
        .aggregate(n=lines.count(), n_before=n_before)
        .to_pyarrow()
        .to_pandas()
    )
    known = pairs.groupby("product_id")["n_before"].transform("sum") > 0
    pairs = pairs[~known | (pairs["n_before"] > 0)].assign(
        n=lambda d: d["n_before"].where(known[d.index], d["n"]),
        missing=lambda d: d["description"].isna(),
    )
    # Prefer a real description, then the most frequent, then the first alphabetically, so the
    # choice does not depend on the engine's (parallel) row order.
    pairs = pairs.sort_values(
        ["product_id", "missing", "n", "description"], ascending=[True, True, False, True]
    )
    first = pairs.drop_duplicates("product_id")
    descriptions = [None if d is None or d != d else str(d) for d in first["description"]]
    sold_before = known[first.index].to_numpy()
    return first["product_id"].astype(str).tolist(), descriptions, sold_before


def _cluster_names(tfidf, labels: np.ndarray, terms: np.ndarray, n_terms: int) -> list[str]:
    """Name each cluster by its highest mean TF-IDF terms, made unique by adding terms."""
    names: list[str] = []
    for cluster in range(labels.max() + 1):
        if not (labels == cluster).any():
            names.append(f"cluster {cluster}")
            continue
        weights = np.asarray(tfidf[labels == cluster].mean(axis=0)).ravel()
        ranked = terms[np.argsort(-weights, kind="stable")]
        count = n_terms
        name = "/".join(ranked[:count])
        while name in names and count < len(ranked):
            count += 1
            name = "/".join(ranked[:count])
        names.append(name)
    return names


def derive_categories(
    con,
    *,
    before: datetime | None = None,
    n_categories: int | None = None,
    k_range: tuple[int, int] = (8, 20),
    random_state: int = 0,
    stop_words=DEFAULT_STOP_WORDS,
    n_name_terms: int = 2,
) -> pa.Table:
    """Derive a product category for every product from its description.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection, SparkSession or Engine
        Holding a ``transactions`` table (``product_id``, ``description``).
    before : datetime, optional
        Learn the categories (vocabulary, clusters, names) from the products sold before this
        instant only, as a model trained on an earlier cut-off must; products first sold
        later are then placed in the nearest of those categories by their description (a
        catalogue attribute, not behaviour). Default: learn from every product.
    n_categories : int, optional
        Number of description clusters. Default: chosen in ``k_range``.
    k_range : tuple of int, default=(8, 20)
        Inclusive range searched when ``n_categories`` is None; the k with the best silhouette
        (cosine, on the LSA vectors) wins. Silhouette on short product texts tends to grow with
        k, so the upper bound also acts as a cap on how fine categories get.
    random_state : int, default=0
        Seed for the SVD and KMeans, so the categories are the same run to run.
    stop_words : collection of str, default=DEFAULT_STOP_WORDS
        Words ignored on top of scikit-learn's English stop words.
    n_name_terms : int, default=2
        Top terms joined with ``"/"`` to name a cluster.

    Returns
    -------
    pyarrow.Table
        ``product_id`` (string) and ``category`` (string), one row per distinct product.

        Empty when no transaction has a product id (e.g. CDNOW's log): there is nothing to
        categorise, and the features then have no category shares.

    Raises
    ------
    DataValidationError
        When the workspace has no transactions table.

    Notes
    -----
    Descriptions are lowercased and split into words of three or more letters. Products whose
    description is missing or has no usable word get their stock-code family
    (:func:`stock_code_family`); when fewer than 10 products are described, every product does.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import normalize

    product_ids, descriptions, sold_before = _product_descriptions(con, before)
    categories = [stock_code_family(p) for p in product_ids]
    described = [i for i, d in enumerate(descriptions) if d and re.search(r"[A-Za-z]{3}", d)]
    learn = np.array([sold_before[i] for i in described], dtype=bool)

    if learn.sum() >= _MIN_DESCRIBED:
        texts = [descriptions[i].lower() for i in described]
        vectorizer = TfidfVectorizer(
            token_pattern=_TOKEN_PATTERN,
            stop_words=sorted(ENGLISH_STOP_WORDS | set(stop_words)),
            # A word seen on one product cannot group products; keep it only for tiny catalogues.
            min_df=2 if learn.sum() >= 50 else 1,
            sublinear_tf=True,
        )
        vectorizer.fit([t for t, k in zip(texts, learn, strict=True) if k])
        tfidf = vectorizer.transform(texts)
        keep = np.asarray(tfidf.sum(axis=1)).ravel() > 0
        tfidf, learn = tfidf[keep], learn[keep]
        described = [i for i, k in zip(described, keep, strict=True) if k]
        n_docs, n_terms = int(learn.sum()), tfidf.shape[1]
        # LSA: a dense, denoised space where KMeans and the silhouette are fast and stable.
        if n_terms > _LSA_DIMENSIONS + 1 and n_docs > _LSA_DIMENSIONS + 1:
            svd = TruncatedSVD(_LSA_DIMENSIONS, random_state=random_state).fit(tfidf[learn])
            vectors = normalize(svd.transform(tfidf))
        else:
            vectors = normalize(tfidf.toarray())

        if n_categories is not None:
            candidates = [min(n_categories, n_docs)]
        else:
            low, high = max(2, k_range[0]), min(k_range[1], n_docs - 1)
            candidates = list(range(min(low, high), high + 1)) or [1]
        # The search fits each k once (n_init=1); the chosen k is then refitted with n_init=4.
        best_k, best_score = candidates[0], -np.inf
        for k in candidates if len(candidates) > 1 else []:
            labels = KMeans(k, n_init=1, random_state=random_state).fit_predict(vectors[learn])
            if len(set(labels)) < 2:
                continue
            score = silhouette_score(
                vectors[learn], labels, sample_size=min(n_docs, 2000), random_state=random_state
            )
            if score > best_score:
                best_k, best_score = k, score
        kmeans = KMeans(best_k, n_init=4, random_state=random_state).fit(vectors[learn])
        best_labels = np.empty(len(described), dtype=int)
        best_labels[learn] = kmeans.labels_
        best_labels[~learn] = kmeans.predict(vectors[~learn]) if (~learn).any() else []
        names = _cluster_names(
            tfidf[learn],
            kmeans.labels_,
            np.asarray(vectorizer.get_feature_names_out()),
            n_name_terms,
        )
        for i, label in zip(described, best_labels, strict=True):
            categories[i] = names[label]

    return pa.table(
        {
            "product_id": pa.array(product_ids, pa.string()),
            "category": pa.array(categories, pa.string()),
        }
    )
