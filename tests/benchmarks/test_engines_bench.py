"""``bench_engines.py`` end to end on a small data set (DuckDB steps only: Spark's are covered
by ``tests/engine``)."""

from __future__ import annotations

import json
from pathlib import Path


def _bench(run_bench, tmp_path: Path, *options: str) -> dict:
    out = run_bench(
        "bench_engines.py",
        "--customers",
        "300",
        "--steps",
        "duckdb_groupby,duckdb_run",
        "--data-dir",
        str(tmp_path),
        *options,
    )
    line = next(x for x in out.splitlines() if x.startswith("JSON: "))
    return json.loads(line[len("JSON: ") :])


def test_without_predictions_the_run_is_timed_alone(run_bench, tmp_path):
    result = _bench(run_bench, tmp_path, "--no-predict")
    run = result["figures"]["duckdb_run"]
    assert run["customers"] == 300
    assert 0 < run["seconds"] < run["outer_seconds"]
    assert "predict_s" not in run
    assert result["spark predict / duckdb predict"] is None
    # each step's workspace is removed once it is measured
    assert not list(tmp_path.glob("ws-engines-*"))
