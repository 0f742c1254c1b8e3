"""Sentiment: signs right on clear messages, within [-1, 1], one score per distinct text."""

from __future__ import annotations

import numpy as np
import pytest

from segmint.errors import DataValidationError
from segmint.text import sentiment

POSITIVE = [
    "Thank you so much, that was really helpful!",
    "Great service, I love the new app",
    "Perfect, the transfer arrived quickly. Thanks!",
]
NEGATIVE = [
    "This is terrible, I am furious about the hidden fees",
    "Worst bank ever. My card was stolen and nobody helps",
    "I'm really disappointed, the refund still hasn't come",
]
NEUTRAL = ["What is the exchange rate for euros?", "", "Transfer 100 to account 1234"]


def test_signs_on_clear_messages():
    s = sentiment(POSITIVE + NEGATIVE + NEUTRAL)
    assert (s[:3] > 0.5).all(), s[:3]
    assert (s[3:6] < -0.5).all(), s[3:6]
    assert (np.abs(s[6:]) < 0.2).all(), s[6:]


def test_range_dtype_and_repeats():
    texts = POSITIVE + NEGATIVE + POSITIVE[::-1] + ["ok"] * 5
    s = sentiment(texts)
    assert s.dtype == np.float64 and s.shape == (len(texts),)
    assert ((s >= -1) & (s <= 1)).all()
    np.testing.assert_array_equal(s[6:9], s[:3][::-1])
    assert sentiment([]).shape == (0,)


def test_bad_input_is_refused():
    with pytest.raises(DataValidationError, match="single str"):
        sentiment("great")
    with pytest.raises(DataValidationError, match=r"texts\[0\] is NoneType"):
        sentiment([None])
