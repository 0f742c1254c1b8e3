"""One local Spark session for every engine test (starting one takes 10-30 s here)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from segmint import pipeline
from segmint.engine import spark_session


def _has_java() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and Path(home, "bin", "java").exists()))


@pytest.fixture(scope="session")
def spark():
    if not _has_java():
        pytest.skip(
            "no Java runtime (java on PATH or JAVA_HOME): .ci/run installs Debian's "
            "openjdk-17-jre-headless before the tests; run that step to test Spark"
        )
    session = spark_session(
        "local[2]",
        driver_memory="1g",
        shuffle_partitions=4,
        # the client compiler only: these tests' small queries finish before the optimising
        # compiler pays off (the Spark tests take half the time)
        config={"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"},
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_run_of_files():
    """A function making a Spark run (local[2], no report) of a generated data set's files,
    its segments fitted on a sample of at most ``fit_sample`` customers."""

    def run(workspace, paths, fit_sample):
        return pipeline.segment_on_spark(
            workspace,
            paths["transactions"],
            customers=paths["customers"],
            master="local[2]",
            fit_sample=fit_sample,
            write_html=False,
        )

    return run
