"""average_precision on hand-computed cases, and scikit-learn's as the oracle on ties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from segmint.predict.evaluation import average_precision


def test_by_hand():
    # ranked 0.9 (1), 0.5 (0), 0.3 (1), 0.1 (0): precision 1/1 at the first positive, 2/3 at
    # the second; each adds half the recall
    assert average_precision([0, 1, 0, 1], [0.1, 0.9, 0.5, 0.3]) == pytest.approx(
        0.5 * 1 + 0.5 * 2 / 3
    )
    # one score for everybody: one threshold, precision = the positive rate
    assert average_precision([1, 0, 0, 0, 1], [0.3] * 5) == pytest.approx(0.4)
    assert average_precision([1, 1], [0.2, 0.7]) == 1.0
    assert math.isnan(average_precision([0, 0], [0.2, 0.7]))


def test_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        y = rng.integers(0, 2, 40)
        y[0] = 1
        s = rng.integers(0, 6, 40).astype(float)  # many ties
        assert average_precision(y, s) == pytest.approx(average_precision_score(y, s))
