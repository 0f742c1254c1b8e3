"""Value and interest eta² on toy data computed by hand."""

import math

import numpy as np
import pytest

from segmint.segment.metrics import interest_eta_squared, value_eta_squared


def test_value_is_eta_squared_of_log1p_net_spend_with_negative_counted_as_zero():
    # log1p(net) = 0, 1, 2, 3: grand mean 1.5, group means 0.5 and 2.5
    # between = 2 * 1 + 2 * 1 = 4; total = 2.25 + 0.25 + 0.25 + 2.25 = 5
    net = [0.0, math.e - 1, math.e**2 - 1, math.e**3 - 1]
    assert value_eta_squared(["a", "a", "b", "b"], net) == pytest.approx(0.8)
    # a net refund (-40) is worth what no purchase is worth: 0
    assert value_eta_squared(["a", "a", "b", "b"], [-40.0, 0.0, 5.0, 5.0]) == 1.0


def test_interest_is_between_over_total_trace_of_the_buyers_share_vectors():
    # shares (0.75, 0.25), (0.25, 0.75), (0.5, 0.5); the fourth customer bought nothing and
    # is left out. Centred: (.25, -.25), (-.25, .25), (0, 0): total trace 4 * .0625 = .25.
    # Group a = first buyer, mean (.25, -.25): 1 * .125; group b = the other two, mean
    # (-.125, .125): 2 * .03125. Between .1875, so eta² = .75.
    spend = [[30.0, 10.0], [1.0, 3.0], [2.0, 2.0], [0.0, 0.0]]
    assert interest_eta_squared(["a", "b", "b", "a"], spend) == pytest.approx(0.75)
    # shares, not amounts: scaling a buyer's spend changes nothing
    scaled = [[3.0, 1.0], [100.0, 300.0], [2.0, 2.0], [0.0, 0.0]]
    assert interest_eta_squared(["a", "b", "b", "a"], scaled) == pytest.approx(0.75)


def test_interest_without_buyers_or_variance_is_none():
    assert interest_eta_squared(["a", "b"], [[1.0, 0.0], [0.0, 0.0]]) is None
    assert interest_eta_squared(["a", "b", "b"], [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]) is None


def test_interest_refuses_negative_spend_and_a_mismatched_shape():
    with pytest.raises(ValueError, match=">= 0"):
        interest_eta_squared(["a", "b"], [[1.0, -1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="must be"):
        interest_eta_squared(["a", "b", "c"], np.ones((2, 2)))
