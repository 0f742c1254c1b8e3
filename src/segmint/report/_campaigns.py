"""The report's campaigns section: each campaign's groups and its latest measured lift."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ._values import _num


def campaigns_section(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    """One entry per campaign (None without campaigns): name, segment, treated and holdout
    sizes, start, and where measured the days, whether the window was complete, and per
    outcome (conversion, revenue, retention) treated, holdout, lift, interval, p-value."""
    if frame is None or frame.empty:
        return None
    out = []
    for row in frame.to_dict("records"):
        metrics = json.loads(row["metrics"]) if isinstance(row.get("metrics"), str) else None
        outcomes = []
        for key in ("conversion", "revenue", "retention") if metrics else ():
            m = metrics[key]
            outcomes.append(
                {
                    "outcome": key,
                    "rate": key != "revenue",
                    **{k: _num(m.get(k)) for k in ("treated", "holdout", "lift", "lower", "upper")},
                    "p_value": _num(m.get("p_value")),
                    "significant": bool(m.get("significant")),
                }
            )
        out.append(
            {
                "name": str(row["name"]),
                "segment": str(row["segment"]),
                "treated": int(row["treated"]),
                "holdout": int(row["holdout"]),
                "starts_at": str(row["starts_at"]),
                "days": None if metrics is None else int(row["days"]),
                "complete": None if metrics is None else bool(row["complete"]),
                "outcomes": outcomes,
                "per_arm_needed": None if metrics is None else metrics["power"]["per_arm_needed"],
                "effect": None if metrics is None else metrics["power"]["effect"],
            }
        )
    return out
