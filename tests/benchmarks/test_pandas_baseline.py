"""The pandas baseline of ``benchmarks/bench_pipeline.py`` computes the same features as segmint.

The benchmark's "pandas / features" ratio only means something if both sides do the same work
and get the same numbers; this keeps them equal as either side changes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import segmint
from segmint import pipeline
from segmint.datasets import write

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_pipeline.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_pipeline", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pandas_baseline_equals_the_feature_step(tmp_path, bench):
    data = segmint.generate(1500, seed=11)
    files = write(data, tmp_path / "data")
    ws = segmint.Workspace(tmp_path / "ws")
    segmint.ingest(ws, files["transactions"], customers=files["customers"])
    with ws.connect(read_only=True) as con:
        ours, _ = pipeline.compute_features(con)
        lines = con.execute(
            """SELECT customer_id, order_id, ts, product_id, category, quantity, amount, is_return
               FROM transactions"""
        ).df()
        customers = con.execute("SELECT customer_id, attributes FROM customers").df()
    theirs = bench.pandas_features(
        lines, customers, n_top=pipeline.N_TOP_CATEGORIES, window_days=90, np=np, pd=pd
    )

    assert sorted(theirs.columns) == sorted(ours.columns)
    assert theirs.index.tolist() == ours.index.tolist()
    for column in ours.columns:
        np.testing.assert_allclose(
            theirs[column].to_numpy(float),
            ours[column].to_numpy(float),
            rtol=1e-9,
            atol=1e-9,
            err_msg=column,
        )
