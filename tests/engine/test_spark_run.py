"""``run --engine spark``: the DuckDB run's segments, computed in Spark, and its outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from sklearn.metrics import adjusted_rand_score

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.engine import read_tables
from segmint.errors import DataValidationError
from segmint.features import feature_query
from segmint.pipeline._scale_out import _assignments
from segmint.pipeline._segment import SegmentOptions, fit_segments, read_features
from segmint.store.runs import load_assignments
from segmint.store.workspace import Workspace

N = 2000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The generator's data as Parquet, and a DuckDB run on it."""
    root = tmp_path_factory.mktemp("spark-run")
    paths = write(generate(N, seed=11), root / "data")
    workspace = Workspace(root / "duck")
    _, run = pipeline.ingest_and_segment(
        workspace, paths["transactions"], customers=paths["customers"], write_html=False
    )
    return paths, workspace, run


def _assigned(workspace: Workspace, run_id: int) -> pd.DataFrame:
    with workspace.connect(read_only=True) as con:
        return load_assignments(con, run_id).set_index("customer_id").sort_index()


def test_the_same_fitted_model_assigns_every_customer_alike_in_spark(spark, files):
    # the model fitted on DuckDB's features, applied to Spark's features by the pandas UDF
    paths, workspace, _ = files
    with workspace.connect(read_only=True) as con:
        features, as_of, fingerprint, _, history = read_features(con, None)
    fitted = fit_segments(features, as_of, fingerprint, SegmentOptions(), history=history)
    engine = read_tables(spark, paths["transactions"], customers=paths["customers"])
    on_spark = engine.dataframe(
        feature_query(engine, as_of=as_of, n_top_categories=pipeline.N_TOP_CATEGORIES)
    )
    got = _assignments(on_spark, fitted).toPandas().set_index("customer_id").sort_index()
    want = fitted.assignments.set_index("customer_id").sort_index()
    assert got.index.equals(want.index) and len(got) == len(features)
    assert (got["segment_id"] == want["segment_id"]).all()
    assert (got["micro_segment_id"] == want["micro_segment_id"]).all()
    np.testing.assert_allclose(got["confidence"], want["confidence"], rtol=1e-9)
    np.testing.assert_allclose(got["map_x"], want["map_x"], rtol=1e-4, atol=1e-4)
    # RFM scores: quintile edges of the fitted customers (here all), not ranks: ties differ
    for score in ("r_score", "f_score", "m_score"):
        assert (got[score] == want[score]).mean() > 0.6, score


def test_spark_run_fitted_on_everyone_finds_the_duckdb_runs_segments(
    spark, files, tmp_path, spark_run_of_files
):
    paths, duck, duck_run = files
    workspace = Workspace(tmp_path / "ws")
    run = spark_run_of_files(workspace, paths, N)
    assert run.params["engine"] == "spark" and run.metrics["fit_sample"] == run.n_customers
    assert run.n_customers == duck_run.n_customers
    mine, theirs = _assigned(workspace, run.run_id), _assigned(duck, duck_run.run_id)
    assert mine.index.equals(theirs.index)
    assert adjusted_rand_score(theirs["segment_id"], mine["segment_id"]) >= 0.99
    assert adjusted_rand_score(theirs["micro_segment_id"], mine["micro_segment_id"]) >= 0.99
    assert list(run.segments["size"]) == list(duck_run.segments["size"])
    # the results as partitioned Parquet where the run says, and the record in the workspace
    out = run.params["output"]
    assert out == str(workspace.path / "results" / f"run-{run.run_id}")
    parquet = ds.dataset(f"{out}/assignments", format="parquet", partitioning="hive")
    assert parquet.count_rows() == run.n_customers
    assert sorted(parquet.to_table(columns=["segment_id"]).column(0).unique().to_pylist()) == (
        sorted(run.segments["segment_id"])
    )
    assert ds.dataset(f"{out}/features", format="parquet").count_rows() == run.n_customers
    listed = pipeline.list_runs(workspace)
    assert [r["run_id"] for r in listed] == [run.run_id]
    assert pipeline.write_report(workspace, run_id=run.run_id).exists()
    # its lines stayed in the files, which its record names for predict to read again
    assert run.params["source"]["transactions"] == str(paths["transactions"])


def test_a_sampled_fit_assigns_and_counts_every_customer(spark, files, tmp_path):
    paths, _, _ = files
    workspace = Workspace(tmp_path / "ws")
    output = tmp_path / "out"
    run = pipeline.segment_on_spark(
        workspace,
        str(paths["transactions"].parent / "transactions.parquet"),
        master="local[2]",
        output=str(output),
        fit_sample=600,
        write_html=False,
    )
    # a hash sample of about 600 of the 2000 customers, every one of them assigned and counted
    assert 450 <= run.metrics["fit_sample"] <= 750
    assert run.segments["size"].sum() == run.n_customers == len(_assigned(workspace, 1))
    assert run.segments["value_share"].sum() == pytest.approx(1.0)
    with workspace.connect(read_only=True) as con:
        (stored,) = con.execute("SELECT params FROM runs").fetchone()
        micro = con.execute("SELECT sum(size) FROM micro_segments").fetchone()[0]
    assert json.loads(stored)["output"] == str(output)
    assert micro == run.n_customers
    assert (output / "assignments" / "_SUCCESS").exists()
    # a Spark run is acted on as a DuckDB run is: its playbooks, its messages
    books = pipeline.init_playbooks(workspace)
    assert sorted(b.segment_id for b in books) == sorted(run.segments["segment_id"])
    shown = pipeline.render_playbook(workspace, str(books[0].segment_id), sample=3)
    assert len(shown) == 3 and all(a["message"] for a in shown)


def test_a_spark_run_segments_only_customers_permitted_for_analytics(spark, files, tmp_path):
    from segmint.consent.erase import erase_customer
    from segmint.consent.ledger import append_rows

    paths, duck, duck_run = files
    everyone = _assigned(duck, duck_run.run_id).index
    withdrew, erased = list(everyone[10:12]), everyone[12]
    workspace = Workspace(tmp_path / "ws")
    with workspace.transaction(create=True) as con:
        append_rows(
            con,
            workspace.path,
            [
                {"customer_id": c, "purpose": "analytics", "status": "withdrawn",
                 "ts": pd.Timestamp("2020-01-01"), "source": "crm", "evidence": None}
                for c in withdrew
            ],
        )  # fmt: skip
        erase_customer(con, workspace.path, erased)
    run = pipeline.segment_on_spark(
        workspace,
        str(paths["transactions"].parent / "transactions.parquet"),
        master="local[2]",
        write_html=False,
    )
    assigned = _assigned(workspace, run.run_id)
    assert run.n_customers == len(everyone) - 3 == len(assigned)
    assert not assigned.index.isin([*withdrew, erased]).any()


def test_a_bad_run_stores_nothing_and_leaves_no_results(spark, files, tmp_path):
    paths, _, _ = files
    workspace = Workspace(tmp_path / "ws")
    with pytest.raises(DataValidationError, match="after the data"):
        pipeline.segment_on_spark(
            workspace,
            paths["transactions"],
            master="local[2]",
            as_of=pd.Timestamp("2099-01-01").to_pydatetime(),
        )
    with pytest.raises(DataValidationError, match="lacks column"):
        pipeline.segment_on_spark(workspace, paths["customers"], master="local[2]")
    assert not (workspace.path / "results").exists() or not any(
        (workspace.path / "results").iterdir()
    )
    assert not workspace.exists or pipeline.list_runs(workspace) == []
