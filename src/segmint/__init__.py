"""segmint: customer segmentation from raw transactions to named, explained segments.

From Python, the batch pipeline is::

    import segmint

    ws = segmint.Workspace("my-workspace")
    segmint.ingest(ws, "orders.csv", preset="online-retail")
    run = segmint.run(ws)                     # features, segments, names, rules, report
    run.segments[["name", "size", "value_share", "rule"]]

and the estimators work on any feature table (pandas, Polars or Arrow)::

    seg = segmint.Segmenter(random_state=0).fit(features)
    seg.labels_, seg.n_segments_, seg.selection_

Names are imported on first use, so ``import segmint`` stays fast and has no side effects.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute); ``run`` is ``pipeline.segment`` because the name
# ``segment`` belongs to the subpackage
_EXPORTS: dict[str, str | tuple[str, str]] = {
    "Workspace": "segmint.store.workspace",
    "ingest": "segmint.pipeline",
    "run": ("segmint.pipeline", "segment"),
    "segment_customers": "segmint.pipeline",
    "demo": "segmint.pipeline",
    "write_report": "segmint.pipeline",
    "export": "segmint.pipeline",
    "list_runs": "segmint.pipeline",
    "load_run": "segmint.pipeline",
    "compare_runs": "segmint.pipeline",
    "evaluate_future_spend": "segmint.pipeline",
    "RunResult": "segmint.pipeline",
    "build_features": "segmint.features",
    "Segmenter": "segmint.segment",
    "FeatureScaler": "segmint.segment",
    "describe_segments": "segmint.segment",
    "rfm_scores": "segmint.segment",
    "generate": "segmint.datasets",
    "SegmintError": "segmint.errors",
    "DataValidationError": "segmint.errors",
    "WorkspaceError": "segmint.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attribute = (
            _EXPORTS[name] if isinstance(_EXPORTS[name], tuple) else (_EXPORTS[name], name)
        )
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'segmint' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
