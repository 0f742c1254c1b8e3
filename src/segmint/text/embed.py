"""Sentence embeddings that run offline: unit-length float32 rows, one per message.

The default model is WordLlama ``l2_supercat`` at 256 dimensions (Miller 2024,
https://github.com/dleemiller/WordLlama): token embeddings distilled from Llama 2 70B, averaged
over a message's tokens. Its weights (16 MB) and tokenizer ship inside the ``wordllama`` wheel, so
nothing is fetched at run time; we read those two files ourselves (``tokenizers`` +
``safetensors``) instead of calling ``WordLlama.load`` because

- ``import wordllama`` calls ``logging.basicConfig(level=INFO)``, which would reconfigure the
  host application's root logger;
- ``WordLlama.load`` looks for the bundled tokenizer under ``tokenizer/`` while the wheel ships
  it under ``tokenizers/``, so it goes to the Hugging Face hub (or fails with downloads off);
- a sparse token-count matrix times the embedding table is about 6x faster than its padded
  per-batch average (45,000 vs 6,900 messages/s on BANKING77, 2 cores), with the same result
  to 5e-8.

``model="hashing"`` needs no model at all: character 3-5-grams (within words, so typos and
inflections still share most features) hashed with random signs into 512 dimensions, which is a
random projection of the n-gram counts (feature hashing, Weinberger et al. 2009). It is stateless
on purpose (no IDF learned from a batch), so a message embeds the same alone or in a batch.
It is the weaker model (BANKING77 topics: NMI 0.46 against 0.66) and, with Python n-gram
generation, not the faster one (17,000 against 50,000 messages/s): use it where the wordllama
wheel cannot be installed.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from segmint.errors import SegmintError
from segmint.text._input import as_texts

DEFAULT_MODEL = "wordllama-l2-256"
HASHING_MODEL = "hashing"
_ALIASES = {"default": DEFAULT_MODEL, "wordllama": DEFAULT_MODEL}
# messages tokenised at once: bounds the tokenizer's per-message objects (about 1 KB each)
_CHUNK = 50_000
_HASH_DIM = 512


class UnknownModelError(SegmintError, ValueError):
    """An embedding model name that segmint does not know."""


def resolve_model(model: str) -> str:
    """Return the canonical name of an embedding model (``"default"`` -> the model it means).

    Stored topic models record the canonical name, so a later change of default cannot silently
    pair their centres with another model's vectors.

    Parameters
    ----------
    model : str
        ``"default"``, ``"wordllama"``, ``"wordllama-l2-256"`` or ``"hashing"``.

    Returns
    -------
    str
        ``"wordllama-l2-256"`` or ``"hashing"``.

    Raises
    ------
    UnknownModelError
        For any other name.

    Examples
    --------
    >>> resolve_model("default")
    'wordllama-l2-256'
    """
    name = _ALIASES.get(model, model) if isinstance(model, str) else model
    if name not in _EMBEDDERS:
        known = ", ".join(repr(m) for m in [*_ALIASES, *_EMBEDDERS])
        msg = f"unknown embedding model {model!r}; known models: {known}"
        raise UnknownModelError(msg)
    return name


def embed(texts: Sequence[str], *, model: str = "default") -> np.ndarray:
    """Embed messages as unit-length vectors (cosine similarity is a dot product).

    Parameters
    ----------
    texts : sequence of str
        The messages. Missing values are refused (:class:`~segmint.errors.DataValidationError`).
    model : str, default "default"
        ``"default"`` (WordLlama l2_supercat, 256 dimensions, weights shipped in the
        ``wordllama`` wheel, loaded once per process on first use) or ``"hashing"``
        (character n-gram hashing, 512 dimensions, no model).

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(len(texts), dim)``. Rows have unit L2 norm, except all-zero rows
        for messages with no tokens (empty or whitespace only).

    Raises
    ------
    UnknownModelError
        If ``model`` is not a known name.

    Examples
    --------
    >>> E = embed(["my card has not arrived", "where is my new card?"])
    >>> E.shape, E.dtype.name
    ((2, 256), 'float32')
    >>> bool(E[0] @ E[1] > 0.5)
    True
    """
    name = resolve_model(model)
    texts = as_texts(texts)
    if not texts:
        return np.zeros((0, embedding_dim(name)), dtype=np.float32)
    E = _EMBEDDERS[name](texts)
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    np.divide(E, norms, out=E, where=norms > 0)
    return E


def embedding_dim(model: str = "default") -> int:
    """Number of dimensions ``embed`` returns for ``model``.

    Examples
    --------
    >>> embedding_dim("hashing")
    512
    """
    return {DEFAULT_MODEL: 256, HASHING_MODEL: _HASH_DIM}[resolve_model(model)]


@cache
def _wordllama() -> tuple[object, np.ndarray]:
    # find_spec locates the installed package without importing it (see the module docstring)
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        msg = "the default embedding model needs the wordllama package: pip install wordllama"
        raise SegmintError(msg)
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    root = Path(spec.submodule_search_locations[0])
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    # stored as float16; float32 for the product (32 MB)
    table = load_file(str(root / "weights" / "l2_supercat_256.safetensors"))["embedding.weight"]
    return tokenizer, table.astype(np.float32)


def _embed_wordllama(texts: list[str]) -> np.ndarray:
    tokenizer, table = _wordllama()
    out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
    for start in range(0, len(texts), _CHUNK):
        chunk = texts[start : start + _CHUNK]
        ids = [enc.ids for enc in tokenizer.encode_batch(chunk, add_special_tokens=False)]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=indptr[-1])
        # one row of token counts per message: counts @ table sums its token vectors; the mean
        # is not needed since rows are normalised afterwards
        counts = sp.csr_matrix(
            (np.ones(flat.size, dtype=np.float32), flat, indptr),
            shape=(len(chunk), table.shape[0]),
        )
        out[start : start + len(chunk)] = counts @ table
    return out


def _embed_hashing(texts: list[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        n_features=_HASH_DIM,
        alternate_sign=True,
        norm=None,
        dtype=np.float32,
    )
    return vectorizer.transform(texts).toarray()


_EMBEDDERS: dict[str, Callable[[list[str]], np.ndarray]] = {
    DEFAULT_MODEL: _embed_wordllama,
    HASHING_MODEL: _embed_hashing,
}
