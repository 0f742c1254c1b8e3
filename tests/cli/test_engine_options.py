"""``run --engine``: the options are checked before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from segmint.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "polars"], "--engine must be duckdb or spark"),
        (["--engine", "spark"], "give --transactions"),
        (["--output", "out/"], "--output applies to --engine spark"),
        (["--engine", "spark", "-t", "x.parquet", "--value", "a"], "--value applies"),
    ],
)
def test_engine_options_are_checked_first(args, message, tmp_path):
    result = runner.invoke(app, ["run", *args, "--workspace", str(tmp_path / "ws")])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "ws").exists()


def test_the_engine_comes_from_the_environment(tmp_path):
    result = runner.invoke(
        app, ["run", "--workspace", str(tmp_path / "ws")], env={"SEGMINT_ENGINE": "polars"}
    )
    assert result.exit_code != 0
    assert "--engine must be duckdb or spark" in " ".join(result.output.split())
