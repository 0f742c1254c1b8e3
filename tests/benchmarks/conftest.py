"""Running a benchmark script as users run it, in its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def run_bench():
    """``run_bench(script, *options)``: the script's standard output (it must exit 0)."""

    def run(script: str, *options: str) -> str:
        command = [sys.executable, str(BENCHMARKS / script), *options]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=600, check=True
        ).stdout

    return run
