"""Stored runs: the result of a run, load one, list them, compare two."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from segmint.consent.policy import load_policy
from segmint.errors import WorkspaceError
from segmint.predict.flags import segment_flags
from segmint.store.runs import compare_runs as store_compare_runs
from segmint.store.runs import get_run, load_segments
from segmint.store.runs import list_runs as store_list_runs
from segmint.store.runs import load_micro_segments as store_load_micro_segments
from segmint.store.workspace import Workspace


@dataclass
class RunResult:
    """A stored segmentation run, as the CLI and API show it."""

    run_id: int
    as_of: datetime
    n_customers: int
    metrics: dict
    params: dict
    segments: pd.DataFrame
    report_path: Path | None = None

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "n_customers": self.n_customers,
            "params": self.params,
            "metrics": self.metrics,
            "segments": json.loads(self.segments.to_json(orient="records")),
            "report": str(self.report_path) if self.report_path else None,
        }


def flag_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """Add each segment's ``value_flag`` (see :func:`segmint.predict.flags.segment_flags`)."""
    if "clv" not in segments.columns:
        return segments
    flags, _, _ = segment_flags(segments["clv"], segments["churn_risk"], segments["size"])
    return segments.assign(value_flag=flags)


def load_run(workspace: Workspace, run_id: int | None = None) -> RunResult:
    """A stored run with its segments (and their value flags once predictions exist)."""
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        segments = flag_segments(load_segments(con, run["run_id"]))
    return RunResult(
        run["run_id"],
        datetime.fromisoformat(run["as_of"]),
        run["metrics"]["n_customers"],
        run["metrics"],
        run["params"],
        segments,
    )


def list_runs(workspace: Workspace) -> list[dict]:
    """Every run in the workspace, oldest first."""
    with workspace.connect(read_only=True) as con:
        return store_list_runs(con)


def compare_runs(workspace: Workspace, run_a: int, run_b: int) -> pd.DataFrame:
    """Customers moving between segments from run A to run B (see ``store.runs.compare_runs``)."""
    with workspace.connect(read_only=True) as con:
        return store_compare_runs(con, run_a, run_b)


def load_micro_segments(
    workspace: Workspace, run_id: int | None = None, segment_id: int | None = None
) -> tuple[RunResult, pd.DataFrame]:
    """A stored run and its micro-segments, of one segment or all, by segment and descending
    size (see :func:`segmint.store.runs.load_micro_segments`), without those under the
    minimum audience size (their number in ``attrs["withheld"]``)."""
    result = load_run(workspace, run_id)
    known = [int(s) for s in result.segments["segment_id"]]
    if segment_id is not None and segment_id not in known:
        raise WorkspaceError(f"no segment {segment_id} in run {result.run_id}; segments: {known}")
    with workspace.connect(read_only=True) as con:
        micro = store_load_micro_segments(con, result.run_id, segment_id)
        smallest = load_policy(con).min_audience
    # a group under the minimum audience could single people out: counted, not described
    small = micro["size"] < smallest
    micro = micro[~small].reset_index(drop=True)
    micro.attrs["withheld"] = {"groups": int(small.sum()), "min_audience": smallest}
    return result, micro
