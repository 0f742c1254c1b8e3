"""The demo: synthetic customers with planted segments through the whole pipeline."""

from __future__ import annotations

import json
import shutil

from sklearn.metrics import adjusted_rand_score

from segmint.datasets import generate, generate_sources, write_sources
from segmint.datasets import write as write_dataset
from segmint.pipeline._ingest import ingest_sources
from segmint.pipeline._outputs import write_report
from segmint.pipeline._progress import Progress, no_progress
from segmint.pipeline._run import ingest_and_segment
from segmint.pipeline._runs import RunResult
from segmint.pipeline._segment import segment
from segmint.store.workspace import Workspace


def demo(
    workspace: Workspace,
    *,
    n_customers: int = 5000,
    seed: int = 0,
    space: str = "useful",
    sources: bool = False,
    progress: Progress = no_progress,
) -> RunResult:
    """Generate synthetic customers with planted segments, then ingest, segment and report.

    With ``sources``, every source is generated and segmented on (web and app events, device
    telemetry, social, conversations, identities: :func:`segmint.datasets.generate_sources`),
    each file stored as ``segmint ingest`` stores it.

    The generated files are kept in ``WORKSPACE/demo-data`` so the same commands can be tried by
    hand; the agreement between found and planted segments is added to the run's metrics.
    The data and the run are stored in one transaction; if the demo fails in a workspace it
    created, the workspace is removed.
    """
    created = not workspace.path.exists()
    try:
        if sources:
            return _demo_sources(workspace, n_customers, seed, space, progress)
        return _demo(workspace, n_customers, seed, space, progress)
    except BaseException:
        if created:  # a failed first demo leaves nothing, not even its generated files
            shutil.rmtree(workspace.path, ignore_errors=True)
        raise


def _demo(
    workspace: Workspace, n_customers: int, seed: int, space: str, progress: Progress
) -> RunResult:
    progress("generate data", 0, 1)
    data = generate(n_customers, seed=seed)
    files = write_dataset(data, workspace.path / "demo-data", fmt="parquet")
    progress("generate data", 1, 1)
    _, result = ingest_and_segment(
        workspace,
        files["transactions"],
        customers=files["customers"],
        as_of=data.as_of,
        random_state=seed,
        space=space,
        write_html=False,
        progress=progress,
    )
    return _planted_and_report(workspace, result, data.labels, progress)


def _demo_sources(
    workspace: Workspace, n_customers: int, seed: int, space: str, progress: Progress
) -> RunResult:
    progress("generate data", 0, 1)
    data = generate_sources(n_customers, seed=seed)
    files = write_sources(data, workspace.path / "demo-data", fmt="parquet")
    progress("generate data", 1, 1)
    ingest_sources(workspace, files, progress)
    result = segment(
        workspace,
        as_of=data.as_of,
        random_state=seed,
        space=space,
        write_html=False,
        progress=progress,
    )
    return _planted_and_report(workspace, result, data.labels, progress)


def _planted_and_report(
    workspace: Workspace, result: RunResult, labels, progress: Progress
) -> RunResult:
    """The run with its agreement with the planted segments (``planted_ari``) and its report."""
    with workspace.connect(read_only=True) as con:
        found = con.execute(
            "SELECT customer_id, segment_id FROM assignments WHERE run_id = ?", [result.run_id]
        ).df()
    planted = labels.to_pandas().merge(found, on="customer_id")
    ari = float(adjusted_rand_score(planted["segment"], planted["segment_id"]))
    result.metrics["planted_ari"] = ari
    with workspace.transaction() as con:
        con.execute(
            "UPDATE runs SET metrics = ? WHERE run_id = ?",
            [json.dumps(result.metrics, default=str), result.run_id],
        )
    progress("report", 0, 1)
    result.report_path = write_report(workspace, run_id=result.run_id)
    progress("report", 1, 1)
    return result
