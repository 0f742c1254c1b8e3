"""Are segments found before a cut-off useful after it? Value and interest against baselines."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from segmint.features.identity import purchases_by_person
from segmint.pipeline._features import K_RANGE, feature_frame
from segmint.pipeline._outcomes import earlier_period, next_period_spend
from segmint.pipeline._predict import clv_ranking
from segmint.pipeline._progress import Progress, no_progress
from segmint.pipeline._segment import SegmentOptions, fit_segmenter
from segmint.segment import eta_squared, rfm_groups_n, rfm_scores
from segmint.segment.baselines import kmeans_rfm, kmeans_rfm_categories, rfm_ladder
from segmint.segment.metrics import interest_eta_squared, value_eta_squared
from segmint.store.runs import save_model
from segmint.store.workspace import Workspace


def _rows(level: str, labels: np.ndarray, features: pd.DataFrame, outcome, seed: int) -> list:
    """The grouping and the three baselines re-fitted with its number of groups, measured."""
    net, bought = outcome
    k = int(pd.Series(labels).nunique())
    rfm = (features["recency_days"], features["frequency"], features["monetary"])
    shares = features[[c for c in features.columns if c.startswith("cat_share_")]]
    groupings = {
        level: labels,
        "RFM ladder": rfm_ladder(*rfm, k),
        "k-means log RFM": kmeans_rfm(*rfm, k, random_state=seed),
        "k-means log RFM + categories": kmeans_rfm_categories(*rfm, shares, k, random_state=seed),
    }
    has_categories = bought.shape[1] > 1
    return [
        {
            "grouping": name,
            "level": level,
            "n_groups": k,
            "value_eta2": value_eta_squared(g, net),
            "interest_eta2": interest_eta_squared(g, bought) if has_categories else None,
        }
        for name, g in groupings.items()
    ]


def evaluate_future_spend(
    workspace: Workspace,
    *,
    cutoff: datetime,
    horizon_days: int = 90,
    n_segments: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    method: str = "kmeans",
    random_state: int = 0,
    space: str = "useful",
    progress: Progress = no_progress,
) -> dict:
    """Are the segments found on data up to ``cutoff`` useful in the period that followed?

    Segments (and micro-segments) customers on the transactions before ``cutoff`` exactly as
    ``segment`` does (the space and k learned on the quarter before the cut-off), then
    measures over ``[cutoff, cutoff + horizon_days)`` (held-out time: nothing after the cut-off
    is used to segment, categories included):

    - value: eta² of log(1 + net spend), net spend below 0 counted as 0
      (:func:`segmint.segment.metrics.value_eta_squared`);
    - interest: multivariate eta² of the buyers' spend shares over categories
      (:func:`segmint.segment.metrics.interest_eta_squared`); None without categories.

    ``groupings`` holds one row per grouping: the segments, then the RFM ladder, k-means on
    log R/F/M and k-means on log R/F/M plus category shares with the same number of groups;
    then the same for the micro-segments. The ``*_eta2`` keys are the earlier comparison with
    the named RFM groups merged to the same number of groups, on raw and log spend.

    The result is stored with the workspace's latest run, if there is one, as the model
    ``"evaluation YYYY-MM-DD +Nd"`` (``stored_with_run`` says which run; None when none).
    """
    options = SegmentOptions(
        n_segments, k_range, method, random_state, micro_segments=True, space=space
    ).check()
    with workspace.connect(read_only=True) as con, purchases_by_person(con) as people:
        progress("features", 0, 3)
        features, as_of, categories = feature_frame(
            con, cutoff, keep_categories=False, identities=people
        )
        net, bought = next_period_spend(con, as_of, horizon_days, features.index, categories)
        progress("features", 1, 3)
        history = earlier_period(con, features, as_of, categories, identities=people)
        progress("features", 2, 3)
        # CLV against past spend on the same period (pipeline._predict.clv_ranking)
        ranking = clv_ranking(con, as_of, horizon_days, random_state)
        progress("features", 3, 3)
    model, learned = fit_segmenter(features, history, options, progress)
    k = int(model.n_segments_)
    outcome = (net, bought)
    progress("baselines", 0, 2)
    groupings = _rows("ML segments", model.labels_, features, outcome, random_state)
    progress("baselines", 1, 2)
    groupings += _rows("micro-segments", model.micro_labels_, features, outcome, random_state)
    progress("baselines", 2, 2)
    rfm_k = rfm_groups_n(features["recency_days"], features["frequency"], features["monetary"], k)
    named = rfm_scores(features["recency_days"], features["frequency"], features["monetary"])
    log_spend = np.log1p(net.clip(lower=0.0))
    result = {
        "cutoff": as_of.isoformat(),
        "horizon_days": horizon_days,
        "n_customers": int(len(features)),
        "n_buyers": int((bought.sum(axis=1) > 0).sum()),
        "n_categories": int(bought.shape[1]),
        "n_groups": k,
        "n_micro_segments": int(pd.Series(model.micro_labels_).nunique()),
        "selection": model.selection_reason_,
        **learned,
        "groupings": groupings,
        "ml_eta2": eta_squared(model.labels_, net),
        "rfm_eta2": eta_squared(rfm_k.to_numpy(), net),
        "rfm_named_groups": int(named["rfm_group"].nunique()),
        "rfm_named_eta2": eta_squared(named["rfm_group"].to_numpy(), net),
        "ml_eta2_log": eta_squared(model.labels_, log_spend),
        "rfm_eta2_log": eta_squared(rfm_k.to_numpy(), log_spend),
        "rfm_named_eta2_log": eta_squared(named["rfm_group"].to_numpy(), log_spend),
        "future_spend_total": float(net.sum()),
        "clv_ranking": ranking,
    }
    with workspace.transaction() as con:
        latest = con.execute("SELECT max(run_id) FROM runs").fetchall()[0][0]
        result["stored_with_run"] = latest
        if latest is not None:
            name = f"evaluation {as_of:%Y-%m-%d} +{horizon_days}d"
            save_model(con, int(latest), name, result)
    return result
