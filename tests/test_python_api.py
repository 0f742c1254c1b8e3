"""The Python API: the batch pipeline and the estimators, with pandas, Polars and Arrow."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score

import segmint
from segmint.datasets import write
from segmint.pipeline import clustering_columns


@pytest.fixture(scope="module")
def demo_data():
    return segmint.generate(3000, seed=5)


def test_pipeline_from_python(tmp_path, demo_data):
    files = write(demo_data, tmp_path / "data")
    ws = segmint.Workspace(tmp_path / "ws")
    (tx, cu) = segmint.ingest(ws, files["transactions"], customers=files["customers"])
    assert tx.rows_loaded == demo_data.transactions.num_rows
    run = segmint.run(ws, as_of=demo_data.as_of, write_html=False)
    assert run.n_customers == 3000
    assert run.segments["size"].sum() == 3000
    assert (
        segmint.load_run(ws, run.run_id).segments["name"].tolist() == run.segments["name"].tolist()
    )
    with ws.connect(read_only=True) as con:
        features = segmint.build_features(con, as_of=demo_data.as_of)
    assert features.num_rows == 3000


def test_segmenter_accepts_pandas_polars_arrow_alike(tmp_path, demo_data):
    files = write(demo_data, tmp_path / "data")
    ws = segmint.Workspace(tmp_path / "ws")
    segmint.ingest(ws, files["transactions"])
    with ws.connect(read_only=True) as con:
        table = segmint.build_features(con, as_of=demo_data.as_of, n_top_categories=8)
    columns = clustering_columns(table.column_names)
    frame = table.to_pandas().set_index("customer_id")[columns]
    fitted = {
        "pandas": segmint.Segmenter(n_segments=6, random_state=0).fit(frame),
        "polars": segmint.Segmenter(n_segments=6, random_state=0).fit(pl.from_pandas(frame)),
        "arrow": segmint.Segmenter(n_segments=6, random_state=0).fit(table.select(columns)),
    }
    reference = fitted["pandas"].labels_
    for model in fitted.values():
        np.testing.assert_array_equal(model.labels_, reference)
        assert list(model.feature_names_in_) == columns
    planted = demo_data.labels.to_pandas().set_index("customer_id").loc[frame.index, "segment"]
    assert adjusted_rand_score(planted, reference) >= 0.9
    np.testing.assert_array_equal(fitted["pandas"].predict(frame), reference)


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        segmint.no_such_thing  # noqa: B018
