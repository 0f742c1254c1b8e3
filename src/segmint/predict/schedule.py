"""Which past cut-offs the supervised models learn from, and which one tests them.

A model scored on ``as_of`` is judged on held-out time: it is refitted as it would have been
one horizon earlier and scored on the customers as of ``test = as_of - horizon``, whose labels
(purchases in ``[test, as_of)``) are the latest fully observed ones. Its training cut-offs end
one horizon before ``test``, so no training label looks into the test window::

    ... train[-3]  train[-2]  train[-1] = calibration      test           as_of
          |<- step ->|<- step ->|<------- horizon ------->|<-- horizon -->|

Within the training cut-offs the latest one calibrates the trees' probabilities and the
earlier ones fit the trees (see :mod:`segmint.predict.churn`). The cut-offs are
``step_days`` apart; when the horizon is longer than the step, the trees' label windows reach
into the calibration cut-off's window by ``horizon - step`` days
(:attr:`CutoffSchedule.calibration_overlap_days`): calibration then sees later customers'
states than the trees, but partly the same weeks of outcomes. Separating them fully would need
three horizons of data after the first training cut-off, which a year of data with a 120-day
horizon does not have. The test window overlaps no training or calibration label.

Short histories get a weaker validation rather than none: where fewer than two cut-offs a
month apart with two months of history fit, the cut-offs are two weeks apart with one month of
history, and a single one is accepted (the churn model then calibrates on a random quarter of
its rows). :attr:`CutoffSchedule.reduced` says so, and the error where even that does not fit
names the longest horizon that would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from segmint.errors import DataValidationError

__all__ = ["CutoffSchedule", "longest_horizon", "training_cutoffs"]

#: training cut-offs are a month apart, each needs two months of history before it, and six
#: of them are enough (more add fitting time, not accuracy)
CUTOFF_STEP_DAYS = 30
MIN_HISTORY_DAYS = 60
MAX_TRAINING_CUTOFFS = 6
#: the reduced schedule of short histories (six months of Online Retail, a 60-day horizon:
#: three cut-offs, 01-04, 01-18 and 02-01)
SHORT_STEP_DAYS = 14
SHORT_MIN_HISTORY_DAYS = 30


@dataclass(frozen=True)
class CutoffSchedule:
    """The cut-offs of one prediction run.

    Attributes
    ----------
    train : list of datetime
        Training cut-offs of the held-out models, oldest first; the last one calibrates.
    test : datetime
        The held-out cut-off: ``as_of - horizon_days``.
    as_of : datetime
        The scoring date: customers are scored as of it (no labels yet).
    horizon_days : int
        Label window length.
    step_days : int
        Spacing of the training cut-offs.
    reduced : bool
        Whether the history was too short for the default schedule, so the cut-offs are
        closer together, with less history each, and perhaps only one.
    """

    train: list[datetime]
    test: datetime
    as_of: datetime
    horizon_days: int
    step_days: int = CUTOFF_STEP_DAYS
    reduced: bool = False

    @property
    def calibration(self) -> datetime:
        """The training cut-off whose rows calibrate the held-out models."""
        return self.train[-1]

    @property
    def cutoffs(self) -> list[datetime]:
        """Every cut-off a training frame needs: training, test, then ``as_of``."""
        return [*self.train, self.test, self.as_of]

    @property
    def calibration_overlap_days(self) -> int:
        """Days of the calibration label window that the trees' latest labels also cover."""
        if len(self.train) < 2:
            return 0
        gap = (self.train[-1] - self.train[-2]).days
        return max(0, self.horizon_days - gap)

    def to_dict(self) -> dict:
        """JSON-ready: ISO dates and the overlap, as stored with a run's evaluation."""
        return {
            "train_cutoffs": [c.date().isoformat() for c in self.train],
            "calibration_cutoff": self.calibration.date().isoformat(),
            "test_cutoff": self.test.date().isoformat(),
            "horizon_days": self.horizon_days,
            "calibration_overlap_days": self.calibration_overlap_days,
            "n_train_cutoffs": len(self.train),
            "step_days": self.step_days,
            "reduced_validation": self.reduced,
        }


def training_cutoffs(
    as_of: datetime,
    horizon_days: int,
    first_ts: datetime,
    *,
    step_days: int = CUTOFF_STEP_DAYS,
    min_history_days: int = MIN_HISTORY_DAYS,
    max_cutoffs: int = MAX_TRAINING_CUTOFFS,
) -> CutoffSchedule:
    """The training and test cut-offs for scoring on ``as_of``, all with observed labels.

    Parameters
    ----------
    as_of : datetime
        Scoring date; the data is used up to it.
    horizon_days : int
        Label window length in days.
    first_ts : datetime
        The first transaction's time.
    step_days, min_history_days, max_cutoffs : int
        Spacing of the training cut-offs, the history each needs, and how many at most.

    Returns
    -------
    CutoffSchedule

    Raises
    ------
    DataValidationError
        When not even one training cut-off of the reduced schedule fits; the message names
        the longest horizon that would.

    Examples
    --------
    >>> s = training_cutoffs(datetime(2024, 12, 31), 30, datetime(2024, 1, 1))
    >>> [c.date().isoformat() for c in s.train][-2:], s.test.date().isoformat()
    (['2024-10-02', '2024-11-01'], '2024-12-01')
    """
    if horizon_days <= 0:
        raise DataValidationError(f"horizon_days must be > 0, got {horizon_days}")
    test = as_of - timedelta(days=int(horizon_days))
    last = test - timedelta(days=int(horizon_days))
    cuts = _cutoffs(last, first_ts, step_days, min_history_days, max_cutoffs)
    if len(cuts) >= 2:  # one to fit the trees, one to calibrate them
        return CutoffSchedule(cuts, test, as_of, int(horizon_days), step_days)
    step, history = min(step_days, SHORT_STEP_DAYS), min(min_history_days, SHORT_MIN_HISTORY_DAYS)
    cuts = _cutoffs(last, first_ts, step, history, max_cutoffs)
    if cuts:
        return CutoffSchedule(cuts, test, as_of, int(horizon_days), step, reduced=True)
    longest = longest_horizon(as_of, first_ts)
    hint = (
        f"pass --horizon-days {longest} or shorter"
        if longest >= 7
        else f"it needs at least {history + 14} days of data"
    )
    raise DataValidationError(
        f"the data ({first_ts:%Y-%m-%d} to {as_of:%Y-%m-%d}) is too short to train and test "
        f"a {horizon_days}-day model on held-out time; {hint}"
    )


def longest_horizon(as_of: datetime, first_ts: datetime) -> int:
    """The longest horizon (days) that :func:`training_cutoffs` can schedule: one training
    cut-off with the reduced schedule's history, then two horizons (its labels, the test's)."""
    return (as_of - first_ts - timedelta(days=SHORT_MIN_HISTORY_DAYS)).days // 2


def _cutoffs(last: datetime, first_ts: datetime, step: int, history: int, n: int) -> list:
    """Up to ``n`` cut-offs ``step`` days apart ending at ``last``, each ``history`` days or
    more after the first transaction, oldest first."""
    earliest = first_ts + timedelta(days=history)
    return sorted(c for k in range(n) if (c := last - timedelta(days=step * k)) >= earliest)
