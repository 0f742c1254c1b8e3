"""The cut-off schedule of the supervised models, on hand-computed dates."""

from __future__ import annotations

from datetime import datetime

import pytest

from segmint.errors import DataValidationError
from segmint.predict.schedule import training_cutoffs

AS_OF = datetime(2024, 12, 31)


def test_test_cutoff_is_one_horizon_before_as_of_and_training_one_more():
    s = training_cutoffs(AS_OF, 30, datetime(2024, 1, 1))
    assert s.test == datetime(2024, 12, 1)  # 30 days before 12-31
    assert s.calibration == datetime(2024, 11, 1)  # 30 days before the test cut-off
    # six cut-offs a month apart, oldest first: 11-01 minus 0, 30, ..., 150 days
    assert s.train == [
        datetime(2024, 6, 4),
        datetime(2024, 7, 4),
        datetime(2024, 8, 3),
        datetime(2024, 9, 2),
        datetime(2024, 10, 2),
        datetime(2024, 11, 1),
    ]
    assert s.cutoffs == [*s.train, s.test, AS_OF]
    assert s.calibration_overlap_days == 0  # horizon = step: windows touch, never overlap


def test_history_limits_the_cutoffs_and_the_overlap_is_stated():
    # 120-day horizon: test 09-02, calibration 05-05; the first transaction on 01-01 plus 60
    # days of history (03-01) leaves 05-05, 04-05 and 03-06
    s = training_cutoffs(AS_OF, 120, datetime(2024, 1, 1))
    assert s.test == datetime(2024, 9, 2)
    assert s.train == [datetime(2024, 3, 6), datetime(2024, 4, 5), datetime(2024, 5, 5)]
    # the trees' latest labels (04-05 + 120 days = 08-03) cover 90 days of the calibration
    # window (05-05 to 09-02); the test window starts where calibration labels end
    assert s.calibration_overlap_days == 90
    assert s.to_dict() == {
        "train_cutoffs": ["2024-03-06", "2024-04-05", "2024-05-05"],
        "calibration_cutoff": "2024-05-05",
        "test_cutoff": "2024-09-02",
        "horizon_days": 120,
        "calibration_overlap_days": 90,
    }


def test_too_short_history_is_a_clear_error():
    with pytest.raises(DataValidationError, match="too short .* 120-day model"):
        training_cutoffs(AS_OF, 120, datetime(2024, 3, 10))
    with pytest.raises(DataValidationError, match="horizon_days must be > 0"):
        training_cutoffs(AS_OF, 0, datetime(2020, 1, 1))
