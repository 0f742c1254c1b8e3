"""Offline understanding of chat and support messages: embeddings, topics, intents, sentiment.

Pure functions and scikit-learn style estimators: lists of strings in, NumPy arrays out. Nothing
is downloaded: the default embedding model's weights ship in the ``wordllama`` wheel and VADER's
lexicon in ``vaderSentiment``'s. Heavy pieces load on first use, not at import.
"""

from segmint.text.embed import UnknownModelError, embed, embedding_dim, resolve_model
from segmint.text.intents import IntentClassifier
from segmint.text.sentiment import sentiment
from segmint.text.topics import TopicModel

__all__ = [
    "IntentClassifier",
    "TopicModel",
    "UnknownModelError",
    "embed",
    "embedding_dim",
    "resolve_model",
    "sentiment",
]
