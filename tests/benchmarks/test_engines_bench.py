"""``bench_engines.py`` end to end on a small data set (DuckDB steps only: Spark's are covered
by ``tests/engine``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _bench(tmp_path: Path, *options: str) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_engines.py"),
            "--customers",
            "300",
            "--steps",
            "duckdb_groupby,duckdb_run",
            "--data-dir",
            str(tmp_path),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("JSON: "))
    return json.loads(line[len("JSON: ") :])


def test_without_predictions_the_run_is_timed_alone(tmp_path):
    result = _bench(tmp_path, "--no-predict")
    run = result["figures"]["duckdb_run"]
    assert run["customers"] == 300
    assert 0 < run["seconds"] < run["outer_seconds"]
    assert "predict_s" not in run
    assert result["spark predict / duckdb predict"] is None
    # each step's workspace is removed once it is measured
    assert not list(tmp_path.glob("ws-engines-*"))
