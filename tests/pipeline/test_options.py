"""Options checked before any data is read: dates and clustering methods."""

from __future__ import annotations

from datetime import datetime

import pytest

from segmint.errors import DataValidationError
from segmint.pipeline import check_method, parse_date


def test_dates_from_the_command_line():
    assert parse_date("2011-12-09") == datetime(2011, 12, 9)
    assert parse_date("2011-12-09T10:30") == datetime(2011, 12, 9, 10, 30)
    # a time zone is converted to UTC, then dropped (the workspace's times are naive UTC)
    assert parse_date("2011-12-09T10:30+02:00") == datetime(2011, 12, 9, 8, 30)
    with pytest.raises(DataValidationError, match=r"^--as-of '09/12/2011': expected a date"):
        parse_date("09/12/2011")
    with pytest.raises(DataValidationError, match=r"^--cutoff 'soon': expected a date"):
        parse_date("soon", "--cutoff")


def test_methods():
    assert [check_method(m) for m in ("auto", "kmeans", "minibatch", "gmm")] == [
        "auto",
        "kmeans",
        "minibatch",
        "gmm",
    ]
    with pytest.raises(
        DataValidationError, match="--method 'dbscan': expected one of auto, kmeans"
    ):
        check_method("dbscan")
