"""Real distributed runs: a standalone Spark master and worker as their own processes on
127.0.0.1, and a Spark Connect server; ``segmint run --engine spark --spark-master URL``
against each, then stop them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.store.workspace import Workspace

pyspark = pytest.importorskip("pyspark")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _start(script: str, args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(Path(pyspark.__file__).parent / "bin" / script), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, stopped as one
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _env() -> dict:
    return {
        **os.environ,
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }


def _run(paths: dict, ws: Path, master: str, env: dict) -> dict:
    """``segmint run --engine spark`` in its own process, against ``master``."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "segmint", "run", "--json", "--quiet"),
            *("--transactions", str(paths["transactions"])),
            *("--customers", str(paths["customers"])),
            *("--engine", "spark", "--workspace", str(ws), "--fit-sample", "800"),
        ],
        env={**env, "SEGMINT_SPARK_MASTER": master},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_the_pipeline_runs_on_a_standalone_master_and_worker(spark, tmp_path):
    # `spark` only for its Java check: this test's run is in its own process and JVM
    paths = write(generate(1500, seed=3), tmp_path / "data")
    port = _free_port()
    env = _env()
    work = tmp_path / "worker"
    logs = {name: tmp_path / f"{name}.log" for name in ("master", "worker")}
    master = _start(
        "spark-class",
        [
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port())),
        ],
        logs["master"],
        env,
    )
    worker = None
    try:
        url = f"spark://127.0.0.1:{port}"
        worker = _start(
            "spark-class",
            [
                "org.apache.spark.deploy.worker.Worker",
                url,
                *("--cores", "2", "--memory", "2g", "--work-dir", str(work)),
                *("--webui-port", str(_free_port())),
            ],
            logs["worker"],
            env,
        )
        _wait_for(
            lambda: "Registering worker" in logs["master"].read_text(errors="replace"),
            "the worker to register with the master",
        )
        ws = tmp_path / "ws"
        run = _run(paths, ws, url, env)
        # the executors ran in the worker's process tree, under its work directory
        assert any(work.glob("app-*/*/stderr")), "no executor ran on the worker"
    finally:
        for process in (worker, master):
            if process is not None:
                _stop(process)
    [stored] = pipeline.list_runs(Workspace(ws))
    assert stored["run_id"] == run["run_id"]
    assert run["params"]["spark_master"] == url
    assert sum(s["size"] for s in run["segments"]) == run["n_customers"] > 1000


@pytest.mark.slow
def test_the_pipeline_runs_through_spark_connect(spark, tmp_path):
    paths = write(generate(1000, seed=4), tmp_path / "data")
    port, env, log = _free_port(), _env(), tmp_path / "connect.log"
    server = _start(
        "spark-submit",
        [
            *("--class", "org.apache.spark.sql.connect.service.SparkConnectServer"),
            *("--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}"),
            *("--conf", "spark.ui.enabled=false", "spark-internal"),
        ],
        log,
        env,
    )
    try:
        _wait_for(
            lambda: "Spark Connect server started" in log.read_text(errors="replace"),
            "the Spark Connect server to start",
        )
        run = _run(paths, tmp_path / "ws", f"sc://127.0.0.1:{port}", env)
    finally:
        _stop(server)
    assert run["params"]["spark_master"] == f"sc://127.0.0.1:{port}"
    assert sum(s["size"] for s in run["segments"]) == run["n_customers"] > 500
    [stored] = pipeline.list_runs(Workspace(tmp_path / "ws"))
    assert stored["run_id"] == run["run_id"]
