"""``segment`` writes nothing unless it stores its run: the product categories it derives for
data without categories are stored with the run, in the same transaction."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.errors import WorkspaceError
from segmint.store.workspace import Workspace


def _hashes(root) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture
def uncategorised(tmp_path) -> Workspace:
    path = write(generate(300, seed=3), tmp_path / "data", fmt="csv")["transactions"]
    lines = pd.read_csv(path).drop(columns=["category"])
    lines.to_csv(path, index=False)
    ws = Workspace(tmp_path / "ws")
    pipeline.ingest(ws, path)
    return ws


def _categories(ws: Workspace) -> int:
    with ws.connect(read_only=True) as con:
        return con.execute("SELECT count(*) FROM product_categories").fetchall()[0][0]


def test_a_failed_segment_stores_no_categories(uncategorised, monkeypatch):
    import segmint.pipeline._segment as segment_module

    def crash(*args, **kwargs):
        raise RuntimeError("a bug while fitting")

    monkeypatch.setattr(segment_module, "fit_segments", crash)
    before = _hashes(uncategorised.path)
    with pytest.raises(RuntimeError):
        pipeline.segment(uncategorised, write_html=False)
    assert _hashes(uncategorised.path) == before
    assert _categories(uncategorised) == 0


def test_the_categories_are_stored_with_the_run_and_reused(uncategorised):
    first = pipeline.segment(uncategorised, write_html=False)
    stored = _categories(uncategorised)
    assert stored > 0
    second = pipeline.segment(uncategorised, write_html=False)
    assert _categories(uncategorised) == stored
    assert first.params["features"] == second.params["features"]


def test_a_run_that_does_not_get_its_expected_id_stores_nothing(uncategorised):
    # a Spark run's results directory is named after the id it expects to get
    from segmint.pipeline._segment import fit_segments, read_features, store_segments

    with uncategorised.connect() as con:
        features, as_of, fingerprint, _, history = read_features(con, None)
    fitted = fit_segments(
        features, as_of, fingerprint, pipeline.SegmentOptions(n_segments=3), history=history
    )
    with pytest.raises(WorkspaceError, match=r"another run \(run 7\) was stored"):
        with uncategorised.transaction() as con:
            store_segments(con, fitted, expected_run_id=7)
    with uncategorised.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]
