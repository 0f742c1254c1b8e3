"""Segment: the segmenter on the features, descriptions, and the stored run with its report."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.decomposition import PCA

from segmint.errors import DataValidationError
from segmint.pipeline._features import K_RANGE, clustering_columns, compute_features, feature_labels
from segmint.pipeline._outputs import write_report
from segmint.pipeline._progress import Progress, no_progress
from segmint.pipeline._runs import RunResult
from segmint.segment import Segmenter, describe_segments, rfm_scores, segmenter_to_dict
from segmint.store.runs import create_run, data_fingerprint, save_model, save_results
from segmint.store.workspace import Workspace


def _map_coordinates(Z: np.ndarray, random_state: int) -> np.ndarray:
    # a linear 2-D projection: fast on a million customers and faithful to cluster separation
    return PCA(n_components=2, random_state=random_state).fit_transform(Z).astype("float32")


def segment(
    workspace: Workspace,
    *,
    as_of: datetime | None = None,
    n_segments: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    method: str = "kmeans",
    random_state: int = 0,
    micro_segments: bool = True,
    report_path: str | Path | None = None,
    write_html: bool = True,
    progress: Progress = no_progress,
) -> RunResult:
    """Compute features, find segments, name and explain them, store the run and its report."""
    with workspace.connect() as con:
        progress("features", 0, 1)
        features, as_of = compute_features(con, as_of)
        progress("features", 1, 1)
        fingerprint = data_fingerprint(con)
    if len(features) < 10:
        raise DataValidationError(
            f"only {len(features)} customers have purchases before {as_of:%Y-%m-%d}; "
            "segmentation needs at least 10"
        )
    columns = clustering_columns(list(features.columns))
    model = Segmenter(
        method=method,
        n_segments=n_segments,
        k_range=k_range,
        micro_segments=micro_segments,
        random_state=random_state,
        callback=progress,
    ).fit(features[columns])
    labels = model.labels_
    progress("explain", 0, 2)
    descriptions = describe_segments(
        features,
        labels,
        value="monetary",
        labels_map=feature_labels(features.columns),
        random_state=random_state,
    )
    segments = pd.DataFrame([d.to_dict() for d in descriptions])
    rfm = rfm_scores(features["recency_days"], features["frequency"], features["monetary"])
    progress("explain", 1, 2)
    coords = _map_coordinates(model.transform(features[columns]), random_state)
    assignments = pd.DataFrame(
        {
            "customer_id": features.index.astype(str),
            "segment_id": labels.astype("int32"),
            "micro_segment_id": model.micro_labels_.astype(str),
            "confidence": model.confidence(features[columns]),
            "r_score": rfm["r_score"].to_numpy(),
            "f_score": rfm["f_score"].to_numpy(),
            "m_score": rfm["m_score"].to_numpy(),
            "rfm_group": rfm["rfm_group"].to_numpy(),
            "map_x": coords[:, 0],
            "map_y": coords[:, 1],
        }
    )
    progress("explain", 2, 2)
    chosen = model.selection_.loc[model.selection_["chosen"]].iloc[0]
    params = {
        "method": method,
        "n_segments": n_segments,
        "k_range": list(k_range),
        "random_state": random_state,
        "micro_segments": micro_segments,
        "features": columns,
    }
    metrics = {
        "n_customers": int(len(features)),
        "n_segments": int(model.n_segments_),
        "method": model.method_,
        "selection_criterion": model.selection_reason_,
        "silhouette": float(chosen["silhouette"]),
        "stability_ari": float(model.stability_),
        "selection": json.loads(model.selection_.to_json(orient="records")),
        "rfm_groups": int(rfm["rfm_group"].nunique()),
    }
    progress("store", 0, 1)
    with workspace.transaction() as con:
        run_id = create_run(
            con,
            kind="segmentation",
            as_of=as_of,
            params=params,
            metrics=metrics,
            fingerprint=fingerprint,
        )
        save_results(
            con,
            run_id,
            segments=segments,
            assignments=assignments,
            features=pa.Table.from_pandas(features.reset_index(), preserve_index=False),
        )
        # the fitted model as JSON: the service assigns live customers with exactly this model
        save_model(con, run_id, "segmenter", segmenter_to_dict(model))
    progress("store", 1, 1)
    result = RunResult(run_id, as_of, int(len(features)), metrics, params, segments)
    if write_html:
        progress("report", 0, 1)
        result.report_path = write_report(workspace, run_id=run_id, path=report_path)
        progress("report", 1, 1)
    return result
