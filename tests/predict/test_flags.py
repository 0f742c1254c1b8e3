"""The one definition of "high value" and "at risk", on hand-computed toy segments and customers."""

from __future__ import annotations

import numpy as np

from segmint.predict.flags import customer_flags, segment_flags


def test_segment_flags_by_hand():
    # weighted means: CLV (2*100 + 400 + 100) / 4 = 175, risk (2*0.2 + 0.6 + 0.5) / 4 = 0.375;
    # high value from 1.5 * 175 = 262.5: only the second segment, whose risk is above 0.375
    flags, mean_clv, mean_risk = segment_flags([100, 400, 100], [0.2, 0.6, 0.5], [2, 1, 1])
    assert flags.tolist() == ["", "high value at risk", ""]
    assert (mean_clv, mean_risk) == (175.0, 0.375)
    flags, _, _ = segment_flags([100, 400, 100], [0.2, 0.3, 0.5], [2, 1, 1])
    assert flags.tolist() == ["", "high value", ""]


def test_customer_flags_by_hand():
    # ten customers: the 80th percentile of 1..10 is 8.2, so 9 and 10 are high value
    high, risky = customer_flags(np.arange(1, 11), [0.5, 0.49, *[0.1] * 7, np.nan])
    assert np.flatnonzero(high).tolist() == [8, 9]
    assert np.flatnonzero(risky).tolist() == [0]
