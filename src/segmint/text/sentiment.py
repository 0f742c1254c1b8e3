"""Sentiment of messages in [-1, 1]: VADER's compound score (Hutto & Gilbert, ICWSM 2014).

VADER is a rule-based scorer tuned for short social-media text (negation, "but", capitals,
punctuation, emoticons); its lexicon ships in the ``vaderSentiment`` wheel. It scores one text at
a time in Python, so the only vectorisation available is to score each distinct text once: chat
logs repeat short messages ("thanks", "ok", "yes") a lot.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import pandas as pd

from segmint.text._input import as_texts


@cache
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(texts: Sequence[str]) -> np.ndarray:
    """Sentiment score of each message, from -1 (most negative) to 1 (most positive).

    Parameters
    ----------
    texts : sequence of str
        The messages (English).

    Returns
    -------
    numpy.ndarray
        ``float64`` VADER compound scores; 0 for neutral or empty messages.

    Examples
    --------
    >>> s = sentiment(["Thanks, that was really helpful!", "This is terrible, I am furious."])
    >>> bool(s[0] > 0.5 and s[1] < -0.5)
    True
    """
    texts = as_texts(texts)
    codes, distinct = pd.factorize(pd.Series(texts, dtype=object), sort=False)
    score = _analyzer().polarity_scores
    scores = np.fromiter(
        (score(t)["compound"] for t in distinct), dtype=np.float64, count=len(distinct)
    )
    return scores[codes]
