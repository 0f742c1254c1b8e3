"""Intents: learnt from labelled messages, and better than TF-IDF + logistic regression."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from segmint.errors import DataValidationError, ModelError
from segmint.text import IntentClassifier

TEXTS = [
    "my card has not arrived",
    "when will my card arrive",
    "still waiting for my card",
    "I want a refund",
    "refund not showing in my account",
    "please refund my money",
    "I forgot my PIN",
    "how do I change my PIN",
    "my PIN is blocked",
]
LABELS = ["card_arrival"] * 3 + ["refund"] * 3 + ["pin"] * 3


@pytest.mark.parametrize("model", ["default", "hashing"])
def test_learns_toy_intents(model):
    clf = IntentClassifier(model=model).fit(TEXTS, LABELS)
    assert clf.classes_.tolist() == ["card_arrival", "pin", "refund"]
    new = ["where is my card", "refund please", "PIN reset"]
    assert clf.predict(new).tolist() == ["card_arrival", "refund", "pin"]
    P = clf.predict_proba(new)
    assert P.shape == (3, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[P.argmax(axis=1)], clf.predict(new))


def test_tiny_training_set_without_repeated_terms_still_fits():
    # min_df=2 finds no word seen twice: the n-gram blocks are left out, the embedding remains
    clf = IntentClassifier().fit(["card lost", "refund now"], ["a", "b"])
    assert clf.predict(["lost card"]).tolist() == ["a"]


def test_errors():
    with pytest.raises(NotFittedError):
        IntentClassifier().predict(["x"])
    with pytest.raises(DataValidationError, match="one per message: 9 messages"):
        IntentClassifier().fit(TEXTS, LABELS[:-1])
    with pytest.raises(ModelError, match="two distinct intents"):
        IntentClassifier().fit(TEXTS, ["x"] * 9)
    with pytest.raises(ValueError, match="C must be a positive number"):
        IntentClassifier(C=0).fit(TEXTS, LABELS)


# Measured on 2026-12-02: 0.929 ours, 0.877 TF-IDF + LR (about 30 s for both fits on 2 cores)
@pytest.mark.slow
def test_banking77_beats_tfidf_logistic_regression(banking77):
    train, test = banking77["train"], banking77["test"]
    t0 = time.perf_counter()
    baseline = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=2000))
    baseline.fit(train["text"], train["category"])
    base_acc = float((baseline.predict(test["text"]) == test["category"]).mean())
    t1 = time.perf_counter()
    ours = IntentClassifier().fit(train["text"], train["category"])
    acc = float((ours.predict(test["text"]) == test["category"]).mean())
    t2 = time.perf_counter()
    print(
        f"BANKING77 intent accuracy: ours {acc:.4f} ({t2 - t1:.1f} s), "
        f"TF-IDF + LR {base_acc:.4f} ({t1 - t0:.1f} s)"
    )
    assert acc >= base_acc + 0.02
    assert acc >= 0.90
