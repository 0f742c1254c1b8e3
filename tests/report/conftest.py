"""Small fake inputs for the report: a run, its segments, assignments and ingest counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

_NAMES = [
    ("Loyal big spenders", "Buy often and spend the most; recent and steady."),
    ("Occasional bargain hunters", "Buy a few times a year, mostly on promotion."),
    ("Drifting away", "Used to buy regularly but have not ordered for months."),
    ("New & curious", "First order in the last 60 days; still exploring categories."),
    ("Gift buyers", "Order around holidays with large baskets."),
    ("Returners", "Return a large share of what they order."),
]
_FEATURES = [
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "return_rate",
    "spend_trend",
]
_RFM_GROUPS = ["Champions", "Loyal", "Potential loyalists", "At risk", "Hibernating", "Lost"]


def make_inputs(n_customers: int = 300, n_segments: int = 3, seed: int = 0) -> dict[str, Any]:
    """Keyword arguments for ``build_summary`` with ``n_customers`` random customers."""
    rng = np.random.default_rng(seed)
    seg_of = rng.integers(0, n_segments, size=n_customers)
    centres = rng.normal(0, 4, size=(n_segments, 2))
    xy = centres[seg_of] + rng.normal(0, 1, size=(n_customers, 2))
    monetary = rng.gamma(2.0, 50.0, size=n_customers) * (1 + seg_of)
    assignments = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n_customers)],
            "segment_id": seg_of,
            "micro_segment_id": seg_of * 10 + rng.integers(0, 3, size=n_customers),
            "confidence": rng.uniform(0.5, 1.0, size=n_customers),
            "r_score": rng.integers(1, 6, size=n_customers),
            "f_score": rng.integers(1, 6, size=n_customers),
            "m_score": rng.integers(1, 6, size=n_customers),
            "rfm_group": rng.choice(_RFM_GROUPS, size=n_customers),
            "monetary": monetary,
            "map_x": xy[:, 0],
            "map_y": xy[:, 1],
        }
    )
    total_money = monetary.sum()
    pop = {f: float(rng.uniform(1, 100)) for f in _FEATURES}
    pop["spend_trend"] = 0.0
    rows = []
    for k in range(n_segments):
        name, description = _NAMES[k % len(_NAMES)]
        mask = seg_of == k
        profile = {f: pop[f] * float(rng.uniform(0.3, 3.0)) for f in _FEATURES}
        profile["spend_trend"] = float(rng.normal(0, 0.3))
        top = [
            {
                "feature": f,
                "lift": profile[f] / pop[f],
                "segment_mean": profile[f],
                "population_mean": pop[f],
            }
            for f in _FEATURES[:3]
        ]
        rows.append(
            {
                "segment_id": k,
                "name": name,
                "description": description,
                "rule": f"frequency >= {k + 2} AND recency_days <= {30 * (k + 1)}",
                "rule_fidelity": min(0.7 + 0.06 * k, 1.0),
                "size": int(mask.sum()),
                "share": float(mask.mean()),
                "value_share": float(monetary[mask].sum() / total_money),
                "top_features": top,
                "profile": profile,
            }
        )
    selection = [
        {
            "k": k,
            "silhouette": 0.2 + 0.05 * (k == n_segments),
            "bic": 1000.0 - 10 * k,
            "stability": 0.7 + 0.02 * k,
            "chosen": k == n_segments,
        }
        for k in range(2, 9)
    ]
    run = {
        "run_id": 7,
        "created_at": "2024-05-01T12:00:00+00:00",
        "params": {"method": "kmeans", "random_state": 0, "k_range": [2, 8]},
        "metrics": {
            "n_customers": n_customers,
            "n_segments": n_segments,
            "method": "kmeans",
            "silhouette": 0.41,
            "stability_ari": 0.87,
            "selection": selection,
            "rfm_eta2": 0.38,
            "ml_eta2": 0.64,
        },
        "data_fingerprint": "sha256:0123abcd",
        "as_of": "2024-04-30",
    }
    ingest = [
        {
            "source": "orders.csv",
            "rows_read": 10_000,
            "rows_loaded": 9_940,
            "rejected": {"missing customer_id": 45, "unparseable date": 15},
        },
        {
            "source": "customers.parquet",
            "rows_read": n_customers,
            "rows_loaded": n_customers,
            "rejected": {},
        },
    ]
    labels = {
        "recency_days": "days since last order",
        "frequency": "number of orders",
        "monetary": "net spend",
        "avg_order_value": "average order value",
        "return_rate": "share of spend returned",
    }
    return {
        "run": run,
        "segments": pd.DataFrame(rows),
        "assignments": assignments,
        "ingest": ingest,
        "feature_labels": labels,
    }


@pytest.fixture
def inputs() -> dict[str, Any]:
    return make_inputs()


@pytest.fixture
def make() -> Callable[..., dict[str, Any]]:
    return make_inputs
