"""How useful a number of segments was: the issue's bar, measured on an earlier period.

For each k, segments found (k-means) in the segment space at an earlier cut-off are measured
on the period that followed it against the two RFM baselines with the same k
(:mod:`segmint.segment.baselines`): the score is the smaller of the value eta² over 95% of the
better baseline's and the interest eta² over twice the better baseline's, so a score of 1 or
more means both bars were met (value only when there are no categories). A k whose smallest
segment holds under ``MIN_SEGMENT_SHARE`` of the customers scores 0: too small to act on.

Each k is scored as the worst of several k-means fits from different random starts. With few
segments, whether one of them captures a taste is a matter of the start: on Online Retail,
five starts at k = 3 to 5 gave interest 0.7x to 12x the RFM baselines' at one cut-off, so a k
that met the bar once was then as likely to miss it on the next quarter (k = 3 chosen at
2011-05-01 carried 0.9x). A k is useful when it is useful whatever the start.

Where interest is measured (the outcome has categories), fewer than ``MIN_INTEREST_SEGMENTS``
are not scored, so they are chosen only when the range holds nothing larger: the value signal
takes about three tiers of its own, and a taste needs a segment beside them. Measured at twenty
Online Retail cut-offs (2011-03-15 to 2011-11-01) under seeds 0 to 2, a script over the fit
and ``segmint evaluate``'s baselines on the next quarter: with k from 3 allowed, segments met
both bars at 18, 16 and 17 of 20 (four segments, chosen at 7 of the 60, met them at 3); with
this floor, at 20, 20 and 17. The earlier period's score of a small k is optimistic about
interest: the expected next mix in the space was learned on that period.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from segmint.segment.baselines import kmeans_rfm, rfm_ladder
from segmint.segment.metrics import interest_eta_squared, value_eta_squared
from segmint.segment.selection import SEED_MAX

__all__ = [
    "INTEREST_BAR",
    "MIN_INTEREST_SEGMENTS",
    "MIN_SEGMENT_SHARE",
    "VALUE_BAR",
    "usefulness_by_k",
]

#: segments keep at least this share of the better RFM baseline's value eta²
VALUE_BAR = 0.95
#: and carry at least this multiple of the better RFM baseline's interest eta²
INTEREST_BAR = 2.0
#: a segment smaller than this share of the customers is a micro-segment, not a segment
MIN_SEGMENT_SHARE = 0.01
#: the fewest segments scored where they must carry interest as well as value
MIN_INTEREST_SEGMENTS = 5


def usefulness_by_k(
    space: np.ndarray,
    rfm: tuple[Any, Any, Any],
    next_spend: Any,
    next_categories: Any,
    k_range: tuple[int, int],
    *,
    sample: int = 20_000,
    n_draws: int = 5,
    random_state: int = 0,
    memo: dict | None = None,
) -> dict[int, float]:
    """Usefulness score per k in ``k_range`` (see the module docstring).

    Parameters
    ----------
    space : ndarray of shape (n_customers, n_dims)
        The customers at the earlier cut-off in the segment space.
    rfm : (recency_days, frequency, monetary)
        Their RFM features at that cut-off (for the baselines).
    next_spend : array-like
        Net spend in the period after the cut-off.
    next_categories : array-like of shape (n_customers, n_categories)
        Purchase spend per category in that period (one column or none: value only).
    k_range : (int, int)
        The k tried; where interest is measured, from ``MIN_INTEREST_SEGMENTS`` when the range
        reaches it (the others are not scored).
    sample : int
        Customers measured (a random subset above it).
    n_draws : int
        k-means fits per k, each from its own random start; the score is the worst of them.
    random_state : int
    memo : dict, optional
        The baselines' measures by k, filled as they are computed. Pass one dict to the calls
        that score several spaces on the same customers, outcomes and arguments: each
        baseline's k-means is then fitted once, not once per space (scores unchanged).
    """
    rng = np.random.RandomState(random_state)
    n = space.shape[0]
    idx = np.sort(rng.choice(n, sample, replace=False)) if n > sample else np.arange(n)
    space = space[idx]
    r, f, m = (np.asarray(v, dtype=float)[idx] for v in rfm)
    spend = np.asarray(next_spend, dtype=float)[idx]
    bought = np.asarray(next_categories, dtype=float).reshape(n, -1)[idx]
    interest = bought.shape[1] > 1 and (bought.sum(axis=1) > 0).sum() > 1
    memo = {} if memo is None else memo
    scores = {}
    lo, hi = k_range
    if interest and hi >= MIN_INTEREST_SEGMENTS:
        lo = max(lo, MIN_INTEREST_SEGMENTS)
    with threadpool_limits(limits=1):
        for k in range(lo, min(hi, len(idx) - 1) + 1):
            draws = []
            for _ in range(n_draws):
                seed = int(rng.randint(SEED_MAX))
                ours = KMeans(k, n_init=1, random_state=seed).fit_predict(space)
                if np.bincount(ours, minlength=k).min() < MIN_SEGMENT_SHARE * len(idx):
                    draws.append(0.0)
                    break
                if k not in memo:
                    # one baseline per k, as `evaluate` measures against one: fitted with
                    # each draw's seed it moved with the draw (the groups of two seeds agree
                    # at ARI 0.45-1.0), and took 30 fits, 5 s of a run on 1M customers
                    baselines = (
                        rfm_ladder(r, f, m, k),
                        kmeans_rfm(r, f, m, k, random_state=random_state),
                    )
                    memo[k] = _best(baselines, spend, bought if interest else None)
                draws.append(_score(ours, memo[k], spend, bought if interest else None))
            scores[k] = float(min(draws))
    return scores


def _best(baselines: tuple, spend: np.ndarray, bought: Any) -> tuple[float, float]:
    """The better baseline's value eta² and the better baseline's interest eta²."""
    value = max(value_eta_squared(b, spend) for b in baselines)
    if bought is None:
        return value, 0.0
    return value, max(interest_eta_squared(b, bought) or 0.0 for b in baselines)


def _score(ours: np.ndarray, best: tuple[float, float], spend: np.ndarray, bought: Any) -> float:
    value = value_eta_squared(ours, spend) / max(VALUE_BAR * best[0], 1e-12)
    if bought is None:
        return value
    mine = interest_eta_squared(ours, bought) or 0.0
    return min(value, mine / max(INTEREST_BAR * best[1], 1e-12))
