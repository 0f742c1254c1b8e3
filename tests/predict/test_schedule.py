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
        "n_train_cutoffs": 3,
        "step_days": 30,
        "reduced_validation": False,
    }


def test_short_history_gets_a_reduced_schedule_said_so():
    # first transaction 03-10: two months of history (05-09) leave no cut-off at or before
    # 05-05; the reduced schedule takes one month (04-09) and two weeks apart: 04-21, 05-05
    s = training_cutoffs(AS_OF, 120, datetime(2024, 3, 10))
    assert s.reduced
    assert s.train == [datetime(2024, 4, 21), datetime(2024, 5, 5)]
    assert s.test == datetime(2024, 9, 2)
    assert s.to_dict()["n_train_cutoffs"] == 2
    assert s.to_dict()["reduced_validation"] is True
    # one cut-off is still a schedule (the churn model calibrates on a random quarter then)
    one = training_cutoffs(AS_OF, 120, datetime(2024, 3, 25))
    assert one.train == [datetime(2024, 5, 5)] and one.calibration_overlap_days == 0


def test_too_short_history_is_a_clear_error_naming_the_horizon_that_works():
    # first 06-01: 213 days to 12-31; one month of history and two horizons: (213 - 30) // 2
    with pytest.raises(DataValidationError, match="too short .* 120-day model.*--horizon-days 91"):
        training_cutoffs(AS_OF, 120, datetime(2024, 6, 1))
    s = training_cutoffs(AS_OF, 91, datetime(2024, 6, 1))
    assert s.train == [datetime(2024, 7, 2)]  # 06-01 + 30 days = 07-01 <= 07-02
    with pytest.raises(DataValidationError, match="at least 44 days of data"):
        training_cutoffs(AS_OF, 30, datetime(2024, 12, 20))
    with pytest.raises(DataValidationError, match="horizon_days must be > 0"):
        training_cutoffs(AS_OF, 0, datetime(2020, 1, 1))
