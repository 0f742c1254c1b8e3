"""The benchmarks' growth ratios: each step's time at a size over its time at the smallest size,
measured in the same run, with the drift between repeated runs of the smallest size shown."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def measure():
    spec = importlib.util.spec_from_file_location("_measure", BENCHMARKS / "_measure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_ratio_uses_the_median_of_repeated_runs_and_shows_their_spread(measure):
    runs = [
        (1000, {"ingest": {"seconds": 10.0}, "features": {"seconds": 2.0}}),
        (10_000, {"ingest": {"seconds": 105.0}, "features": {"seconds": 30.0}}),
        (1000, {"ingest": {"seconds": 12.0}}),  # features failed in this run
        (5000, {"ingest": {"seconds": 50.0}}),
    ]
    table = measure.growth(runs)
    assert table["ingest"]["10000"]["ratio"] == pytest.approx(105 / 11, abs=0.01)
    assert table["ingest"]["10000"]["low"] == pytest.approx(105 / 12, abs=0.01)
    assert table["ingest"]["10000"]["high"] == pytest.approx(105 / 10, abs=0.01)
    assert table["ingest"]["10000"]["baseline_seconds"] == [10.0, 12.0]
    assert list(table["ingest"]) == ["5000", "10000"]
    assert table["features"] == {
        "10000": {
            "ratio": 15.0,
            "low": 15.0,
            "high": 15.0,
            "seconds": 30.0,
            "baseline_seconds": [2.0],
        }
    }


def test_a_step_not_measured_at_the_smallest_size_has_no_ratio(measure):
    runs = [(1000, {"ingest": {"seconds": 1.0}}), (2000, {"features": {"seconds": 3.0}})]
    assert measure.growth(runs) == {}


@pytest.mark.parametrize("text", ["", "1000,x", "0", "1000,-5"])
def test_bad_sizes_are_refused_with_the_expected_form(measure, text):
    ap = measure.parser("bench", ("ingest",))
    with pytest.raises(SystemExit):
        ap.parse_args(["--customers", text])


def test_the_pipeline_bench_measures_several_sizes_in_one_run(run_bench, tmp_path):
    out = run_bench(
        "bench_pipeline.py",
        "--customers",
        "150,300,150",
        "--steps",
        "ingest,groupby",
        "--data-dir",
        str(tmp_path),
    )
    assert out.count("JSON: ") == 3
    line = next(x for x in out.splitlines() if x.startswith("JSON growth: "))
    table = json.loads(line[len("JSON growth: ") :])
    assert set(table) == {"ingest", "groupby"}
    for step in table.values():
        assert list(step) == ["300"]
        assert len(step["300"]["baseline_seconds"]) == 2
        assert step["300"]["low"] <= step["300"]["ratio"] <= step["300"]["high"]
