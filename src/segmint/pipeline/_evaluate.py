"""Do segments found before a cut-off explain the spend after it (against RFM baselines)?"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from segmint.pipeline._features import K_RANGE, clustering_columns, feature_frame
from segmint.segment import Segmenter, eta_squared, rfm_groups_n, rfm_scores
from segmint.store.workspace import Workspace


def evaluate_future_spend(
    workspace: Workspace,
    *,
    cutoff: datetime,
    horizon_days: int = 90,
    n_segments: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    method: str = "kmeans",
    random_state: int = 0,
) -> dict:
    """Do the segments found on data up to ``cutoff`` explain the spend that followed?

    Segments customers on the transactions before ``cutoff``, then measures how much of each
    customer's net spend in ``[cutoff, cutoff + horizon_days)`` the segments explain (eta²),
    against the classic RFM groups merged to the same number of groups, and the full set of
    named RFM groups for reference. Held-out time: nothing after the cut-off is used to segment.
    A few very large buyers dominate raw spend, so eta² is also given on ``log1p`` of the
    spend (clipped at 0 first, as returns can make it negative).
    """
    with workspace.connect(read_only=True) as con:
        features, as_of, _ = feature_frame(con, cutoff, keep_categories=False)
        future = con.execute(
            """SELECT customer_id, sum(amount) AS spend FROM transactions
               WHERE ts >= ? AND ts < ? + to_days(CAST(? AS INTEGER))
               GROUP BY customer_id""",
            [as_of, as_of, horizon_days],
        ).df()
    spend = future.set_index("customer_id")["spend"].reindex(features.index).fillna(0.0)
    columns = clustering_columns(list(features.columns))
    model = Segmenter(
        method=method, n_segments=n_segments, k_range=k_range, random_state=random_state
    ).fit(features[columns])
    k = int(model.n_segments_)
    rfm_k = rfm_groups_n(features["recency_days"], features["frequency"], features["monetary"], k)
    named = rfm_scores(features["recency_days"], features["frequency"], features["monetary"])
    log_spend = np.log1p(spend.clip(lower=0.0))
    return {
        "cutoff": as_of.isoformat(),
        "horizon_days": horizon_days,
        "n_customers": int(len(features)),
        "n_groups": k,
        "ml_eta2": eta_squared(model.labels_, spend),
        "rfm_eta2": eta_squared(rfm_k.to_numpy(), spend),
        "rfm_named_groups": int(named["rfm_group"].nunique()),
        "rfm_named_eta2": eta_squared(named["rfm_group"].to_numpy(), spend),
        "ml_eta2_log": eta_squared(model.labels_, log_spend),
        "rfm_eta2_log": eta_squared(rfm_k.to_numpy(), log_spend),
        "rfm_named_eta2_log": eta_squared(named["rfm_group"].to_numpy(), log_spend),
        "future_spend_total": float(spend.sum()),
    }
