"""A command is atomic: a failed ``segmint run`` leaves the workspace's files byte-identical.

Each failure is tried on a workspace that already holds a run, and the hash of every file
under the workspace is compared before and after; the options are also refused before any
file is read (a missing file is not even looked at).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint.cli import app
from segmint.datasets import generate, write

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``root`` (folders too, as empty marks)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    first = write(generate(300, seed=3), folder / "first", fmt="csv")
    second = write(generate(200, seed=4), folder / "second", fmt="csv")
    return {"first": first["transactions"], "second": second["transactions"]}


@pytest.fixture
def workspace(files, tmp_path) -> Path:
    ws = tmp_path / "ws"
    result = invoke("run", "-t", str(files["first"]), "-w", str(ws), "-q")
    assert result.exit_code == 0, result.stderr
    return ws


def _fails(ws: Path, *args: str, message: str) -> None:
    before = snapshot(ws)
    result = invoke("run", *args, "-w", str(ws), "-q")
    assert result.exit_code != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert snapshot(ws) == before


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--method", "kmeens"), "--method 'kmeens': expected one of auto, kmeans, minibatch, gmm"),
        (("--as-of", "31/12/2011"), "--as-of '31/12/2011': expected a date like 2024-06-30"),
        (("--preset", "nope"), "unknown preset 'nope'"),
        (("--map", "Invoice=nonsense"), "COLUMN=FIELD"),
    ],
)
def test_bad_options_are_refused_before_any_file_is_read(workspace, tmp_path, option, message):
    # the file does not exist: had it been read, the error would say so
    _fails(workspace, "-t", str(tmp_path / "missing.csv"), *option, message=message)
    # a new workspace is not even created
    result = invoke("run", "-t", str(tmp_path / "missing.csv"), *option, "-w", str(tmp_path / "n"))
    assert result.exit_code != 0 and not (tmp_path / "n").exists()


@pytest.mark.parametrize("as_of", ["2099-01-01", "2000-01-01"])
def test_as_of_outside_the_data_gives_the_data_range(workspace, files, as_of):
    first = generate(300, seed=3).transactions.to_pandas()["ts"].min()
    side = "after" if as_of > "2050" else "before"
    _fails(
        workspace,
        "-t",
        str(files["second"]),
        "--as-of",
        as_of,
        message=f"as of {as_of} is {side} the data, which runs from {first:%Y-%m-%d} to ",
    )


def test_a_failure_after_ingest_stores_nothing_and_a_corrected_rerun_stores_the_rows(
    workspace, files
):
    # the second file loads, then too few customers have bought before --as-of to segment
    first = generate(300, seed=3).transactions.to_pandas()["ts"].min()
    as_of = f"{first + pd.Timedelta(days=1):%Y-%m-%d}"
    _fails(
        workspace,
        "-t",
        str(files["second"]),
        "--as-of",
        as_of,
        message="segmentation needs at least 10",
    )
    result = invoke("run", "-t", str(files["second"]), "-w", str(workspace), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["run_id"] == 2  # the failed attempt stored no run...
    result = invoke("run", "-t", str(files["second"]), "-w", str(workspace), "-q")
    assert "already in the workspace" in result.stderr  # ...and its rows count once, now


@pytest.mark.parametrize("error", [RuntimeError("a bug"), KeyboardInterrupt()])
def test_a_crash_after_ingest_stores_nothing(workspace, files, monkeypatch, error):
    import segmint.pipeline._segment as segment_module

    def crash(*args, **kwargs):
        raise error  # a bug, or the user pressing Ctrl-C, while the model is fitted

    monkeypatch.setattr(segment_module, "fit_segments", crash)
    before = snapshot(workspace)
    result = runner.invoke(app, ["run", "-t", str(files["second"]), "-w", str(workspace), "-q"])
    assert result.exit_code != 0
    assert snapshot(workspace) == before


def test_a_failed_first_run_leaves_no_workspace(files, tmp_path):
    ws = tmp_path / "fresh"
    result = invoke("run", "-t", str(files["first"]), "--as-of", "2000-01-01", "-w", str(ws))
    assert result.exit_code != 0 and "is before the data" in result.stderr
    assert not ws.exists()


def test_a_failed_first_demo_leaves_no_workspace(tmp_path, monkeypatch):
    import segmint.pipeline._demo as demo_module

    def crash(*args, **kwargs):
        raise RuntimeError("a bug after the data files were written")

    monkeypatch.setattr(demo_module, "ingest_and_segment", crash)
    ws = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "-n", "60", "-w", str(ws), "-q"])
    assert isinstance(result.exception, RuntimeError)
    assert not ws.exists()


def test_a_failed_predict_stores_nothing(workspace):
    before = snapshot(workspace)
    result = invoke("predict", "-w", str(workspace), "--horizon-days", "3000", "-q")
    assert result.exit_code != 0 and "too short to train and test a 3000-day model" in result.stderr
    assert snapshot(workspace) == before
